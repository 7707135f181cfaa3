"""Admin for webhook deliveries: state, every attempt, and "redeliver"; retired secrets."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webhooks.models import Delivery, DeliveryAttempt, RetiredSecret
from webhooks.services import delivery_redeliver


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = (
        "number",
        "started_at",
        "duration_ms",
        "status",
        "outcome",
        "error",
        "response_excerpt",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "webhook_id",
        "event_type",
        "account",
        "subject_id",
        "state",
        "attempts",
        "last_status",
        "created_at",
        "finished_at",
    )
    list_filter = ("state", "event_type")
    search_fields = ("subject_id", "url", "account__slug")
    date_hierarchy = "created_at"
    actions = ["redeliver"]
    inlines = [DeliveryAttemptInline]
    fields = (
        "webhook_id",
        "event_type",
        "account",
        "subject_id",
        "url",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status",
        "last_error",
        "created_at",
        "finished_at",
        "body",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # deliveries come from finished jobs

    @admin.display(description="webhook-id")
    def webhook_id(self, delivery: Delivery) -> str:
        return delivery.webhook_id

    @admin.action(description="Redeliver (same webhook-id, retry schedule from the start)")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        sent = sum(delivery_redeliver(delivery=delivery) for delivery in queryset)
        busy = queryset.count() - sent
        self.message_user(request, f"Queued {sent} deliveries.", level=messages.SUCCESS)
        if busy:
            self.message_user(
                request, f"{busy} were being sent already; left alone.", level=messages.WARNING
            )


@admin.register(RetiredSecret)
class RetiredSecretAdmin(admin.ModelAdmin):
    """Secrets a rotation replaced, signing beside the new one until they expire
    (`manage.py kiln_webhook_secret rotate`); the current one is on the account."""

    list_display = ("account", "retired_at", "expires_at")
    list_filter = ("account",)
    fields = ("account", "retired_at", "expires_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

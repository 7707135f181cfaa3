"""Admin for plans, accounts, projects and keys. A new key is shown once, then never."""

from django.contrib import admin, messages
from django.utils import timezone

from accounts.models import Account, ApiKey, MonthlyUsage, Plan, Project
from accounts.services import LOOKUP_PREFIX_LENGTH, key_digest, new_raw_key


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "slug",
        "name",
        "monthly_images",
        "requests_per_minute",
        "max_dimension",
        "ai_allowed",
        "ai_pro_allowed",
    )


class ProjectInline(admin.TabularInline):
    model = Project
    extra = 0


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "plan", "created_at")
    list_filter = ("plan",)
    search_fields = ("slug", "name")
    inlines = [ProjectInline]
    # Shown, not edited: `manage.py kiln_webhook_secret rotate` keeps the old one signing
    # for a grace period, which an edit here would skip.
    readonly_fields = ("webhook_secret",)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("slug", "account", "name", "created_at")
    list_filter = ("account",)


@admin.register(MonthlyUsage)
class MonthlyUsageAdmin(admin.ModelAdmin):
    list_display = ("account", "month", "images")
    list_filter = ("month",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "account",
        "project",
        "kind",
        "name",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("kind", "account")
    search_fields = ("prefix", "name", "account__slug")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    fields = ("account", "project", "kind", "name", "expires_at", *readonly_fields)
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # A key's identity is fixed once issued: only its name and expiry may change.
        if obj is not None:
            return (*self.readonly_fields, "account", "project", "kind")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            raw_key = new_raw_key(obj.kind)
            obj.prefix = raw_key[:LOOKUP_PREFIX_LENGTH]
            obj.digest = key_digest(raw_key)
            super().save_model(request, obj, form, change)
            self.message_user(
                request,
                f"New key (shown once, copy it now): {raw_key}",
                level=messages.WARNING,
            )
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).")

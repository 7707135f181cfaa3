"""Admin for AI jobs: state, timings, error, a thumbnail, and "retry" for failed jobs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from ai_jobs.models import AiJob
from ai_jobs.services import ai_job_retry


@admin.register(AiJob)
class AiJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "thumbnail",
        "state",
        "account",
        "model",
        "size",
        "created_at",
        "duration",
        "error_code",
    )
    list_filter = ("state", "model", "provider")
    search_fields = ("id", "prediction_id", "account__slug")
    date_hierarchy = "created_at"
    actions = ["retry"]
    fields = (
        "id",
        "preview",
        "state",
        "account",
        "prompt",
        "model",
        "width",
        "height",
        "seed",
        "provider",
        "prediction_id",
        "error_code",
        "error_message",
        "output_path",
        "size_bytes",
        "webhook_url",
        "created_at",
        "enqueued_at",
        "submitted_at",
        "started_at",
        "finished_at",
        "last_event_at",
        "submit_attempts",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs come from POST /ai

    def has_change_permission(self, request: HttpRequest, obj: AiJob | None = None) -> bool:
        return False  # the state machine owns every field; "retry" is the one lever

    @admin.display(description="size")
    def size(self, obj: AiJob) -> str:
        return f"{obj.width}×{obj.height}"

    @admin.display(description="took")
    def duration(self, obj: AiJob) -> str:
        if obj.finished_at is None:
            return "—"
        return f"{(obj.finished_at - obj.enqueued_at).total_seconds():.1f} s"

    @admin.display(description="image")
    def thumbnail(self, obj: AiJob) -> str:
        # The public image route: placeholder, final image or glyph, whatever the state.
        return format_html(
            '<img src="{}" alt="" style="max-width:80px;max-height:80px">', obj.image_path
        )

    @admin.display(description="image")
    def preview(self, obj: AiJob) -> str:
        return format_html(
            '<img src="{}" alt="" style="max-width:512px;max-height:512px">', obj.image_path
        )

    @admin.action(description="Retry the selected failed jobs")
    def retry(self, request: HttpRequest, queryset: QuerySet[AiJob]) -> None:
        retried = sum(ai_job_retry(job=job) for job in queryset)
        skipped = queryset.count() - retried
        self.message_user(request, f"{retried} job(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} job(s) skipped: only failed jobs can be retried.",
                messages.WARNING,
            )

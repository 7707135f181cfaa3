from django.contrib import admin

from renders.models import RenderJob


@admin.register(RenderJob)
class RenderJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "account",
        "kind",
        "status",
        "format",
        "width",
        "height",
        "cached",
        "generation_ms",
        "attempts",
        "error_code",
        "created_at",
    )
    list_filter = ("status", "kind", "format", "cached", "error_code")
    search_fields = ("id", "cache_key", "account__slug")
    readonly_fields = [f.name for f in RenderJob._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

from django.apps import AppConfig


class AiJobsConfig(AppConfig):
    """Async AI images (SPEC §8): models and providers arrive with the AI issue."""

    name = "ai_jobs"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class AiJobsConfig(AppConfig):
    """Async AI images (SPEC §8): AiJob, providers (Replicate), /ai routes, <ai-img>."""

    name = "ai_jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ai_jobs import tasks  # noqa: F401  (registered for task_send, see renders/apps.py)

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outgoing webhooks (SPEC §9): deliveries written with the job's outcome (outbox),
    sent signed on the `webhooks` queue, retried, every attempt recorded."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webhooks import tasks  # noqa: F401  (registered for task_send, see renders/apps.py)

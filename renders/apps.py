from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_builtins(sender, **kwargs) -> None:
    from renders.builtins import builtin_templates_sync

    builtin_templates_sync()


class RendersConfig(AppConfig):
    name = "renders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Built-in templates follow their files: reloaded after every migrate (and flush).
        post_migrate.connect(_load_builtins, sender=self)
        # Register the tasks in every process: services queue them by name (config.celery
        # task_send), since tasks import services and the reverse would be a circle.
        from renders import tasks  # noqa: F401

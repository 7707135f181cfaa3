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

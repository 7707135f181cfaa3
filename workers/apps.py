from django.apps import AppConfig
from django.conf import settings


class WorkersConfig(AppConfig):
    name = "workers"

    def ready(self) -> None:
        if settings.KILN_KEEP_RENDER_BUFFERS:
            from workers.memory import keep_render_buffers

            keep_render_buffers()

"""The Celery app: one queue per worker pool, routed by the task's module.

Each pool runs `celery -A config worker -Q <queue>` (see Procfile), so a slow browser job
never waits behind template renders and the other way round.
"""

import os

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

QUEUES = ("svg", "browser", "ai", "webhooks")

app = Celery("kiln")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.conf.task_default_queue = "svg"
app.conf.task_routes = {
    "workers.tasks.svg.*": {"queue": "svg"},
    "workers.tasks.browser.*": {"queue": "browser"},
    "workers.tasks.ai.*": {"queue": "ai"},
    "workers.tasks.webhooks.*": {"queue": "webhooks"},
    # Periodic upkeep is light and rare: it shares the webhooks pool.
    "workers.tasks.maintenance.*": {"queue": "webhooks"},
}
app.conf.imports = (
    "workers.tasks.svg",
    "workers.tasks.browser",
    "workers.tasks.ai",
    "workers.tasks.maintenance",
)
app.conf.beat_schedule = {
    "requeue-stale-jobs": {
        "task": "workers.tasks.maintenance.requeue_stale_jobs",
        "schedule": 60.0,
    },
    "expire-render-cache": {
        "task": "workers.tasks.maintenance.expire_render_cache",
        "schedule": crontab(minute=17),
    },
    # AI jobs whose webhook never came are polled; jobs past their maximum age fail.
    # Read from the environment directly (same variable and default as
    # settings.KILN_AI_POLL_INTERVAL): this module is imported while settings load.
    "poll-ai-jobs": {
        "task": "workers.tasks.ai.poll_ai_jobs",
        "schedule": float(os.environ.get("KILN_AI_POLL_INTERVAL") or 30),
    },
}

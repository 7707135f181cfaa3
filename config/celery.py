"""The Celery app: one queue per worker pool; each task names its queue.

Each pool runs `celery -A config worker -Q <queue>` (see Procfile), so a slow browser job
never waits behind template renders and the other way round. Tasks live beside their
app (`renders/tasks.py`, `ai_jobs/tasks.py`); services queue them by name through
`task_send`, so no service imports a task module.
"""

import os
from typing import Any

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

QUEUES = ("svg", "browser", "ai", "webhooks")

app = Celery("kiln")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Read by Celery's Django fixup under its old name: keep the worker's DB connection.
app.conf["CELERY_DB_REUSE_MAX"] = app.conf.get("db_reuse_max")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.conf.task_default_queue = "svg"


def route_by_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any):
    """Each task states its queue where it is defined: `@shared_task(pool_queue="svg")`
    (Celery 5.7 deprecates the `queue` task attribute in favour of routes)."""
    queue = getattr(task, "pool_queue", None)
    return {"queue": queue} if queue else None


app.conf.task_routes = (route_by_task,)
app.conf.imports = ("renders.tasks", "ai_jobs.tasks", "webhooks.tasks")
app.conf.beat_schedule = {
    "requeue-stale-jobs": {"task": "renders.tasks.requeue_stale_jobs", "schedule": 60.0},
    "expire-render-cache": {
        "task": "renders.tasks.expire_render_cache",
        "schedule": crontab(minute=17),
    },
    "flush-render-stats": {"task": "renders.tasks.flush_render_stats", "schedule": 30.0},
    # AI jobs whose webhook never came are polled; jobs past their maximum age fail.
    # Read from the environment directly (same variable and default as
    # settings.KILN_AI_POLL_INTERVAL): this module is imported while settings load.
    "poll-ai-jobs": {
        "task": "ai_jobs.tasks.poll_ai_jobs",
        "schedule": float(os.environ.get("KILN_AI_POLL_INTERVAL") or 30),
    },
    # Webhook deliveries whose message was lost or whose worker died are queued again
    # (settings.KILN_WEBHOOK_SWEEP_INTERVAL, read here for the same reason).
    "sweep-webhook-deliveries": {
        "task": "webhooks.tasks.sweep_deliveries",
        "schedule": float(os.environ.get("KILN_WEBHOOK_SWEEP_INTERVAL") or 10),
    },
}


def task_send(name: str, *args: Any, countdown: float | None = None) -> None:
    """Queue the registered task `name` (on the queue it names), `countdown` seconds on."""
    if countdown is None:
        app.tasks[name].delay(*args)
    else:
        app.tasks[name].apply_async(args, countdown=countdown)

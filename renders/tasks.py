"""Celery tasks of renders: thin. Each takes an id, loads, calls the service, records.

One task per queue (`pool_queue=` on the task, see config/celery.py): `render_job_svg` on the
svg pool, `render_job_browser` on the browser pool; the kind's spec says which
(`RenderSpec.queue`). Periodic upkeep runs on the light `webhooks` pool.
"""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings
from django.db import close_old_connections

from renders.services.execution import RetryRender, TaskData, render_job_run

MAX_RETRIES = settings.KILN_RENDER_MAX_ATTEMPTS - 1


def _run(task: Task, job_id: str) -> str:
    # The worker keeps its database connection between tasks (CELERY_DB_REUSE_MAX):
    # drop it first if it went bad or grew old, as Django does between requests.
    close_old_connections()
    delivery = task.request.delivery_info or {}
    data = TaskData(
        job_id=job_id,
        redelivered=bool(delivery.get("redelivered")),
        retries=task.request.retries,
        max_retries=task.max_retries,
    )
    try:
        return render_job_run(task=data)
    except RetryRender as retry:
        raise task.retry(exc=retry.cause, countdown=retry.countdown) from retry.cause


@shared_task(bind=True, pool_queue="svg", max_retries=MAX_RETRIES)
def render_job_svg(self: Task, job_id: str) -> str:
    return _run(self, job_id)


@shared_task(bind=True, pool_queue="browser", max_retries=MAX_RETRIES)
def render_job_browser(self: Task, job_id: str) -> str:
    return _run(self, job_id)


@shared_task(pool_queue="webhooks")
def requeue_stale_jobs() -> int:
    from renders.services.upkeep import stale_jobs_requeue

    return stale_jobs_requeue()


@shared_task(pool_queue="webhooks")
def expire_render_cache() -> int:
    from renders.services.upkeep import expired_renders_delete

    return expired_renders_delete()


@shared_task(pool_queue="webhooks")
def flush_render_stats() -> int:
    """Cache-hit counts and keys' last use, from Redis to their rows."""
    from accounts.services import api_keys_last_used_flush
    from renders.stats import render_stats_flush

    return render_stats_flush() + api_keys_last_used_flush()

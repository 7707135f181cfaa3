"""Periodic upkeep (beat): the stale-job reaper and the render cache TTL."""

from celery import shared_task

from renders.services import expired_renders_delete, stale_jobs_requeue


@shared_task
def requeue_stale_jobs() -> int:
    return stale_jobs_requeue()


@shared_task
def expire_render_cache() -> int:
    return expired_renders_delete()

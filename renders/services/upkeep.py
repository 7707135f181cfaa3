"""Periodic upkeep (beat): the stale-job reaper and the render cache TTL."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from renders.cache import cache_entry_name
from renders.models import RenderJob
from renders.services.jobs import render_job_enqueue

Status = RenderJob.Status


def stale_jobs_requeue() -> int:
    """Re-enqueue leaders whose message was lost or whose worker died (the reaper).

    A duplicate message is harmless: claiming is conditional.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.KILN_JOB_STALE_AFTER)
    stale = RenderJob.objects.filter(
        Q(status=Status.QUEUED, created_at__lt=cutoff)
        | Q(status=Status.RUNNING, started_at__lt=cutoff),
        follows__isnull=True,
    ).only("id", "kind")
    count = 0
    for job in stale[:500]:
        render_job_enqueue(job_id=str(job.id), kind=job.kind)
        count += 1
    return count


def expired_renders_delete() -> int:
    """Enforce the cache TTL: drop finished rows older than it, and the files no row uses."""
    cutoff = timezone.now() - timedelta(days=settings.KILN_CACHE_TTL_DAYS)
    old = RenderJob.objects.filter(
        status__in=(Status.SUCCEEDED, Status.FAILED), created_at__lt=cutoff
    )
    keys = set(old.values_list("cache_key", flat=True)[:5000])
    paths = set(
        old.filter(cache_key__in=keys)
        .exclude(storage_path="")
        .values_list("storage_path", flat=True)
    )
    old.filter(cache_key__in=keys).delete()
    still_used = set(
        RenderJob.objects.filter(storage_path__in=paths).values_list("storage_path", flat=True)
    )
    for path in paths - still_used:
        default_storage.delete(path)
    for key in keys:
        if not RenderJob.objects.filter(cache_key=key, status=Status.SUCCEEDED).exists():
            cache.delete(cache_entry_name(key))
    return len(paths - still_used)

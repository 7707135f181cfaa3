"""Reads for render jobs: the cache lookup, one account's jobs, waiting for a job."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from accounts.models import Account
from config.errors import KilnError
from config.redis_client import get_redis
from renders.cache import cache_entry_name
from renders.models import RenderJob


def done_channel(cache_key: str) -> str:
    return f"kiln:render-done:{cache_key}"


def cached_render_lookup(*, cache_key: str) -> dict[str, Any] | None:
    """Stored bytes for this key: Redis first, then the newest succeeded row."""
    entry = cache.get(cache_entry_name(cache_key))
    if entry is not None:
        return entry
    job = (
        RenderJob.objects.filter(cache_key=cache_key, status=RenderJob.Status.SUCCEEDED)
        .exclude(storage_path="")
        .order_by("-finished_at")
        .first()
    )
    if job is None:
        return None
    entry = {
        "storage_path": job.storage_path,
        "width": job.width,
        "height": job.height,
        "size_bytes": job.size_bytes,
    }
    cache.set(cache_entry_name(cache_key), entry, timeout=settings.KILN_CACHE_TTL_DAYS * 86400)
    return entry


def render_job_get(*, account: Account, job_id: str) -> RenderJob:
    """One of the account's jobs; another account's job is indistinguishable from none."""
    job = RenderJob.objects.filter(account=account, id=job_id).first()
    if job is None:
        raise KilnError("NOT_FOUND", f"no job '{job_id}'")
    return job


def render_job_wait(*, job: RenderJob, timeout: float) -> RenderJob:
    """Block until `job` finishes or `timeout` passes; returns the job as it then is.

    In the farm a Redis message wakes us the moment the render lands; the database stays
    the truth, so a missed message costs at most one poll interval.
    """
    if job.is_finished:  # a cache hit is born finished
        return job
    deadline = time.monotonic() + timeout
    client = get_redis()
    pubsub = None
    if client is not None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(done_channel(job.cache_key))
    try:
        interval = 0.05
        while True:
            job.refresh_from_db()
            remaining = deadline - time.monotonic()
            if job.is_finished or remaining <= 0:
                return job
            wait = min(remaining, 0.5 if pubsub else interval)
            if pubsub is not None:
                pubsub.get_message(timeout=wait)
            else:
                time.sleep(wait)
                interval = min(interval * 2, 0.5)
    finally:
        if pubsub is not None:
            pubsub.close()


def template_get(*, api_key, project, slug: str):
    """The template a request names: the project's own first, then the built-in."""
    from renders.models import Template

    template = None
    if project is not None:
        template = Template.objects.filter(project=project, slug=slug).first()
    if template is None:
        template = Template.objects.filter(project__isnull=True, slug=slug).first()
    if template is None:
        raise KilnError("NOT_FOUND", f"no template '{slug}'; GET /v1/templates lists them")
    return template


def templates_visible(*, api_key):
    """Built-ins plus the templates of the projects this key may use."""
    from django.db.models import Q

    from renders.models import Template

    projects = Q(project__account_id=api_key.account_id)
    if api_key.project_id is not None:
        projects = Q(project_id=api_key.project_id)
    return Template.objects.filter(Q(project__isnull=True) | projects).select_related("project")


def batch_get(*, account: Account, batch_id):
    from renders.models import Batch

    batch = Batch.objects.filter(account=account, id=batch_id).first()
    if batch is None:
        raise KilnError("NOT_FOUND", f"no batch '{batch_id}'")
    return batch

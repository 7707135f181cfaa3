"""Render jobs: create (cache hit, single-flight follower, or a new leader enqueued) and
the state machine a worker drives (claim, succeed, fail, requeue).

Every status change is a conditional UPDATE, so two workers can never both own a job and
a late or duplicate message changes nothing. A cache hit writes nothing to the database:
it is answered from the cache entry with the id of the job that made the bytes.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Account, Project
from accounts.services import quota_reserve
from config.celery import task_send
from config.errors import KilnError
from renders.cache import (
    CachedRender,
    cache_entry_name,
    content_etag,
    hit_id,
    render_cache_key,
    render_storage_path,
)
from renders.models import Batch, RenderJob
from renders.notify import render_done_publish
from renders.selectors import (
    cache_ttl_seconds,
    cached_render_forget,
    cached_render_from_job,
    cached_render_lookup,
)
from renders.stats import render_hit_count
from webhooks.services import render_hit_notify, render_job_notify, webhook_url_check
from workers.rasterise import RenderedImage
from workers.specs import SPEC_CLASSES, RenderSpec

logger = logging.getLogger(__name__)

Status = RenderJob.Status


def render_job_create(
    *,
    account: Account,
    project: Project | None,
    spec: RenderSpec,
    force: bool = False,
    webhook_url: str = "",
    batch: Batch | None = None,
    size_name: str = "",
) -> RenderJob:
    """One job for one request: a cache hit, a follower of an identical render in
    flight, or a new leader enqueued on its kind's queue.

    A hit returns an unsaved RenderJob describing the render that made the bytes (its
    id is that job's id); only a batch's hits are saved, as rows of the batch.
    """
    cache_key = render_cache_key(spec)
    if webhook_url:
        webhook_url = webhook_url_check(url=webhook_url)  # webhooks: refused before anything
    fields = dict(
        account=account,
        project=project,
        kind=spec.kind,
        params=spec.to_json(),
        cache_key=cache_key,
        format=spec.format,
        webhook_url=webhook_url,
        batch=batch,
        size_name=size_name,
    )
    if force:
        cached_render_forget(cache_key=cache_key)
    for _ in range(3):
        if not force:
            hit = render_cached(account=account, cache_key=cache_key, format=spec.format)
            if hit is not None:
                job = cached_job(hit, account=account, fields=fields)
                if batch is not None:
                    job.id = None  # a new row of the batch, born succeeded
                    job = RenderJob.objects.create(
                        **{**fields, **_outcome_fields(job)}, cached=True
                    )
                elif webhook_url:
                    render_hit_notify(job=job)  # webhooks: a hit writes its delivery row
                return job
        try:
            with transaction.atomic():
                quota_reserve(account=account)
                job = RenderJob.objects.create(**fields)
                transaction.on_commit(lambda job=job: _enqueue(job))
        except IntegrityError:
            leader = RenderJob.objects.filter(
                cache_key=cache_key, status__in=RenderJob.IN_FLIGHT, follows__isnull=True
            ).first()
            if leader is not None:
                return _follower_create(leader=leader, fields=fields)
            continue  # the leader finished between our insert and our look: look again
        return job
    raise KilnError("RENDER_FAILED", "could not start the render; retry")


def render_cached(*, account: Account, cache_key: str, format: str) -> CachedRender | None:
    """The stored render of `cache_key` for `account`, counted as a hit; None on a miss.
    Reads only caches (and the database if Redis lost the entry); writes nothing."""
    hit = cached_render_lookup(cache_key=cache_key, format=format)
    if hit is not None:
        render_hit_count(account_id=account.id)
    return hit


def cached_job(hit: CachedRender, *, account: Account, fields: dict[str, Any]) -> RenderJob:
    """The answer to a cache hit, never saved: the render that made the bytes, under
    its own id for its account and under a masked id for any other (renders.cache.hit_id)."""
    finished = parse_datetime(hit.finished_at) if hit.finished_at else timezone.now()
    job_id = hit.job_id
    if hit.account_id != account.id:
        job_id = hit_id(job_id=hit.job_id, account_id=account.id, secret=settings.SECRET_KEY)
    return RenderJob(
        **fields,
        id=job_id,
        status=Status.SUCCEEDED,
        cached=True,
        storage_path=hit.storage_path,
        width=hit.width,
        height=hit.height,
        size_bytes=hit.size_bytes,
        etag=hit.etag,
        created_at=finished,
        started_at=finished,
        finished_at=finished,
    )


def _follower_create(*, leader: RenderJob, fields: dict[str, Any]) -> RenderJob:
    follower = RenderJob.objects.create(**fields, follows=leader)
    # The leader may have finished before our row existed: copy its outcome now.
    leader.refresh_from_db()
    if leader.is_finished:
        with transaction.atomic():
            copied = RenderJob.objects.filter(
                id=follower.id, status__in=RenderJob.IN_FLIGHT
            ).update(**_outcome_fields(leader))
            follower.refresh_from_db()
            if copied:
                render_job_notify(job=follower)  # webhooks (outbox): finished here, not in _finish
    return follower


def render_job_enqueue(*, job_id: str, kind: str) -> None:
    """Send a job to its kind's queue (renders.tasks.render_job_<queue>)."""
    task_send(f"renders.tasks.render_job_{SPEC_CLASSES[kind].queue}", job_id)


def _enqueue(job: RenderJob) -> None:
    try:
        render_job_enqueue(job_id=str(job.id), kind=job.kind)
    except (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError) as exc:
        render_job_fail(job=job, code="UNAVAILABLE", message="the job queue is unreachable")
        raise KilnError("UNAVAILABLE", "the job queue is unreachable; retry shortly") from exc


def render_job_claim(*, job_id: str, redelivered: bool = False) -> RenderJob | None:
    """Take a job for rendering; None if someone else has it or it is finished.

    QUEUED is always claimable. A RUNNING job is claimable only when its worker died:
    the broker redelivered the message, or it has not finished within the stale window.
    """
    now = timezone.now()
    claimable = Q(status=Status.QUEUED) | Q(
        status=Status.RUNNING,
        started_at__lt=now - timedelta(seconds=settings.KILN_JOB_STALE_AFTER),
    )
    if redelivered:
        claimable |= Q(status=Status.RUNNING)
    claimed = RenderJob.objects.filter(claimable, id=job_id, follows__isnull=True).update(
        status=Status.RUNNING, started_at=now, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return None
    job = RenderJob.objects.get(id=job_id)
    if job.attempts > settings.KILN_RENDER_MAX_ATTEMPTS:
        render_job_fail(
            job=job,
            code="RENDER_FAILED",
            message=f"gave up after {job.attempts - 1} attempts (worker lost each time)",
        )
        return None
    return job


def render_job_requeue(*, job: RenderJob) -> None:
    """Hand a RUNNING job back to the queue before a retry."""
    RenderJob.objects.filter(id=job.id, status=Status.RUNNING).update(status=Status.QUEUED)


def render_job_succeed(*, job: RenderJob, image: RenderedImage, generation_ms: int) -> bool:
    path = render_storage_path(cache_key=job.cache_key, format=image.format)
    # Content-addressed: the same key's bytes live at the same path (a forced re-render
    # replaces them; the storage is configured to overwrite).
    default_storage.save(path, ContentFile(image.data))
    outcome = dict(
        status=Status.SUCCEEDED,
        storage_path=path,
        format=image.format,
        width=image.width,
        height=image.height,
        size_bytes=len(image.data),
        etag=content_etag(image.data),
        generation_ms=generation_ms,
        finished_at=timezone.now(),
        error_code="",
        error_message="",
    )
    return _finish(job=job, outcome=outcome)


def render_job_fail(*, job: RenderJob, code: str, message: str) -> bool:
    outcome = dict(
        status=Status.FAILED,
        error_code=code,
        error_message=message[:2000],
        finished_at=timezone.now(),
    )
    return _finish(job=job, outcome=outcome)


def _finish(*, job: RenderJob, outcome: dict[str, Any]) -> bool:
    with transaction.atomic():
        done = RenderJob.objects.filter(id=job.id, status__in=RenderJob.IN_FLIGHT).update(**outcome)
        if not done:
            return False
        followers = RenderJob.objects.filter(
            follows_id=job.id, status__in=RenderJob.IN_FLIGHT
        ).update(**outcome)
        for name, value in outcome.items():
            setattr(job, name, value)
        transaction.on_commit(lambda: _announce(job))
        # webhooks (outbox): deliveries of the job, its followers and their batches
        # (queued on commit, after the waiters are woken). Without followers and without
        # a webhook or a batch there is nothing to write: no query on the common path.
        if followers or job.webhook_url or job.batch_id:
            render_job_notify(job=job, with_followers=bool(followers))
    return True


def _announce(job: RenderJob) -> None:
    """Fill the Redis cache entry, then wake every waiter: in this order, so a request
    that follows a woken one finds the new entry (after a forced re-render, the new
    ETag). Best effort: waiters also poll the database, and a missing entry is looked up
    there."""
    try:
        if job.status == Status.SUCCEEDED:
            cache.set(
                cache_entry_name(job.cache_key),
                cached_render_from_job(job).to_json(),
                timeout=cache_ttl_seconds(),
            )
    except redis.exceptions.RedisError:
        logger.warning("could not cache job %s; hits will read the database", job.id)
    render_done_publish(job.cache_key, str(job.id))


def _outcome_fields(job: RenderJob) -> dict[str, Any]:
    return {
        name: getattr(job, name)
        for name in (
            "status",
            "storage_path",
            "format",
            "width",
            "height",
            "size_bytes",
            "etag",
            "generation_ms",
            "started_at",
            "finished_at",
            "error_code",
            "error_message",
        )
    }

"""Writes for outgoing webhooks: the submit-time check of a `webhook_url`, the outbox
rows finished jobs write, one attempt of a delivery, the sweep, redelivery, and the
signing secrets' rotation.

Outbox: the hooks here are called inside the transaction that finishes a job (render
jobs in renders.services.jobs, AI jobs in ai_jobs.services), so the Delivery row commits
or rolls back with the outcome; its message goes to the `webhooks` queue on commit. A
message that never arrives (broker down at that moment, a worker killed holding it) is
queued again by the sweep (beat, every KILN_WEBHOOK_SWEEP_INTERVAL seconds).

An attempt claims its delivery with a conditional UPDATE and a lease; a redelivered or
duplicate message finds nothing to claim. A worker killed mid-attempt leaves the lease to
run out, and the same delivery (same `webhook-id`, same body) is sent again.

The signing secrets and the signature never reach a log line or an error message.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account, new_webhook_secret
from ai_jobs.models import AiJob
from config.celery import task_send
from config.errors import KilnError
from renders.models import Batch, RenderJob
from renders.selectors import batch_jobs, batch_state
from webhooks.events import ai_event, batch_event, event_body, render_event
from webhooks.models import Delivery, DeliveryAttempt, RetiredSecret, SealedBatch
from workers import webhooks as engine

logger = logging.getLogger(__name__)

State = Delivery.State
DELIVER_TASK = "webhooks.tasks.deliver_webhook"
# An attempt's outcome besides the engine's (workers/webhooks.py): Kiln stopped trying.
GAVE_UP = "gave_up"
# A lease outlives the attempt's own deadline by this much (database writes, scheduling).
LEASE_MARGIN = 5.0


# --- submit time ----------------------------------------------------------------------


def webhook_url_check(*, url: str) -> str:
    """`url` if Kiln may send webhooks there: http(s), an allowed host, no private or
    loopback address literal (400 VALIDATION_FAILED / 403 HOST_NOT_ALLOWED). Names are
    resolved, and checked again, when each attempt connects."""
    from workers.address_guard import BlockedAddress, check_url, policy_from_settings

    try:
        check_url(url, policy_from_settings())
    except BlockedAddress as exc:
        raise KilnError(exc.code, exc.message, details={"webhook_url": [exc.message]}) from None
    return url.strip()


# --- the outbox: hooks called where jobs finish ------------------------------------------


def render_job_notify(*, job: RenderJob, with_followers: bool = False) -> None:
    """Deliveries for a render job that has just finished: its own (if it asked), its
    followers' when `with_followers` (those that finished with it, at its `finished_at`),
    and batch.completed for the batches any of them completes. Call inside the
    transaction that finished them."""
    jobs = [job]
    if with_followers:
        jobs += list(
            RenderJob.objects.filter(follows_id=job.id, finished_at=job.finished_at).filter(
                ~Q(webhook_url="") | Q(batch__isnull=False)
            )
        )
    with transaction.atomic():
        for one in jobs:
            if one.webhook_url:
                _delivery_create(
                    account_id=one.account_id,
                    url=one.webhook_url,
                    event=render_event(one),
                    subject_id=str(one.id),
                    dedupe_key=f"render:{one.id}",
                )
        # Sorted: two transactions locking the same batches lock them in one order.
        for batch_id in sorted({str(one.batch_id) for one in jobs if one.batch_id}):
            _batch_completed_check(batch_id=batch_id)


def render_hit_notify(*, job: RenderJob) -> None:
    """The delivery of a cache hit that asked for one (`job` is the unsaved answer, its
    id the one the caller was handed): a hit writes this row and nothing else."""
    _delivery_create(
        account_id=job.account_id,
        url=job.webhook_url,
        event=render_event(job),
        subject_id=str(job.id),
    )


def batch_webhook_seal(*, batch: Batch) -> None:
    """Every size of `batch` has its job now: from here on batch.completed goes out when
    none is in flight — at once if none is (a batch of cache hits finishes unrendered)."""
    with transaction.atomic():
        SealedBatch.objects.get_or_create(batch_id=batch.id)
        _batch_completed_check(batch_id=str(batch.id))


def _batch_completed_check(*, batch_id: str) -> None:
    """batch.completed, once, when the batch is sealed and none of its jobs is in flight.

    The batch row's lock orders the deciders: a size finishing while the batch is being
    sealed, or two sizes finishing together, each look after the other committed, so
    exactly one of them sees the batch complete (and the dedupe key stops a second)."""
    batch = Batch.objects.select_for_update().filter(id=batch_id).exclude(webhook_url="").first()
    if batch is None or not SealedBatch.objects.filter(batch_id=batch_id).exists():
        return
    if RenderJob.objects.filter(batch_id=batch_id, status__in=RenderJob.IN_FLIGHT).exists():
        return
    _delivery_create(
        account_id=batch.account_id,
        url=batch.webhook_url,
        event=batch_event(batch, batch_state(jobs=batch_jobs(batch=batch))),
        subject_id=batch_id,
        dedupe_key=f"batch:{batch_id}",
    )


def ai_job_notify(*, job_id: str) -> None:
    """The delivery of an AI job that has just become ready, failed or blocked (if it
    asked for one). Call inside the transaction that changed its state."""
    job = AiJob.objects.filter(id=job_id).exclude(webhook_url="").first()
    if job is not None and job.is_finished:
        _delivery_create(
            account_id=job.account_id, url=job.webhook_url, event=ai_event(job), subject_id=job.id
        )


def _delivery_create(
    *,
    account_id: int,
    url: str,
    event: tuple[str, dict[str, Any]],
    subject_id: str,
    dedupe_key: str | None = None,
) -> Delivery | None:
    """The outbox row of `event` (type, data), queued when the surrounding transaction
    commits (at once outside one); None when a delivery with `dedupe_key` exists."""
    event_type, data = event
    now = timezone.now()
    delivery = Delivery(
        id=uuid.uuid4(),
        account_id=account_id,
        event_type=event_type,
        subject_id=subject_id,
        dedupe_key=dedupe_key,
        url=url,
        body=event_body(event_type=event_type, data=data, at=now),
        next_attempt_at=now,
        enqueued_at=now,
        created_at=now,
    )
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
    except IntegrityError:
        return None  # someone else wrote this one (dedupe_key)
    transaction.on_commit(lambda: _enqueue_new(str(delivery.id)))
    return delivery


def _enqueue_new(delivery_id: str) -> None:
    _enqueue(delivery_id)
    # The embedded default has no beat: a new delivery is when due retries go out there.
    if settings.CELERY_TASK_ALWAYS_EAGER and cache.add(
        "webhooks:embedded-sweep", 1, timeout=settings.KILN_WEBHOOK_SWEEP_INTERVAL
    ):
        deliveries_sweep()


def _enqueue(delivery_id: str, *, countdown: float | None = None) -> None:
    """Queue an attempt. A broker that is down is not the job's problem: the sweep
    queues the delivery again once its message is overdue."""
    try:
        task_send(DELIVER_TASK, delivery_id, countdown=countdown)
    except (kombu.exceptions.OperationalError, redis.exceptions.RedisError) as exc:
        logger.warning("webhook %s: could not queue (%s); the sweep will", delivery_id, exc)
        # No message is on its way: the sweep takes the delivery as soon as it is due.
        Delivery.objects.filter(id=delivery_id, state=State.PENDING).update(enqueued_at=None)


# --- one attempt ----------------------------------------------------------------------


def _claimable(now: datetime) -> Q:
    return Q(state=State.PENDING, next_attempt_at__lte=now) | Q(
        state=State.SENDING, lease_until__lt=now
    )


def signing_secrets(*, account: Account, now: datetime | None = None) -> list[str]:
    """The secrets that sign the account's deliveries: its current one, then those a
    rotation retired that are still within their grace period."""
    now = now or timezone.now()
    retired = RetiredSecret.objects.filter(account=account, expires_at__gt=now)
    return [account.webhook_secret, *retired.values_list("secret", flat=True)]


def delivery_attempt(*, delivery_id: str) -> str:
    """Claim the delivery if it is due (or its last worker died), POST it once, record the
    attempt and what follows: delivered, the next try, or giving up. Returns the outcome
    in a word or two (for the worker's log: never a URL, header or body)."""
    now = timezone.now()
    lease = timedelta(seconds=settings.KILN_WEBHOOK_TIMEOUT + LEASE_MARGIN)
    claimed = Delivery.objects.filter(_claimable(now), id=delivery_id).update(
        state=State.SENDING,
        lease_until=now + lease,
        attempts=F("attempts") + 1,
        round_attempts=F("round_attempts") + 1,
        enqueued_at=None,
    )
    if not claimed:
        return "not due"
    delivery = Delivery.objects.select_related("account").get(id=delivery_id)
    started = timezone.now()
    secrets = [s for s in signing_secrets(account=delivery.account) if engine.is_secret(s)]
    allowed = len(settings.KILN_WEBHOOK_RETRY_SCHEDULE) + 1
    if delivery.round_attempts > allowed:
        # Claimed more often than it may be tried: its attempts died unrecorded (a worker
        # killed each time, or a crash). Stop rather than loop.
        attempt = _given_up(f"gave up: {delivery.round_attempts - 1} attempts, some lost")
    elif not secrets or secrets[0] != delivery.account.webhook_secret:
        attempt = _given_up("the account's webhook secret is not whsec_<base64>: rotate it")
    else:
        attempt = engine.send(
            delivery.url,
            msg_id=delivery.webhook_id,
            body=delivery.body.encode(),
            secrets=secrets,
            timeout=settings.KILN_WEBHOOK_TIMEOUT,
        )
    return _attempt_record(delivery=delivery, attempt=attempt, started=started)


def _given_up(reason: str) -> engine.Attempt:
    """An attempt Kiln did not make: the delivery fails with `reason`."""
    return engine.Attempt(GAVE_UP, None, 0, reason, "")


def _countdown_max() -> float:
    """Retries due within this many seconds ride a countdown message; later ones wait in
    the row for the sweep (a countdown past the broker's visibility timeout would come
    back as a duplicate message before it is due)."""
    return min(60.0, settings.KILN_VISIBILITY_TIMEOUT / 2)


def _attempt_record(*, delivery: Delivery, attempt: engine.Attempt, started: datetime) -> str:
    now = timezone.now()
    fields: dict[str, Any] = {
        "lease_until": None,
        "last_status": attempt.status,
        "last_error": attempt.error[:500],
    }
    countdown = None
    if attempt.outcome == engine.DELIVERED:
        fields.update(state=State.DELIVERED, finished_at=now, next_attempt_at=None)
        summary = "delivered"
    elif attempt.outcome in (engine.GONE, engine.REFUSED, GAVE_UP):
        fields.update(state=State.FAILED, finished_at=now, next_attempt_at=None)
        summary = f"stopped: {attempt.outcome}"
    else:
        delay = engine.retry_delay(
            settings.KILN_WEBHOOK_RETRY_SCHEDULE,
            delivery.round_attempts,
            jitter=settings.KILN_WEBHOOK_RETRY_JITTER,
            retry_after=attempt.retry_after,
        )
        if delay is None:
            fields.update(state=State.FAILED, finished_at=now, next_attempt_at=None)
            summary = "failed: retries spent"
        else:
            due = now + timedelta(seconds=delay)
            # (Eager tasks ignore a countdown: the embedded default leaves it to the sweep.)
            if delay <= _countdown_max() and not settings.CELERY_TASK_ALWAYS_EAGER:
                countdown = delay
            fields.update(
                state=State.PENDING,
                next_attempt_at=due,
                enqueued_at=due if countdown is not None else None,
            )
            summary = f"retry in {delay:.1f}s"
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started_at=started,
            duration_ms=attempt.duration_ms,
            status=attempt.status,
            outcome=attempt.outcome,
            error=attempt.error[:500],
            response_excerpt=attempt.excerpt,
        )
        # Only while the delivery is still this attempt's: a lease that ran out may
        # have handed it to another worker, whose record then counts.
        still_ours = Delivery.objects.filter(
            id=delivery.id, state=State.SENDING, attempts=delivery.attempts
        ).update(**fields)
        if still_ours and countdown is not None:
            transaction.on_commit(lambda: _enqueue(str(delivery.id), countdown=countdown))
    logger.info(
        "webhook %s attempt %d to %s: %s (%s)",
        delivery.webhook_id,
        delivery.attempts,
        urlsplit(delivery.url).hostname,
        attempt.status or attempt.error,
        summary,
    )
    return summary


# --- the sweep, redelivery ----------------------------------------------------------------


def deliveries_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue the deliveries nobody is taking care of: due ones whose message is overdue
    (lost, or never sent: a broker outage, a retry too far off for a countdown) and
    `sending` ones whose worker died (lease run out). Returns how many were queued."""
    now = now or timezone.now()
    # A message not taken three sweeps after it was due is taken for lost (a queue
    # backlog that long costs a duplicate message, which claims nothing).
    lost_before = now - timedelta(seconds=3 * settings.KILN_WEBHOOK_SWEEP_INTERVAL)
    unattended = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=lost_before)
    stranded = Delivery.objects.filter(_claimable(now) & unattended).order_by("next_attempt_at")
    queued = 0
    for delivery_id, enqueued_at in stranded.values_list("id", "enqueued_at")[:limit]:
        # Only if no other sweep took it meanwhile.
        if Delivery.objects.filter(id=delivery_id, enqueued_at=enqueued_at).update(enqueued_at=now):
            _enqueue(str(delivery_id))
            queued += 1
    if queued:
        logger.info("webhook sweep: queued %d deliveries", queued)
    return queued


def deliveries_expire(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Delete finished deliveries older than the render cache's TTL (KILN_CACHE_TTL_DAYS):
    they are kept as long as the renders they announced. Returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.KILN_CACHE_TTL_DAYS)
    old = Delivery.objects.filter(created_at__lt=cutoff).exclude(state__in=Delivery.OPEN)
    ids = list(old.values_list("id", flat=True)[:limit])
    return Delivery.objects.filter(id__in=ids).delete()[1].get("webhooks.Delivery", 0)


def delivery_redeliver(*, delivery: Delivery) -> bool:
    """Send a delivery again from the start of the retry schedule, under the same
    `webhook-id` (the admin's "redeliver"). False while an attempt is under way."""
    now = timezone.now()
    with transaction.atomic():
        changed = (
            Delivery.objects.filter(id=delivery.id)
            .exclude(state=State.SENDING, lease_until__gte=now)
            .update(
                state=State.PENDING,
                round_attempts=0,
                next_attempt_at=now,
                enqueued_at=now,
                lease_until=None,
                finished_at=None,
            )
        )
        if changed:
            transaction.on_commit(lambda: _enqueue(str(delivery.id)))
    return bool(changed)


# --- secrets --------------------------------------------------------------------------


def webhook_secret_rotate(*, account: Account, grace_seconds: int | None = None) -> str:
    """Give the account a new signing secret; the old one keeps signing beside it for
    `grace_seconds` (KILN_WEBHOOK_SECRET_GRACE), so receivers can switch without missing
    a delivery. Returns the new secret."""
    grace = settings.KILN_WEBHOOK_SECRET_GRACE if grace_seconds is None else grace_seconds
    now = timezone.now()
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(id=account.id)
        old = locked.webhook_secret
        locked.webhook_secret = new_webhook_secret()
        locked.save(update_fields=["webhook_secret"])
        RetiredSecret.objects.filter(account=locked, expires_at__lte=now).delete()
        if grace > 0:
            RetiredSecret.objects.create(
                account=locked,
                secret=old,
                retired_at=now,
                expires_at=now + timedelta(seconds=grace),
            )
    account.webhook_secret = locked.webhook_secret
    logger.info("account %s: webhook secret rotated (grace %ds)", account.slug, grace)
    return locked.webhook_secret

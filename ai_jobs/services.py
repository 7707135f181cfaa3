"""Writes for AI jobs: submit, the provider round trip, the output download, polling.

Every state change is a conditional UPDATE on the job's row (see ai_jobs.models), so the
webhook, the poller, a redelivered task and an admin retry may all race without harm:
whichever arrives second matches no row and changes nothing. Tasks are enqueued only by
the caller that won such an UPDATE (or the INSERT), with `transaction.on_commit`.

Prompts are never logged: log lines carry the job id and `prompt_fingerprint`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import datetime, timedelta

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account
from accounts.services import quota_check, usage_record_images
from ai_jobs.images import OutputImageError, ai_storage_path, final_png
from ai_jobs.models import AiJob, prompt_fingerprint
from ai_jobs.providers import (
    GenerationRequest,
    ModelSpec,
    ProviderError,
    ProviderPrediction,
    WebhookRejected,
    get_provider,
    provider_missing_setting,
)
from config.celery import task_send
from config.errors import KilnError, public_code
from webhooks.services import ai_job_notify, webhook_url_check

logger = logging.getLogger(__name__)

State = AiJob.State
IN_FLIGHT = AiJob.IN_FLIGHT
# Bump when the meaning of a submission changes (e.g. how sizes are fitted): new ids.
AI_JOB_ID_VERSION = 1
AI_JOB_ID_LENGTH = 24  # hex: 96 bits


class RetryLater(Exception):
    """A transient provider or download failure: the task should try again later."""


# --- submit -------------------------------------------------------------------------------


def ai_job_id(
    *, account_id: int, prompt: str, width: int, height: int, model: str, seed: int | None
) -> str:
    """The job id of a submission: the same body from the same account is the same job.

    The account is part of it so that tenants never share (or learn about) each other's
    jobs through a guessed prompt.
    """
    canonical = json.dumps(
        {
            "v": AI_JOB_ID_VERSION,
            "account": account_id,
            "prompt": prompt,
            "w": width,
            "h": height,
            "model": model,
            "seed": seed,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:AI_JOB_ID_LENGTH]


def ai_model_for(*, account: Account, model: str | None) -> ModelSpec:
    """The model a submission uses, if the account's plan allows it (402 TIER_LOCKED)."""
    provider = get_provider()
    name = model or settings.KILN_AI_DEFAULT_MODEL
    spec = provider.models.get(name)
    if spec is None:
        raise KilnError(
            "VALIDATION_FAILED",
            f"unknown model '{name}'; available: {', '.join(provider.models)}",
            details={"model": list(provider.models)},
        )
    plan = account.plan
    if not plan.ai_allowed:
        raise KilnError("TIER_LOCKED", f"AI images are not included in the {plan.name} plan")
    if spec.tier == "pro" and not plan.ai_pro_allowed:
        raise KilnError(
            "TIER_LOCKED",
            f"model '{name}' needs a plan with pro AI models; the {plan.name} plan has "
            f"{', '.join(n for n, s in provider.models.items() if s.tier == 'standard')}",
            details={"model": name},
        )
    # The plan's own size limit, when it is below the model's.
    return dataclasses.replace(spec, max_side=min(spec.max_side, plan.max_dimension))


def ai_job_submit(
    *,
    account: Account,
    prompt: str,
    width: int,
    height: int,
    seed: int | None = None,
    model: str | None = None,
    webhook_url: str = "",
) -> AiJob:
    """The job for this submission: the existing one, or a new one whose prediction is
    queued on the `ai` queue. Identical submissions, even racing ones, get one job and
    one generation: the id is derived from the body and the INSERT decides the winner."""
    if webhook_url:
        webhook_url = webhook_url_check(url=webhook_url)  # webhooks: refused before anything
    prompt = prompt.strip()
    spec = ai_model_for(account=account, model=model)
    missing = provider_missing_setting()
    if missing is not None:  # say what is needed, and start nothing that can only fail
        raise KilnError(
            "UNAVAILABLE",
            f"AI images need a provider: set {missing} "
            f"(KILN_AI_PROVIDER={settings.KILN_AI_PROVIDER})",
            details={"setting": missing},
        )
    width, height = spec.fit(width, height)
    job_id = ai_job_id(
        account_id=account.id,
        prompt=prompt,
        width=width,
        height=height,
        model=spec.name,
        seed=seed,
    )
    existing = AiJob.objects.filter(id=job_id).first()
    if existing is not None:
        return existing
    quota_check(account=account)
    try:
        with transaction.atomic():
            job = AiJob.objects.create(
                id=job_id,
                account=account,
                prompt=prompt,
                model=spec.name,
                width=width,
                height=height,
                seed=seed,
                provider=get_provider().name,
                webhook_url=webhook_url,
            )
            usage_record_images(account=account)
            transaction.on_commit(lambda: _enqueue("create_prediction", job_id, submit=True))
    except IntegrityError:
        # An identical submission won the INSERT a moment ago: it enqueued, we don't.
        return AiJob.objects.get(id=job_id)
    logger.info(
        "ai job %s submitted: %s %dx%d %s",
        job_id,
        spec.name,
        width,
        height,
        prompt_fingerprint(prompt),
    )
    return job


def ai_job_retry(*, job: AiJob) -> bool:
    """Start a failed job again from scratch (the admin's "retry"); False if not failed."""
    now = timezone.now()
    with transaction.atomic():
        changed = AiJob.objects.filter(id=job.id, state=State.FAILED).update(
            state=State.PENDING,
            prediction_id="",
            submitted_at=None,
            submit_attempts=0,
            output_url="",
            output_path="",
            size_bytes=None,
            error_code="",
            error_message="",
            started_at=None,
            finished_at=None,
            enqueued_at=now,
            last_event_at=now,
        )
        if changed:
            transaction.on_commit(lambda: _enqueue("create_prediction", job.id))
    return bool(changed)


def _enqueue(task_name: str, job_id: str, *, submit: bool = False) -> None:
    """Queue one of ai_jobs.tasks' tasks. When the broker is down the job keeps its
    state and the poller queues it again later; a submission answers 503 meanwhile."""
    try:
        task_send(f"ai_jobs.tasks.{task_name}", job_id)
    except (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError) as exc:
        logger.warning("ai job %s: could not queue %s: %r", job_id, task_name, exc)
        if submit:
            raise KilnError("UNAVAILABLE", "the job queue is unreachable; retry shortly") from exc


# --- the provider round trip ----------------------------------------------------------


def _webhook_url(job_id: str, provider_name: str) -> str | None:
    """Where the provider reports back. The job id rides along (it is public anyway, in
    the image URL) so that a webhook arriving before we stored the prediction id still
    finds its job; without a public URL there are no webhooks, only polling."""
    if not settings.KILN_PUBLIC_URL:
        return None
    return f"{settings.KILN_PUBLIC_URL}/ai/{provider_name}-webhook?job={job_id}"


def _finish(job_id: str, *, state: str, code: str, message: str, **conditions: object) -> bool:
    """Fail or block an in-flight job (and only if `conditions` still hold)."""
    now = timezone.now()
    with transaction.atomic():
        changed = AiJob.objects.filter(id=job_id, state__in=IN_FLIGHT, **conditions).update(
            state=state,
            error_code=code,
            error_message=message[:2000],
            finished_at=now,
            last_event_at=now,
        )
        if changed:
            ai_job_notify(job_id=job_id)  # webhooks (outbox): with the state change
    if changed:
        logger.info("ai job %s %s: %s", job_id, state, code)
    return bool(changed)


def ai_prediction_start(*, job_id: str, final_attempt: bool = True) -> str:
    """Create the job's prediction, once. The claim (submitted_at) keeps a redelivered
    task from creating a second one; a transient provider error releases it and raises
    RetryLater, unless this is the final attempt (then the job fails)."""
    now = timezone.now()
    claimed = AiJob.objects.filter(
        id=job_id, state=State.PENDING, prediction_id="", submitted_at__isnull=True
    ).update(submitted_at=now, submit_attempts=F("submit_attempts") + 1, last_event_at=now)
    if not claimed:
        return "not claimed"
    job = AiJob.objects.get(id=job_id)
    provider = get_provider()
    request = GenerationRequest(
        job_id=job.id,
        model=job.model,
        prompt=job.prompt,
        width=job.width,
        height=job.height,
        seed=job.seed,
    )
    try:
        prediction = provider.create_prediction(
            request, webhook_url=_webhook_url(job.id, provider.name)
        )
    except ProviderError as exc:
        if exc.blocked:
            _finish(job_id, state=State.BLOCKED, code="PROMPT_BLOCKED", message=exc.message)
            return "blocked"
        if exc.retryable and not final_attempt:
            AiJob.objects.filter(id=job_id, state=State.PENDING, prediction_id="").update(
                submitted_at=None
            )
            logger.warning("ai job %s: provider unavailable (%s); retrying", job_id, exc.message)
            raise RetryLater(exc.message) from exc
        _finish(job_id, state=State.FAILED, code="UPSTREAM_FAILED", message=exc.message)
        return "failed"
    AiJob.objects.filter(id=job_id, prediction_id="").update(
        prediction_id=prediction.id, last_event_at=timezone.now()
    )
    logger.info("ai job %s: prediction %s created", job_id, prediction.id)
    ai_prediction_apply(job_id=job_id, prediction=prediction)
    return "submitted"


def ai_prediction_apply(*, job_id: str, prediction: ProviderPrediction) -> bool:
    """Record what the provider says about the job's prediction (from a webhook, a poll or
    the create answer). True if the job changed. Only forward moves match a row:
    "running" after "succeeded" (webhooks in reverse order), a replayed "completed", or a
    failure after the output was taken all change nothing."""
    now = timezone.now()
    jobs = AiJob.objects.filter(id=job_id, prediction_id=prediction.id, state__in=IN_FLIGHT)
    if prediction.phase == "queued":
        jobs.update(last_event_at=now)
        return False
    if prediction.phase == "running":
        changed = jobs.filter(state=State.PENDING).update(
            state=State.GENERATING, started_at=now, last_event_at=now
        )
        if not changed:
            jobs.update(last_event_at=now)
        return bool(changed)
    if prediction.phase == "succeeded":
        with transaction.atomic():
            changed = jobs.filter(output_url="").update(
                state=State.GENERATING,
                output_url=prediction.output_url or "",
                started_at=Coalesce(F("started_at"), now),
                last_event_at=now,
            )
            if changed:
                transaction.on_commit(lambda: _enqueue("store_output", job_id))
        return bool(changed)
    blocked = prediction.phase == "blocked"
    return _finish(
        job_id,
        state=State.BLOCKED if blocked else State.FAILED,
        code="PROMPT_BLOCKED" if blocked else "UPSTREAM_FAILED",
        message=prediction.error or "the provider failed",
        prediction_id=prediction.id,
        output_url="",
    )


def ai_webhook_receive(*, headers: dict[str, str], body: bytes, job_hint: str = "") -> bool:
    """A provider webhook: verified (401 UNAUTHORIZED otherwise, nothing changes), then
    recorded. A webhook for a prediction Kiln does not know is accepted and ignored."""
    provider = get_provider()
    try:
        prediction = provider.verify_webhook(headers, body)
    except WebhookRejected as exc:
        raise KilnError("UNAUTHORIZED", f"webhook refused: {exc}") from None
    except ProviderError as exc:
        raise KilnError("UPSTREAM_FAILED", exc.message) from None
    job_id = AiJob.objects.filter(prediction_id=prediction.id).values_list("id", flat=True).first()
    # The webhook may beat the create task to recording the prediction id: adopt it.
    if (
        job_id is None
        and job_hint
        and AiJob.objects.filter(id=job_hint, prediction_id="", state__in=IN_FLIGHT).update(
            prediction_id=prediction.id
        )
    ):
        job_id = job_hint
    if job_id is None:
        logger.info("webhook for unknown prediction %s ignored", prediction.id)
        return False
    return ai_prediction_apply(job_id=job_id, prediction=prediction)


# --- the output -------------------------------------------------------------------------


def ai_output_store(*, job_id: str, final_attempt: bool = True) -> str:
    """Download the provider's output through the guarded fetcher (size-limited, images
    only), make it the PNG the URL promises, store it, mark the job ready."""
    from workers.fetch import TOO_LARGE, UPSTREAM_FAILED, BlockedAddress, FetchError, fetch_image

    job = AiJob.objects.filter(id=job_id, state__in=IN_FLIGHT).exclude(output_url="").first()
    if job is None:
        return "nothing to store"
    try:
        result = fetch_image(
            job.output_url,
            max_bytes=settings.KILN_AI_MAX_OUTPUT_BYTES,
            timeout=settings.KILN_AI_DOWNLOAD_TIMEOUT,
        )
        png = final_png(result.content, width=job.width, height=job.height)
    except BlockedAddress as exc:
        _finish(job_id, state=State.FAILED, code=public_code(exc.code), message=exc.message)
        return "failed"
    except FetchError as exc:
        transient = exc.code == UPSTREAM_FAILED and (exc.status is None or exc.status >= 500)
        if transient and not final_attempt:
            AiJob.objects.filter(id=job_id).update(last_event_at=timezone.now())
            raise RetryLater(exc.message) from exc
        code = "TOO_LARGE" if exc.code == TOO_LARGE else "UPSTREAM_FAILED"
        _finish(
            job_id,
            state=State.FAILED,
            code=code,
            message=f"downloading the output failed: {exc.message}",
        )
        return "failed"
    except OutputImageError as exc:
        _finish(job_id, state=State.FAILED, code="UPSTREAM_FAILED", message=str(exc))
        return "failed"
    path = ai_storage_path(job_id)
    # One id, one image: overwriting a copy a racing download stored is harmless.
    if default_storage.exists(path):
        default_storage.delete(path)
    stored = default_storage.save(path, ContentFile(png))
    now = timezone.now()
    with transaction.atomic():
        changed = AiJob.objects.filter(id=job_id, state__in=IN_FLIGHT).update(
            state=State.READY,
            output_path=stored,
            size_bytes=len(png),
            finished_at=now,
            last_event_at=now,
        )
        if changed:
            ai_job_notify(job_id=job_id)  # webhooks (outbox): with the state change
    if changed:
        logger.info("ai job %s ready (%d bytes)", job_id, len(png))
    return "ready" if changed else "already finished"


# --- polling: no job stays pending forever ----------------------------------------------


def ai_job_poll(*, job_id: str) -> str:
    """Ask the provider about one job's prediction and record the answer."""
    job = AiJob.objects.filter(id=job_id, state__in=IN_FLIGHT).exclude(prediction_id="").first()
    if job is None:
        return "nothing to poll"
    try:
        prediction = get_provider().get_prediction(job.prediction_id)
    except ProviderError as exc:
        if exc.retryable:
            logger.warning("ai job %s: poll failed (%s); next round", job_id, exc.message)
            return "poll failed"
        _finish(job_id, state=State.FAILED, code="UPSTREAM_FAILED", message=exc.message)
        return "failed"
    ai_prediction_apply(job_id=job_id, prediction=prediction)
    return prediction.phase


def _expire_if_too_old(job: AiJob, now: datetime) -> bool:
    if job.enqueued_at >= now - timedelta(seconds=settings.KILN_AI_MAX_AGE):
        return False
    return _finish(
        job.id,
        state=State.FAILED,
        code="RENDER_TIMEOUT",
        message=f"not finished within {settings.KILN_AI_MAX_AGE}s; gave up",
    )


def _rescue(job: AiJob, now: datetime) -> str:
    """Queue whatever a quiet job is waiting for. Touching last_event_at first (only if
    nobody else did) makes sure one rescuer acts, and not again until it is quiet again."""
    creating_since = now - timedelta(seconds=2 * settings.KILN_AI_PROVIDER_TIMEOUT)
    if not job.prediction_id and job.submitted_at and job.submitted_at > creating_since:
        # A worker may still be waiting for the provider to answer the create: queueing
        # another now could make a second prediction.
        return "creating"
    if not AiJob.objects.filter(
        id=job.id, state__in=IN_FLIGHT, last_event_at=job.last_event_at
    ).update(last_event_at=now):
        return "busy"
    if job.output_url:
        task, action = "store_output", "store"  # the download's message was lost
    elif job.prediction_id:
        task, action = "poll_prediction", "poll"  # the webhook never came
    else:
        # No prediction: the create task's message was lost, or its worker died after
        # claiming. Release the claim and queue it again.
        AiJob.objects.filter(id=job.id, state=State.PENDING, prediction_id="").update(
            submitted_at=None
        )
        task, action = "create_prediction", "create"
    transaction.on_commit(lambda: _enqueue(task, job.id))
    return action


def ai_jobs_poll() -> dict[str, int]:
    """The beat task: fail jobs past the maximum age, rescue the ones that went quiet."""
    now = timezone.now()
    counts: dict[str, int] = {}
    too_old = AiJob.objects.filter(
        state__in=IN_FLIGHT, enqueued_at__lt=now - timedelta(seconds=settings.KILN_AI_MAX_AGE)
    )
    with transaction.atomic():
        # webhooks (outbox): the expiring jobs that asked for one, locked so that the
        # UPDATE below fails exactly these.
        notify = list(
            too_old.exclude(webhook_url="").select_for_update().values_list("id", flat=True)
        )
        expired = too_old.update(
            state=State.FAILED,
            error_code="RENDER_TIMEOUT",
            error_message=f"not finished within {settings.KILN_AI_MAX_AGE}s; gave up",
            finished_at=now,
            last_event_at=now,
        )
        for job_id in notify:
            ai_job_notify(job_id=job_id)
    if expired:
        counts["expired"] = expired
    quiet = AiJob.objects.filter(
        state__in=IN_FLIGHT,
        last_event_at__lt=now - timedelta(seconds=settings.KILN_AI_POLL_AFTER),
    ).order_by("last_event_at")[:200]
    for job in quiet:
        action = _rescue(job, now)
        counts[action] = counts.get(action, 0) + 1
    if counts:
        logger.info("ai poller: %s", counts)
    return counts


def ai_job_nudge(*, job: AiJob) -> None:
    """A status read of a quiet job asks the provider now instead of at the next beat.
    Without KILN_PUBLIC_URL there are no webhooks and (in the embedded default) no beat,
    so this is how such jobs progress: a job is then "quiet" after 2 s."""
    if job.is_finished:
        return
    now = timezone.now()
    if _expire_if_too_old(job, now):
        return
    quiet_after = settings.KILN_AI_POLL_AFTER
    if not settings.KILN_PUBLIC_URL:
        quiet_after = min(quiet_after, 2)
    if job.last_event_at > now - timedelta(seconds=quiet_after):
        return
    # At most one nudge per job per quiet period, however many pages are polling.
    if cache.add(f"ai-nudge:{job.id}", 1, timeout=max(1, quiet_after)):
        _rescue(job, now)

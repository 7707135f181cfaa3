"""The life of one render job inside a worker, shared by every render queue.

claim (conditional UPDATE) → engine → store and record. Bad input fails at once;
storage and database hiccups are retried a bounded number of times with backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import botocore.exceptions
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from config.errors import public_code
from config.logging import job_id_var
from renders.models import RenderJob
from renders.services import (
    render_job_claim,
    render_job_fail,
    render_job_requeue,
    render_job_succeed,
)
from workers.rasterise import RenderedImage, RenderInputError

logger = logging.getLogger(__name__)

# Failures worth another try: the store or the database blinked, the input is fine.
TRANSIENT_ERRORS = (OSError, OperationalError, botocore.exceptions.BotoCoreError)


def run_render_job(task: Task, job_id: str, engine: Callable[[RenderJob], RenderedImage]) -> str:
    delivery = task.request.delivery_info or {}
    job = render_job_claim(job_id=job_id, redelivered=bool(delivery.get("redelivered")))
    if job is None:
        return "not claimed"
    token = job_id_var.set(job_id)
    try:
        started = time.monotonic()
        try:
            image = engine(job)
        except RenderInputError as exc:
            message = exc.message
            status = (getattr(exc, "details", None) or {}).get("status")
            if status is not None and str(status) not in message:
                message = f"{message} (the target answered {status})"
            render_job_fail(job=job, code=public_code(exc.code), message=message)
            return "failed"
        except SoftTimeLimitExceeded:
            render_job_fail(job=job, code="RENDER_TIMEOUT", message="the render hit its time limit")
            return "timed out"
        generation_ms = round((time.monotonic() - started) * 1000)
        try:
            render_job_succeed(job=job, image=image, generation_ms=generation_ms)
        except TRANSIENT_ERRORS as exc:
            if task.request.retries >= task.max_retries:
                render_job_fail(job=job, code="RENDER_FAILED", message=f"could not store: {exc}")
                return "failed"
            logger.warning("storing job %s failed (%r); retrying", job_id, exc)
            render_job_requeue(job=job)
            raise task.retry(exc=exc, countdown=2**task.request.retries) from exc
        logger.info("job %s rendered in %d ms", job_id, generation_ms)
        return "succeeded"
    finally:
        job_id_var.reset(token)

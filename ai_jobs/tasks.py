"""Tasks of ai_jobs, all on queue `ai`. Each task takes a job id, loads the row and lets
ai_jobs.services do the work; transient provider or download failures come back here as
RetryLater and are retried with exponential backoff a bounded number of times."""

from __future__ import annotations

from celery import Task, shared_task

from ai_jobs.services import (
    RetryLater,
    ai_job_poll,
    ai_jobs_poll,
    ai_output_store,
    ai_prediction_start,
)
from config.logging import job_id_var

MAX_RETRIES = 4


def _with_retries(task: Task, job_id: str, work) -> str:
    token = job_id_var.set(job_id)
    try:
        final = task.request.retries >= task.max_retries
        try:
            return work(job_id=job_id, final_attempt=final)
        except RetryLater as exc:
            raise task.retry(exc=exc, countdown=2 ** (task.request.retries + 1)) from exc
    finally:
        job_id_var.reset(token)


@shared_task(bind=True, pool_queue="ai", max_retries=MAX_RETRIES)
def create_prediction(self: Task, job_id: str) -> str:
    """Create the job's prediction at the provider (once, whatever the deliveries)."""
    return _with_retries(self, job_id, ai_prediction_start)


@shared_task(bind=True, pool_queue="ai", max_retries=MAX_RETRIES)
def store_output(self: Task, job_id: str) -> str:
    """Download the finished prediction's image into Kiln's storage."""
    return _with_retries(self, job_id, ai_output_store)


@shared_task(pool_queue="ai")
def poll_prediction(job_id: str) -> str:
    """Ask the provider about one job whose webhook has not come."""
    token = job_id_var.set(job_id)
    try:
        return ai_job_poll(job_id=job_id)
    finally:
        job_id_var.reset(token)


@shared_task(pool_queue="ai")
def poll_ai_jobs() -> dict[str, int]:
    """Beat: fail jobs past KILN_AI_MAX_AGE, rescue quiet ones (see ai_jobs_poll)."""
    return ai_jobs_poll()

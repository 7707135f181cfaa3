"""Reads for AI jobs: one job by its public id, and its stored bytes."""

from __future__ import annotations

from django.core.files.storage import default_storage

from ai_jobs.models import AiJob
from config.errors import KilnError


def ai_job_get(*, job_id: str) -> AiJob:
    """A job by id. The id is the capability (it is in the public image URL), so no
    account check: the routes that use this show nothing but state and pixels."""
    job = AiJob.objects.filter(id=job_id).first()
    if job is None:
        raise KilnError("NOT_FOUND", "no such AI job")
    return job


def ai_job_for_image(*, job_id: str, width: int, height: int) -> AiJob:
    """The job an image URL names; the size in the URL must be the job's."""
    job = ai_job_get(job_id=job_id)
    if (job.width, job.height) != (width, height):
        raise KilnError(
            "NOT_FOUND", f"this job's image is /ai/{job.width}x{job.height}/{job.id}.png"
        )
    return job


def ai_output_read(*, job: AiJob) -> bytes:
    try:
        with default_storage.open(job.output_path, "rb") as stored:
            return stored.read()
    except FileNotFoundError:
        raise KilnError("NOT_FOUND", "the image is gone from storage") from None

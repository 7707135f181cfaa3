"""Reads for webhooks: a job's deliveries, as its account may see them."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch

from accounts.models import Account
from ai_jobs.models import AiJob
from config.errors import KilnError
from renders.models import Batch
from renders.selectors import render_job_get
from webhooks.models import Delivery, DeliveryAttempt


def job_deliveries(*, account: Account, job_id: str) -> list[Delivery]:
    """The deliveries of the job, batch or AI job `job_id` (the id the caller was handed,
    a cache hit's included), oldest first, with their attempts; 404 NOT_FOUND when the
    account has no such job."""
    deliveries = list(
        Delivery.objects.filter(account=account, subject_id=job_id)
        .order_by("created_at")
        .prefetch_related(
            Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number"))
        )
    )
    if not deliveries and not _job_exists(account=account, job_id=job_id):
        raise KilnError("NOT_FOUND", f"no job '{job_id}'")
    return deliveries


def _job_exists(*, account: Account, job_id: str) -> bool:
    if AiJob.objects.filter(account=account, id=job_id).exists():
        return True
    try:
        uuid.UUID(job_id)
    except ValueError:
        return False
    if Batch.objects.filter(account=account, id=job_id).exists():
        return True
    try:
        render_job_get(account=account, job_id=job_id)
    except KilnError:
        return False
    return True

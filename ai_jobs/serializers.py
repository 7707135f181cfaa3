"""Request shape of POST /ai (input) and the JSON answers (output). No business logic."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ai_jobs.models import AiJob
from renders.serializers import StrictCharField

MAX_SEED = 2**31 - 1


class AiSubmitInputSerializer(serializers.Serializer):
    prompt = StrictCharField(min_length=1, max_length=500)
    w = serializers.IntegerField(min_value=1, max_value=100_000)
    h = serializers.IntegerField(min_value=1, max_value=100_000)
    seed = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_SEED
    )
    model = StrictCharField(required=False, max_length=120)
    webhook_url = serializers.URLField(required=False, max_length=2000)


def ai_submit_json(job: AiJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "url": job.image_path,
        "status_url": job.status_path,
        "state": job.state,
        "w": job.width,
        "h": job.height,
        "model": job.model,
    }


def ai_status_json(job: AiJob) -> dict[str, Any]:
    body: dict[str, Any] = {"id": job.id, "state": job.state}
    if job.state == AiJob.State.READY:
        body["url"] = job.image_path
    elif job.state in (AiJob.State.FAILED, AiJob.State.BLOCKED):
        body["error"] = job.error_message
        body["error_code"] = job.error_code
    return body

"""What a delivery says (README, "Webhooks"): the Standard Webhooks envelope

    {"type": "render.completed", "timestamp": "2026-…Z", "data": {…}}

around the JSON the API answers for the job (`data`), with the fields of the reference
service's webhook inside `data` too (`event`, `template`, `format`, `width`, `height`,
`generationTimeMs`), so that handlers written for it keep working. No business logic.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.conf import settings

from ai_jobs.models import AiJob
from ai_jobs.serializers import ai_status_json, ai_submit_json
from renders.models import Batch, RenderJob
from renders.selectors import BatchState
from renders.serializers import batch_json, job_json
from webhooks.models import Delivery

Event = Delivery.Event

# The reference's `event` names where Kiln's type differs (its renders are "generate").
REFERENCE_EVENTS = {
    Event.RENDER_COMPLETED: "generate.completed",
    Event.RENDER_FAILED: "generate.failed",
}


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def event_body(*, event_type: str, data: dict[str, Any], at: datetime) -> str:
    """The body every attempt of a delivery sends (compact JSON, UTF-8)."""
    envelope = {"type": event_type, "timestamp": _iso(at), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, default=str)


def _reference_fields(event_type: str, *, generation_ms: int | None) -> dict[str, Any]:
    return {
        "event": REFERENCE_EVENTS.get(event_type, str(event_type)),
        "generationTimeMs": generation_ms,
    }


def render_event(job: RenderJob) -> tuple[str, dict[str, Any]]:
    """(type, data) for a finished render job, a follower or a cache hit. `template`,
    `format`, `width` and `height` are the job JSON's own fields of those names."""
    succeeded = job.status == RenderJob.Status.SUCCEEDED
    event_type = Event.RENDER_COMPLETED if succeeded else Event.RENDER_FAILED
    data = job_json(job, base_url=settings.KILN_PUBLIC_URL)
    generation_ms = 0 if job.cached else job.generation_ms
    return event_type, {**data, **_reference_fields(event_type, generation_ms=generation_ms)}


def batch_event(batch: Batch, state: BatchState) -> tuple[str, dict[str, Any]]:
    """(type, data) for a batch all of whose sizes are finished: the batch JSON of
    GET /v1/batches/{id}, plus the reference fields (`generationTimeMs` adds up the
    renders' times; cache hits count 0)."""
    data = batch_json(state, batch=batch, base=settings.KILN_PUBLIC_URL)
    total_ms = sum(job.generation_ms or 0 for job in state.jobs if not job.cached)
    first = state.jobs[0] if state.jobs else None
    return Event.BATCH_COMPLETED, {
        **data,
        **_reference_fields(Event.BATCH_COMPLETED, generation_ms=total_ms),
        "format": first.format if first else None,
        "width": None,
        "height": None,
    }


def ai_event(job: AiJob) -> tuple[str, dict[str, Any]]:
    """(type, data) for a finished AI job: its submit and status JSON (URLs absolute
    when KILN_PUBLIC_URL is set); a blocked prompt is `ai.failed` with PROMPT_BLOCKED."""
    event_type = Event.AI_COMPLETED if job.state == AiJob.State.READY else Event.AI_FAILED
    base = settings.KILN_PUBLIC_URL
    data = {**ai_submit_json(job), **ai_status_json(job)}
    for name in ("url", "status_url"):
        if data.get(name):
            data[name] = base + data[name]
    generation_ms = None
    if job.finished_at and (job.started_at or job.created_at):
        started = job.started_at or job.created_at
        generation_ms = max(0, round((job.finished_at - started).total_seconds() * 1000))
    return event_type, {
        **data,
        **_reference_fields(event_type, generation_ms=generation_ms),
        "template": None,
        "format": "png",
        "width": job.width,
        "height": job.height,
    }

"""The JSON of GET /v1/jobs/{id}/deliveries. No business logic."""

from __future__ import annotations

from typing import Any

from webhooks.models import Delivery


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.webhook_id,
        "type": delivery.event_type,
        "url": delivery.url,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": _iso(delivery.next_attempt_at) if delivery.state == "pending" else None,
        "created_at": _iso(delivery.created_at),
        "finished_at": _iso(delivery.finished_at),
        "attempt_log": [
            {
                "number": attempt.number,
                "at": _iso(attempt.started_at),
                "duration_ms": attempt.duration_ms,
                "status": attempt.status,
                "outcome": attempt.outcome,
                "error": attempt.error or None,
                "response_excerpt": attempt.response_excerpt,
            }
            for attempt in delivery.attempt_log.all()
        ],
    }

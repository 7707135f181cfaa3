"""Deliveries through the real farm: the shared test worker renders and sends, a local
receiver verifies each request with the official `standardwebhooks` library."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.factories import svg_document
from tests.support.fixture_http import Reply
from tests.support.processes import wait_until
from webhooks.models import Delivery

pytestmark = pytest.mark.usefixtures("farm")


def unique_svg() -> str:
    return svg_document(fill=f"#{uuid.uuid4().hex[:6]}")


def render(api, receiver, **body):
    response = api.post(
        "/v1/images", {"svg": unique_svg(), "webhook_url": receiver.url, **body}, format="json"
    )
    assert response.status_code in (200, 202), response.content[:500]
    return response.json()


def delivery_of(job_id: str, state: str = "delivered", timeout: float = 30) -> Delivery:
    wait_until(
        lambda: Delivery.objects.filter(subject_id=job_id, state=state).exists(),
        timeout=timeout,
        what=f"a {state} delivery for {job_id}",
    )
    return Delivery.objects.get(subject_id=job_id, state=state)


def test_a_render_is_delivered_signed_on_the_first_try(api, account, receiver_for):
    receiver = receiver_for(account)

    job = render(api, receiver)

    (got,) = receiver.wait_delivered()
    assert got.verified
    event = got.payload
    assert event["type"] == "render.completed"
    assert event["data"]["id"] == job["id"]
    assert event["data"]["status"] == "succeeded"
    # The reference's fields, inside data.
    assert event["data"]["event"] == "generate.completed"
    assert (event["data"]["format"], event["data"]["width"], event["data"]["height"]) == (
        "png",
        320,
        160,
    )
    assert isinstance(event["data"]["generationTimeMs"], int)
    assert event["data"]["template"] is None
    delivery = delivery_of(job["id"])
    assert got.webhook_id == delivery.webhook_id
    assert delivery.attempts == 1
    (attempt,) = delivery.attempt_log.all()
    assert (attempt.status, attempt.outcome, attempt.response_excerpt) == (
        200,
        "delivered",
        '{"ok": true}',
    )


def test_500_then_200_is_two_attempts_under_one_webhook_id(api, account, receiver_for):
    receiver = receiver_for(account, [Reply("busy", status=500)])

    job = render(api, receiver)

    receiver.wait_delivered()
    first, second = receiver.received
    assert first.webhook_id == second.webhook_id
    assert first.verified and second.verified
    assert (first.answered, second.answered) == (500, 200)
    assert first.body == second.body
    delivery = delivery_of(job["id"])
    assert [(a.number, a.status, a.outcome) for a in delivery.attempt_log.all()] == [
        (1, 500, "retry"),
        (2, 200, "delivered"),
    ]
    assert delivery.attempt_log.first().response_excerpt == "busy"


def test_410_gone_stops_the_delivery(api, account, receiver_for):
    receiver = receiver_for(account, [410, 200])

    job = render(api, receiver)

    delivery = delivery_of(job["id"], state="failed")
    time.sleep(1.5)  # past the first retries' delays: nothing more comes
    assert [r.answered for r in receiver.received] == [410]
    assert delivery.attempts == 1
    assert delivery.attempt_log.get().outcome == "gone"

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

pytestmark = pytest.mark.usefixtures("farm", "settled")


def unique_svg() -> str:
    return svg_document(fill=f"#{uuid.uuid4().hex[:6]}")


def render(api, receiver, **body):
    response = api.post(
        "/v1/images", {"svg": unique_svg(), "webhook_url": receiver.url, **body}, format="json"
    )
    assert response.status_code in (200, 202), response.content[:500]
    return response.json()


def delivery_of(
    job_id: str, state: str | None = "delivered", timeout: float = 30, **more
) -> Delivery:
    """The job's delivery, once it is in `state` (any, if None) and matches `more`."""
    rows = Delivery.objects.filter(subject_id=job_id, **more)
    if state is not None:
        rows = rows.filter(state=state)
    wait_until(rows.exists, timeout=timeout, what=f"a {state} delivery {more} for {job_id}")
    return rows.get()


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


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(api, account, receiver_for):
    elsewhere = receiver_for(account)
    receiver = receiver_for(account, [Reply("", status=301, headers={"Location": elsewhere.url})])

    job = render(api, receiver)

    delivery = delivery_of(job["id"])
    assert [(a.status, a.outcome) for a in delivery.attempt_log.all()] == [
        (301, "retry"),
        (200, "delivered"),
    ]
    assert "redirects are not followed" in delivery.attempt_log.first().error
    assert elsewhere.received == []


def test_a_receiver_slower_than_the_timeout_is_retried(api, account, receiver_for):
    receiver = receiver_for(account, [Reply("late", delay=4)])  # the tests' timeout is 2 s

    job = render(api, receiver)

    delivery = delivery_of(job["id"])
    first, second = delivery.attempt_log.all()
    assert (first.status, first.outcome, first.error) == (None, "retry", "timed out after 2s")
    assert 1900 <= first.duration_ms < 3500
    assert second.status == 200
    assert len({r.webhook_id for r in receiver.received}) == 1


def test_retry_after_is_honoured(api, account, receiver_for):
    receiver = receiver_for(account, [Reply("", status=429, headers={"Retry-After": "2"})])

    render(api, receiver)

    receiver.wait_delivered(timeout=30)
    first, second = receiver.received
    # The schedule alone would retry after 0.3 s (±20%).
    assert second.at - first.at >= 1.9


def test_a_spent_schedule_fails_the_delivery(api, account, receiver_for):
    receiver = receiver_for(account, lambda n: 503)

    job = render(api, receiver)

    delivery = delivery_of(job["id"], state="failed", timeout=40)
    attempts = 1 + len(settings_schedule())
    assert delivery.attempts == attempts
    assert [r.answered for r in receiver.received] == [503] * attempts
    assert delivery.last_status == 503


def settings_schedule() -> list[float]:
    from django.conf import settings

    return settings.KILN_WEBHOOK_RETRY_SCHEDULE


def test_a_failed_render_sends_render_failed(api, account, receiver_for, page_site):
    receiver = receiver_for(account)
    logo = page_site.add(f"/{uuid.uuid4().hex}.png", Reply("gone", status=404))

    response = api.post(
        "/v1/images",
        {
            "template": "card",
            "params": {"title": "No logo", "logo": logo},
            "width": 300,
            "height": 160,
            "webhook_url": receiver.url,
        },
        format="json",
    )

    assert response.status_code == 502, response.content[:500]
    (got,) = receiver.wait_delivered()
    event = got.payload
    assert event["type"] == "render.failed"
    assert event["data"]["event"] == "generate.failed"
    assert event["data"]["error"]["code"] == "UPSTREAM_FAILED"
    assert event["data"]["template"] == "card"
    assert event["data"]["generationTimeMs"] is None


# --- every request that asked gets its own delivery ---------------------------------------


def test_cache_hits_are_notified_under_the_id_they_were_handed(
    api, account, receiver_for, client_for
):
    from tests.factories import AccountFactory, api_key_for

    svg = unique_svg()
    receiver = receiver_for(account)
    first = api.post("/v1/images", {"svg": svg, "webhook_url": receiver.url}, format="json").json()
    again = api.post("/v1/images", {"svg": svg, "webhook_url": receiver.url}, format="json").json()
    silent = api.post("/v1/images", {"svg": svg}, format="json").json()
    other = AccountFactory()
    other_receiver = receiver_for(other)
    other_api = client_for(api_key_for(other))
    theirs = other_api.post(
        "/v1/images", {"svg": svg, "webhook_url": other_receiver.url}, format="json"
    ).json()

    assert again["cached"] and silent["cached"] and theirs["cached"]
    assert again["id"] == first["id"] != theirs["id"]  # another account: a masked id
    mine = receiver.wait_delivered(2)
    assert {r.payload["data"]["cached"] for r in mine} == {False, True}
    assert {r.payload["data"]["id"] for r in mine} == {first["id"]}
    assert len({r.webhook_id for r in mine}) == 2
    hit = next(r for r in mine if r.payload["data"]["cached"])
    assert hit.payload["data"]["generationTimeMs"] == 0
    (their_hit,) = other_receiver.wait_delivered()
    assert their_hit.verified and their_hit.payload["data"]["id"] == theirs["id"]
    # A hit without a webhook_url wrote nothing.
    assert Delivery.objects.filter(account=account).count() == 2
    # Each account sees its own deliveries under its own id, and only those.
    listed = other_api.get(f"/v1/jobs/{theirs['id']}/deliveries").json()["deliveries"]
    assert [d["id"] for d in listed] == [their_hit.webhook_id]
    assert api.get(f"/v1/jobs/{theirs['id']}/deliveries").status_code == 404


def test_a_leader_and_its_follower_each_get_a_delivery(api, account, receiver_for):
    from tests.factories import slow_svg_document

    receiver = receiver_for(account)
    body = {"svg": slow_svg_document(layers=200, size=2500), "async": True}

    leader = api.post("/v1/images", {**body, "webhook_url": receiver.url}, format="json").json()
    follower = api.post("/v1/images", {**body, "webhook_url": receiver.url}, format="json").json()

    from renders.models import RenderJob

    assert str(RenderJob.objects.get(id=follower["id"]).follows_id) == leader["id"]
    got = receiver.wait_delivered(2, timeout=60)
    assert {r.payload["data"]["id"] for r in got} == {leader["id"], follower["id"]}
    assert all(r.verified and r.payload["type"] == "render.completed" for r in got)


def test_a_follower_finished_on_arrival_gets_its_delivery(api, account, receiver_for):
    from renders.models import RenderJob
    from renders.services.jobs import _follower_create

    receiver = receiver_for(account)
    leader = RenderJob.objects.get(id=render(api, receiver)["id"])
    fields = {
        name: getattr(leader, name)
        for name in ("account", "project", "kind", "params", "cache_key", "format")
    }

    follower = _follower_create(leader=leader, fields={**fields, "webhook_url": receiver.url})

    assert follower.status == "succeeded"
    got = receiver.wait_delivered(2)
    assert {r.payload["data"]["id"] for r in got} == {str(leader.id), str(follower.id)}


# --- batches ------------------------------------------------------------------------------


def batch(api, receiver, sizes, title: str):
    response = api.post(
        "/v1/batches",
        {
            "template": "card",
            "params": {"title": title},
            "sizes": sizes,
            "webhook_url": receiver.url,
        },
        format="json",
    )
    assert response.status_code == 200, response.content[:500]
    return response.json()


SIZES = [{"name": f"s{n}", "width": 200 + 10 * n, "height": 120} for n in range(4)]


def test_batch_completed_is_sent_once_per_batch(api, account, receiver_for):
    receiver = receiver_for(account)
    title = f"Batch {uuid.uuid4().hex[:6]}"

    rendered = batch(api, receiver, SIZES, title)  # four renders finishing on two processes
    all_hits = batch(api, receiver, SIZES, title)  # every size from the cache
    mixed = batch(api, receiver, [*SIZES[:2], {"name": "new", "width": 333, "height": 99}], title)

    receiver.wait_delivered(3)
    time.sleep(1)  # a second notification of any of them would have come by now
    events = [r.payload for r in receiver.received]
    assert sorted(e["data"]["id"] for e in events) == sorted(
        [rendered["id"], all_hits["id"], mixed["id"]]
    )
    assert {e["type"] for e in events} == {"batch.completed"}
    by_id = {e["data"]["id"]: e["data"] for e in events}
    assert (by_id[rendered["id"]]["done"], by_id[rendered["id"]]["total"]) == (4, 4)
    assert by_id[all_hits["id"]]["generationTimeMs"] == 0
    assert all(r["job"]["cached"] for r in by_id[all_hits["id"]]["results"])
    assert by_id[mixed["id"]]["status"] == "completed"
    assert by_id[rendered["id"]]["event"] == "batch.completed"
    # No per-size deliveries: the batch's own is the one asked for.
    assert Delivery.objects.filter(account=account).count() == 3


def test_an_async_batch_is_announced_after_its_last_size(api, account, receiver_for):
    from renders.models import RenderJob

    receiver = receiver_for(account)
    response = api.post(
        "/v1/batches",
        {
            "template": "card",
            "params": {"title": f"Async {uuid.uuid4().hex[:6]}"},
            "sizes": SIZES,
            "webhook_url": receiver.url,
            "async": True,
        },
        format="json",
    )
    assert response.status_code in (200, 202)

    (got,) = receiver.wait_delivered()
    data = got.payload["data"]
    assert (data["done"], data["total"]) == (4, 4)
    finished = RenderJob.objects.filter(batch_id=data["id"]).values_list("finished_at", flat=True)
    announced = Delivery.objects.get(subject_id=data["id"]).created_at
    assert max(finished) <= announced


# --- AI jobs ---------------------------------------------------------------------------------


def ai_job(account, receiver, state="generating"):
    from ai_jobs.models import AiJob

    return AiJob.objects.create(
        id=uuid.uuid4().hex[:24],
        account=account,
        prompt="a red fox in snow",
        model="black-forest-labs/flux-schnell",
        width=64,
        height=48,
        prediction_id=f"p-{uuid.uuid4().hex[:8]}",
        state=state,
        webhook_url=receiver.url,
    )


def test_an_ai_job_that_is_stored_sends_ai_completed(account, receiver_for, page_site):
    import io

    from PIL import Image

    from ai_jobs.providers import ProviderPrediction
    from ai_jobs.services import ai_prediction_apply

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
    output = page_site.add(
        f"/{uuid.uuid4().hex}.png", Reply(buffer.getvalue(), content_type="image/png")
    )
    receiver = receiver_for(account)
    job = ai_job(account, receiver)

    # The provider reports success: the farm's `ai` worker downloads and stores the output.
    ai_prediction_apply(
        job_id=job.id,
        prediction=ProviderPrediction(id=job.prediction_id, phase="succeeded", output_url=output),
    )

    (got,) = receiver.wait_delivered(timeout=40)
    event = got.payload
    assert got.verified
    assert event["type"] == "ai.completed"
    assert event["data"]["id"] == job.id and event["data"]["state"] == "ready"
    assert event["data"]["url"].endswith(f"/ai/64x48/{job.id}.png")
    assert (event["data"]["format"], event["data"]["width"], event["data"]["height"]) == (
        "png",
        64,
        48,
    )
    assert "fox" not in got.body.decode()  # prompts stay out of webhooks too


@pytest.mark.parametrize(
    ("phase", "code"), [("failed", "UPSTREAM_FAILED"), ("blocked", "PROMPT_BLOCKED")]
)
def test_an_ai_job_that_fails_sends_ai_failed(account, receiver_for, phase, code):
    from ai_jobs.providers import ProviderPrediction
    from ai_jobs.services import ai_prediction_apply

    receiver = receiver_for(account)
    job = ai_job(account, receiver)

    ai_prediction_apply(
        job_id=job.id,
        prediction=ProviderPrediction(id=job.prediction_id, phase=phase, error="no"),
    )

    (got,) = receiver.wait_delivered()
    assert got.payload["type"] == "ai.failed"
    assert got.payload["data"]["error_code"] == code
    assert got.payload["data"]["event"] == "ai.failed"

"""Replicate's webhooks and the provider round trip, in-process: the real `replicate`
client talks to the fake server over HTTP; the tests deliver the fake's signed webhooks to
/ai/replicate-webhook themselves and run the worker's steps (services) directly."""

from __future__ import annotations

import base64
import copy
import io
import json
import time

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from ai_jobs.models import AiJob
from ai_jobs.services import (
    ai_job_poll,
    ai_job_submit,
    ai_jobs_poll,
    ai_output_store,
    ai_prediction_start,
)
from tests.support.fake_replicate import MODEL_ERROR, NSFW_ERROR

pytestmark = pytest.mark.usefixtures("ai_settings")

WEBHOOK = "/ai/replicate-webhook"


def started_job(account, fake, prompt: str, **size) -> tuple[AiJob, dict]:
    """A job whose prediction the fake has finished (no webhook sent: no public URL)."""
    job = ai_job_submit(
        account=account, prompt=prompt, width=size.get("w", 256), height=size.get("h", 256)
    )
    assert ai_prediction_start(job_id=job.id) == "submitted"
    job.refresh_from_db()
    prediction = fake.predictions[job.prediction_id]
    deadline = time.monotonic() + 10
    while prediction["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return job, prediction


def body_of(prediction: dict, status: str) -> bytes:
    """The webhook body Replicate sends for `status` (a snapshot of the prediction)."""
    snapshot = {k: v for k, v in copy.deepcopy(prediction).items() if not k.startswith("webhook")}
    snapshot["status"] = status
    if status == "processing":
        snapshot.update(output=None, error=None, completed_at=None)
    return json.dumps(snapshot).encode()


def deliver(client, body: bytes, headers: dict[str, str], job_id: str = ""):
    query = f"?job={job_id}" if job_id else ""
    return client.post(
        f"{WEBHOOK}{query}",
        data=body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "content-type"},
    )


def test_the_prediction_is_created_for_the_model_with_fitted_input(
    ai_account, fake_replicate, ai_settings
):
    ai_settings.KILN_PUBLIC_URL = "https://kiln.example"
    job = ai_job_submit(account=ai_account, prompt="wide fox", width=1200, height=630, seed=7)

    ai_prediction_start(job_id=job.id)

    (create,) = fake_replicate.creates_for("wide fox")
    assert create["model"] == "black-forest-labs/flux-schnell"
    assert create["body"]["input"] == {
        "prompt": "wide fox",
        "output_format": "png",
        "seed": 7,
        "aspect_ratio": "16:9",
        "num_outputs": 1,
        "megapixels": "1",
    }
    assert create["body"]["webhook"] == f"https://kiln.example/ai/replicate-webhook?job={job.id}"
    assert create["body"]["webhook_events_filter"] == ["start", "completed"]
    job.refresh_from_db()
    assert job.prediction_id and job.state == "pending"


def test_a_second_delivery_of_the_create_task_creates_nothing(ai_account, fake_replicate):
    job = ai_job_submit(account=ai_account, prompt="once only", width=256, height=256)

    first = ai_prediction_start(job_id=job.id)
    second = ai_prediction_start(job_id=job.id)

    assert (first, second) == ("submitted", "not claimed")
    assert len(fake_replicate.creates_for("once only")) == 1


def test_start_then_completed_makes_the_job_ready_with_the_output_in_kiln_storage(
    ai_account, fake_replicate, client, django_capture_on_commit_callbacks
):
    job, prediction = started_job(ai_account, fake_replicate, "fox in order", w=320, h=192)

    start = deliver(client, body_of(prediction, "processing"), fake_replicate.sign(b"x"))
    assert start.status_code == 401  # signed for another body
    body = body_of(prediction, "processing")
    assert deliver(client, body, fake_replicate.sign(body)).status_code == 200
    assert AiJob.objects.get(id=job.id).state == "generating"
    with django_capture_on_commit_callbacks() as callbacks:
        body = body_of(prediction, "succeeded")
        assert deliver(client, body, fake_replicate.sign(body)).status_code == 200
    assert len(callbacks) == 1  # the download task
    assert ai_output_store(job_id=job.id) == "ready"

    job.refresh_from_db()
    assert job.state == "ready"
    assert job.output_path == f"ai/{job.id[:2]}/{job.id[2:4]}/{job.id}.png"
    with default_storage.open(job.output_path, "rb") as stored:
        assert Image.open(io.BytesIO(stored.read())).size == (320, 192)
    status = client.get(f"/ai/{job.id}/status").json()
    assert status == {"id": job.id, "state": "ready", "url": f"/ai/320x192/{job.id}.png"}
    image = client.get(status["url"])
    assert image.status_code == 200
    assert image["Cache-Control"] == "public, max-age=31536000, immutable"
    assert image["ETag"] == f'"{job.id}"'
    assert client.get(status["url"], HTTP_IF_NONE_MATCH=f'"{job.id}"').status_code == 304
    # Kiln never hands out the provider's URL.
    assert fake_replicate.url not in json.dumps(status)
    assert fake_replicate.secret_requests >= 1  # no secret configured: fetched from the API


def test_completed_before_start_ends_ready_and_the_late_start_changes_nothing(
    ai_account, fake_replicate, client, django_capture_on_commit_callbacks
):
    job, prediction = started_job(ai_account, fake_replicate, "fox reversed")
    completed = body_of(prediction, "succeeded")
    start = body_of(prediction, "processing")

    with django_capture_on_commit_callbacks():
        deliver(client, completed, fake_replicate.sign(completed))
    ai_output_store(job_id=job.id)
    late = deliver(client, start, fake_replicate.sign(start))

    assert late.status_code == 200
    job.refresh_from_db()
    assert job.state == "ready"
    assert job.started_at is not None


def test_duplicate_and_replayed_webhooks_are_harmless(
    ai_account, fake_replicate, client, django_capture_on_commit_callbacks
):
    job, prediction = started_job(ai_account, fake_replicate, "fox twice")
    completed = body_of(prediction, "succeeded")
    headers = fake_replicate.sign(completed)

    with django_capture_on_commit_callbacks() as callbacks:
        first = deliver(client, completed, headers)
        duplicate = deliver(client, completed, headers)
    assert [first.status_code, duplicate.status_code] == [200, 200]
    assert len(callbacks) == 1  # one download, however many deliveries
    ai_output_store(job_id=job.id)
    finished = AiJob.objects.get(id=job.id)
    with django_capture_on_commit_callbacks() as callbacks:
        replay = deliver(client, completed, headers)
        failed = body_of(prediction, "failed")
        late_failure = deliver(client, failed, fake_replicate.sign(failed))

    assert [replay.status_code, late_failure.status_code] == [200, 200]
    assert callbacks == []
    again = AiJob.objects.get(id=job.id)
    assert (again.state, again.finished_at) == ("ready", finished.finished_at)


@pytest.mark.parametrize(
    "problem", ["unsigned", "bad signature", "wrong secret", "stale", "future"]
)
def test_unsigned_badly_signed_or_stale_webhooks_are_refused_and_change_nothing(
    ai_account, fake_replicate, client, problem, django_capture_on_commit_callbacks
):
    job, prediction = started_job(ai_account, fake_replicate, f"fox {problem}")
    body = body_of(prediction, "succeeded")
    headers = fake_replicate.sign(body)
    if problem == "unsigned":
        headers = {}
    elif problem == "bad signature":
        headers["webhook-signature"] = "v1,AAAA" + headers["webhook-signature"][7:]
    elif problem == "wrong secret":
        headers = fake_replicate.sign(body, secret="whsec_" + "QUJD" * 8)
    elif problem == "stale":
        headers = fake_replicate.sign(body, timestamp=int(time.time()) - 301)
    else:
        headers = fake_replicate.sign(body, timestamp=int(time.time()) + 301)
    before = AiJob.objects.get(id=job.id)

    with django_capture_on_commit_callbacks() as callbacks:
        response = deliver(client, body, headers, job_id=job.id)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert callbacks == []
    after = AiJob.objects.get(id=job.id)
    assert (after.state, after.output_url, after.last_event_at) == (
        before.state,
        before.output_url,
        before.last_event_at,
    )


def test_one_valid_signature_among_several_is_enough(ai_account, fake_replicate, client):
    job, prediction = started_job(ai_account, fake_replicate, "fox rotating secret")
    body = body_of(prediction, "processing")
    headers = fake_replicate.sign(body)
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]

    assert deliver(client, body, headers).status_code == 200
    assert AiJob.objects.get(id=job.id).state == "generating"


def test_a_webhook_that_beats_the_recorded_prediction_id_finds_its_job(
    ai_account, fake_replicate, client
):
    job, prediction = started_job(ai_account, fake_replicate, "fox early webhook")
    # As if the webhook arrived between the provider's answer and our UPDATE.
    AiJob.objects.filter(id=job.id).update(prediction_id="")
    body = body_of(prediction, "processing")

    assert deliver(client, body, fake_replicate.sign(body), job_id=job.id).status_code == 200
    job.refresh_from_db()
    assert (job.prediction_id, job.state) == (prediction["id"], "generating")


def test_a_safety_refusal_blocks_the_job_with_a_422_glyph(ai_account, fake_replicate, client):
    job, prediction = started_job(ai_account, fake_replicate, "[nsfw] fox")
    body = body_of(prediction, "failed")
    deliver(client, body, fake_replicate.sign(body))

    job.refresh_from_db()
    assert (job.state, job.error_code) == ("blocked", "PROMPT_BLOCKED")
    status = client.get(f"/ai/{job.id}/status").json()
    assert status["state"] == "blocked"
    assert status["error"] == NSFW_ERROR
    image = client.get(job.image_path, HTTP_ACCEPT="image/avif,image/webp,image/*,*/*;q=0.8")
    assert image.status_code == 422
    assert image["Content-Type"] == "image/png"
    assert image["X-AI-State"] == "blocked"
    as_json = client.get(job.image_path, HTTP_ACCEPT="application/json")
    assert as_json.json()["error"]["code"] == "PROMPT_BLOCKED"


def test_a_provider_failure_fails_the_job_with_the_providers_message(
    ai_account, fake_replicate, client
):
    job, prediction = started_job(ai_account, fake_replicate, "[fail] fox")
    body = body_of(prediction, "failed")
    deliver(client, body, fake_replicate.sign(body))

    status = client.get(f"/ai/{job.id}/status").json()
    assert status == {
        "id": job.id,
        "state": "failed",
        "error": MODEL_ERROR,
        "error_code": "UPSTREAM_FAILED",
    }
    image = client.get(job.image_path, HTTP_ACCEPT="image/*")
    assert image.status_code == 502
    assert image["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    ("marker", "code", "words"),
    [("[huge]", "TOO_LARGE", "1000000"), ("[html]", "UPSTREAM_FAILED", "not an image")],
)
def test_an_output_too_large_or_not_an_image_fails_the_job(
    ai_account, fake_replicate, client, marker, code, words, django_capture_on_commit_callbacks
):
    job, prediction = started_job(ai_account, fake_replicate, f"{marker} fox")
    body = body_of(prediction, "succeeded")
    with django_capture_on_commit_callbacks():
        deliver(client, body, fake_replicate.sign(body))

    assert ai_output_store(job_id=job.id) == "failed"
    job.refresh_from_db()
    assert (job.state, job.error_code) == ("failed", code)
    assert words in job.error_message
    assert not default_storage.exists(f"ai/{job.id[:2]}/{job.id[2:4]}/{job.id}.png")


def test_polling_finishes_a_job_whose_webhooks_never_came(
    ai_account, fake_replicate, django_capture_on_commit_callbacks
):
    job, _ = started_job(ai_account, fake_replicate, "fox unheard")

    with django_capture_on_commit_callbacks():
        assert ai_job_poll(job_id=job.id) == "succeeded"
    assert ai_output_store(job_id=job.id) == "ready"


def test_the_poller_fails_jobs_past_their_maximum_age_and_rescues_quiet_ones(
    ai_account, fake_replicate, ai_settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    ai_settings.KILN_AI_MAX_AGE = 600
    ai_settings.KILN_AI_POLL_AFTER = 30
    old = ai_job_submit(account=ai_account, prompt="ancient fox", width=256, height=256)
    quiet = ai_job_submit(account=ai_account, prompt="quiet fox", width=256, height=256)
    fresh = ai_job_submit(account=ai_account, prompt="fresh fox", width=256, height=256)
    now = timezone.now()
    AiJob.objects.filter(id=old.id).update(enqueued_at=now - timedelta(seconds=601))
    AiJob.objects.filter(id=quiet.id).update(last_event_at=now - timedelta(seconds=31))

    with django_capture_on_commit_callbacks(execute=False):
        counts = ai_jobs_poll()

    assert counts == {"expired": 1, "create": 1}
    old.refresh_from_db()
    assert (old.state, old.error_code) == ("failed", "RENDER_TIMEOUT")
    assert AiJob.objects.get(id=fresh.id).state == "pending"
    # Rescued once: a second round right after leaves it alone.
    assert ai_jobs_poll() == {}


@pytest.fixture
def eager_tasks():
    """Tasks run in this process, as in the embedded default (no Redis, no beat)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.usefixtures("eager_tasks")
def test_without_webhooks_a_status_read_of_a_quiet_job_polls_it(
    ai_account, fake_replicate, client, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    job, _ = started_job(ai_account, fake_replicate, "fox on a laptop")
    AiJob.objects.filter(id=job.id).update(last_event_at=timezone.now() - timedelta(seconds=3))

    with django_capture_on_commit_callbacks(execute=True):
        client.get(f"/ai/{job.id}/status")

    assert client.get(f"/ai/{job.id}/status").json()["state"] == "ready"


def test_anonymous_webhooks_cannot_make_kiln_call_the_provider_over_and_over(
    client, fake_replicate
):
    """No secret configured and the provider's secret endpoint failing: the first forged
    webhook costs one request to the provider, with a short timeout and no retries; the
    next ones, with fresh timestamps, cost none and answer 401 at once (the failure is
    remembered for a minute)."""

    def forged(n: int):
        headers = {
            "webhook-id": f"msg_forged_{n}",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode(),
        }
        started = time.monotonic()
        answer = deliver(client, b'{"id": "forged", "status": "succeeded"}', headers)
        return answer.status_code, time.monotonic() - started

    fake_replicate.secret_status = 503
    before = fake_replicate.secret_requests
    try:
        first = forged(0)
        after_first = fake_replicate.secret_requests
        later = [forged(n) for n in range(1, 5)]
    finally:
        fake_replicate.secret_status = 200

    assert first[0] == 401 and after_first - before == 1 and first[1] < 6
    assert [status for status, _ in later] == [401] * 4
    assert fake_replicate.secret_requests == after_first  # nobody asked the provider again
    assert max(took for _, took in later) < 0.5

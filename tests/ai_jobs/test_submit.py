"""POST /ai and the public routes of a job that has not been generated yet (in-process;
nothing reaches the queue: these tests look at what would be enqueued)."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from accounts.models import ApiKey
from ai_jobs.models import AiJob
from tests.factories import AccountFactory, PlanFactory, api_key_for

pytestmark = pytest.mark.usefixtures("ai_settings")

BODY = {"prompt": "a red fox in snow, cinematic lighting", "w": 512, "h": 512}


def test_submit_answers_a_stable_url_and_status_url(ai_api):
    response = ai_api.post("/ai", BODY, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["id"]) == 24
    assert body["url"] == f"/ai/512x512/{body['id']}.png"
    assert body["status_url"] == f"/ai/{body['id']}/status"
    assert body["state"] == "pending"
    assert body["model"] == "black-forest-labs/flux-schnell"
    assert "fox" not in body["url"] + body["status_url"]


def test_resubmitting_the_same_body_returns_the_same_job_and_queues_nothing(
    ai_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as first_callbacks:
        first = ai_api.post("/ai", BODY, format="json").json()
    with django_capture_on_commit_callbacks() as second_callbacks:
        second = ai_api.post("/ai", {**BODY, "prompt": f"  {BODY['prompt']} "}, format="json")

    assert second.json()["id"] == first["id"]
    assert len(first_callbacks) == 1  # the prediction task
    assert second_callbacks == []
    assert AiJob.objects.count() == 1


def test_a_different_seed_size_or_model_is_a_different_job(pro_account, client_for):
    api = client_for(api_key_for(pro_account))
    ids = {
        api.post("/ai", body, format="json").json()["id"]
        for body in (
            BODY,
            {**BODY, "seed": 42},
            {**BODY, "w": 768},
            {**BODY, "model": "black-forest-labs/flux-dev"},
        )
    }
    assert len(ids) == 4


def test_the_same_body_from_another_account_is_another_job(ai_api, client_for, ai_account):
    other = AccountFactory(plan=ai_account.plan)
    mine = ai_api.post("/ai", BODY, format="json").json()["id"]
    theirs = client_for(api_key_for(other)).post("/ai", BODY, format="json").json()["id"]
    assert mine != theirs


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "prompt": ""}, "prompt"),
        ({**BODY, "prompt": "   "}, "prompt"),
        ({**BODY, "prompt": "x" * 501}, "prompt"),
        ({**BODY, "prompt": 12}, "prompt"),
        ({"prompt": "fox", "h": 512}, "w"),
        ({**BODY, "w": 0}, "w"),
        ({**BODY, "seed": -1}, "seed"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(ai_api, body, field):
    response = ai_api.post("/ai", body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert field in error["details"]


def test_a_500_character_prompt_is_accepted(ai_api):
    assert ai_api.post("/ai", {**BODY, "prompt": "y" * 500}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("model", "asked", "fitted"),
    [
        ("black-forest-labs/flux-schnell", (3000, 1000), (1440, 480)),
        ("black-forest-labs/flux-schnell", (100, 37), (96, 64)),
        ("black-forest-labs/flux-schnell", (513, 511), (512, 512)),
        ("black-forest-labs/flux-1.1-pro", (500, 300), (512, 288)),
        ("black-forest-labs/flux-1.1-pro", (100, 100), (256, 256)),
    ],
)
def test_dimensions_are_clamped_and_rounded_to_what_the_model_accepts(
    pro_account, client_for, model, asked, fitted
):
    api = client_for(api_key_for(pro_account))
    body = api.post("/ai", {**BODY, "model": model, "w": asked[0], "h": asked[1]}, format="json")

    assert body.status_code == 200, body.content
    assert (body.json()["w"], body.json()["h"]) == fitted
    assert body.json()["url"].startswith(f"/ai/{fitted[0]}x{fitted[1]}/")


def test_a_plan_without_ai_is_tier_locked(client_for, db):
    account = AccountFactory(plan=PlanFactory(slug="no-ai", ai_allowed=False))
    response = client_for(api_key_for(account)).post("/ai", BODY, format="json")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "TIER_LOCKED"
    assert not AiJob.objects.exists()


def test_a_pro_model_needs_a_plan_with_pro_ai(ai_api, pro_account, client_for):
    pro_body = {**BODY, "model": "black-forest-labs/flux-1.1-pro"}
    locked = ai_api.post("/ai", pro_body, format="json")
    allowed = client_for(api_key_for(pro_account)).post("/ai", pro_body, format="json")

    assert locked.status_code == 402
    assert locked.json()["error"]["code"] == "TIER_LOCKED"
    assert allowed.status_code == 200


def test_an_unknown_model_is_refused_listing_the_models(ai_api):
    response = ai_api.post("/ai", {**BODY, "model": "someone/else"}, format="json")

    assert response.status_code == 400
    assert "black-forest-labs/flux-schnell" in response.json()["error"]["details"]["model"]


def test_submitting_needs_a_secret_key(client_for, ai_account):
    publishable = api_key_for(ai_account, kind=ApiKey.Kind.PUBLISHABLE)

    assert client_for(None).post("/ai", BODY, format="json").status_code == 401
    assert client_for(publishable).post("/ai", BODY, format="json").status_code == 403


def test_the_prompt_is_never_logged(ai_api, caplog):
    prompt = "a secret launch codename lighthouse-omega"
    with caplog.at_level(logging.DEBUG):
        ai_api.post("/ai", {**BODY, "prompt": prompt}, format="json")

    assert "lighthouse-omega" not in caplog.text
    assert "sha256:" in caplog.text  # the fingerprint stands in for it


def test_a_pending_job_shows_its_placeholder_with_short_cache_headers(ai_api, client):
    job = ai_api.post("/ai", {**BODY, "w": 320, "h": 192}, format="json").json()

    image = client.get(job["url"], HTTP_ACCEPT="image/png")
    status = client.get(job["status_url"])

    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image["X-AI-State"] == "pending"
    assert image["Cache-Control"] == "public, max-age=5"
    assert Image.open(io.BytesIO(image.content)).size == (320, 192)
    assert client.get(job["url"]).content == image.content  # stable while pending
    assert status.json() == {"id": job["id"], "state": "pending"}
    assert status["Cache-Control"] == "no-store"


def test_an_image_url_with_the_wrong_size_or_id_is_not_found(ai_api, client):
    job = ai_api.post("/ai", BODY, format="json").json()

    wrong_size = client.get(f"/ai/64x64/{job['id']}.png", HTTP_ACCEPT="image/*")
    unknown = client.get(f"/ai/512x512/{'0' * 24}.png", HTTP_ACCEPT="application/json")

    assert wrong_size.status_code == 404
    assert wrong_size["Content-Type"] == "image/png"  # a glyph, for <img>
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "NOT_FOUND"
    assert client.get(f"/ai/{'0' * 24}/status").status_code == 404


def test_cross_origin_pages_may_submit_and_poll(ai_api, client):
    preflight = client.options(
        "/ai",
        HTTP_ORIGIN="https://blog.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    job = ai_api.post("/ai", BODY, format="json", HTTP_ORIGIN="https://blog.example")
    status = client.get(job.json()["status_url"], HTTP_ORIGIN="https://blog.example")

    assert preflight.status_code == 204
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert job["Access-Control-Allow-Origin"] == "*"
    assert status["Access-Control-Allow-Origin"] == "*"


def test_without_a_provider_submitting_says_which_setting_and_creates_nothing(ai_api, settings):
    settings.REPLICATE_API_TOKEN = ""
    jobs = AiJob.objects.count()

    response = ai_api.post("/ai", BODY, format="json")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "UNAVAILABLE" and "REPLICATE_API_TOKEN" in error["message"]
    assert AiJob.objects.count() == jobs

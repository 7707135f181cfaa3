"""Untrusted targets (refused at submit and at connect), the deliveries API, the admin's
redeliver, the secret command and its rotation, and secrets kept out of logs."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command

from ai_jobs.models import AiJob
from renders.models import Batch, RenderJob
from tests.factories import AccountFactory, PlanFactory, api_key_for, svg_document
from tests.support.fixture_http import FixtureServer
from tests.webhooks.test_deliveries import delivery_of, render
from webhooks.models import Delivery, RetiredSecret
from webhooks.services import webhook_secret_rotate

pytestmark = pytest.mark.usefixtures("farm", "settled")

PRIVATE = [
    ("http://10.0.0.1/hook", 403, "HOST_NOT_ALLOWED"),
    ("http://127.0.0.1:8000/hook", 403, "HOST_NOT_ALLOWED"),
    ("http://localhost/hook", 403, "HOST_NOT_ALLOWED"),
    ("http://169.254.169.254/latest/meta-data", 403, "HOST_NOT_ALLOWED"),
    ("http://[::1]/hook", 403, "HOST_NOT_ALLOWED"),
    ("http://192.168.1.10:8080/hook", 403, "HOST_NOT_ALLOWED"),
    ("ftp://example.com/hook", 400, "VALIDATION_FAILED"),
    ("http://example.com:25/hook", 400, "VALIDATION_FAILED"),
]


@pytest.mark.parametrize(("url", "status", "code"), PRIVATE)
def test_private_targets_are_refused_at_submit_and_nothing_is_made(
    api, client_for, account, url, status, code
):
    ai_api = client_for(api_key_for(AccountFactory(plan=PlanFactory(ai_allowed=True))))
    requests = [
        (api, "/v1/images", {"svg": svg_document()}),
        (api, "/v1/batches", {"template": "card", "params": {"title": "x"}, "sizes": ["og"]}),
        (api, "/v1/screenshots", {"url": "https://example.com/"}),
        (ai_api, "/ai", {"prompt": "a fox", "w": 64, "h": 64}),
    ]
    for client, path, body in requests:
        response = client.post(path, {**body, "webhook_url": url}, format="json")

        assert response.status_code == status, (path, response.content[:300])
        assert response.json()["error"]["code"] == code
    assert RenderJob.objects.count() == Batch.objects.count() == AiJob.objects.count() == 0


def test_hosts_outside_the_allow_list_are_refused_at_submit(api, settings):
    settings.KILN_ALLOWED_HOSTS = ["hooks.example.com"]

    refused = api.post(
        "/v1/images",
        {"svg": svg_document(), "webhook_url": "https://elsewhere.example.com/hook"},
        format="json",
    )

    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "host_not_allowed:elsewhere.example.com"


def test_a_target_that_became_forbidden_is_refused_when_connecting(
    api, account, page_site, settings
):
    """The worker checks the address again when it connects: here the target passed at
    submit (this process lets it through) and is refused by the worker (its policy does
    not), as a name whose DNS changed to an inside address would be. The engine tests
    do the same with a real name that resolves to loopback."""
    trap = FixtureServer("127.0.0.1").start()
    try:
        settings.KILN_GUARD_TEST_ENDPOINTS = [page_site.endpoint, trap.endpoint]
        url = trap.url("/hook")

        job = api.post("/v1/images", {"svg": svg_document(), "webhook_url": url}, format="json")

        assert job.status_code == 200, job.content[:300]
        delivery = delivery_of(job.json()["id"], state="failed")
        attempt = delivery.attempt_log.get()
        assert (attempt.outcome, attempt.status) == ("refused", None)
        assert attempt.error == "forbidden_address:127.0.0.1"
        assert trap.hits == []
    finally:
        trap.stop()


# --- the API ----------------------------------------------------------------------------


def test_the_deliveries_api_lists_attempts_and_hides_other_accounts(
    api, account, receiver_for, client_for
):
    from tests.support.fixture_http import Reply

    receiver = receiver_for(account, [Reply("busy", status=503)])
    job = render(api, receiver)
    delivery_of(job["id"])

    body = api.get(f"/v1/jobs/{job['id']}/deliveries").json()

    (listed,) = body["deliveries"]
    assert body["job"] == job["id"]
    assert listed["id"] == receiver.received[0].webhook_id
    assert (listed["type"], listed["state"], listed["attempts"]) == (
        "render.completed",
        "delivered",
        2,
    )
    assert listed["url"] == receiver.url
    assert [(a["number"], a["status"], a["outcome"]) for a in listed["attempt_log"]] == [
        (1, 503, "retry"),
        (2, 200, "delivered"),
    ]
    assert listed["attempt_log"][0]["response_excerpt"] == "busy"
    assert listed["attempt_log"][0]["error"] == "HTTP 503"
    # A job that asked for nothing has none; unknown and foreign ids are 404.
    plain = api.post("/v1/images", {"svg": svg_document(fill="#123456")}, format="json").json()
    assert api.get(f"/v1/jobs/{plain['id']}/deliveries").json()["deliveries"] == []
    other = client_for(api_key_for(AccountFactory()))
    assert other.get(f"/v1/jobs/{job['id']}/deliveries").status_code == 404
    assert api.get(f"/v1/jobs/{uuid.uuid4()}/deliveries").status_code == 404
    assert api.get("/v1/jobs/not-a-job/deliveries").status_code == 404


def test_admin_redeliver_sends_the_same_webhook_id_again(api, account, receiver_for, admin_client):
    receiver = receiver_for(account)
    job = render(api, receiver)
    delivery = delivery_of(job["id"])

    page = admin_client.get(f"/admin/webhooks/delivery/{delivery.id}/change/")
    response = admin_client.post(
        "/admin/webhooks/delivery/",
        {"action": "redeliver", "_selected_action": [str(delivery.id)]},
    )

    assert page.status_code == 200 and delivery.webhook_id in page.content.decode()
    assert response.status_code == 302
    receiver.wait_requests(2)
    first, second = receiver.received
    assert first.webhook_id == second.webhook_id and first.body == second.body
    assert second.verified
    delivery_of(job["id"])
    assert Delivery.objects.get(id=delivery.id).attempts == 2


# --- secrets --------------------------------------------------------------------------


def test_during_a_rotation_both_secrets_verify_then_only_the_new_one(api, account, receiver_for):
    old = account.webhook_secret
    new = webhook_secret_rotate(account=account, grace_seconds=3600)
    receiver = receiver_for(account, secrets=[old, new])

    render(api, receiver)
    (during,) = receiver.wait_delivered()

    RetiredSecret.objects.filter(account=account).update(expires_at="2000-01-01T00:00:00Z")
    render(api, receiver)
    receiver.wait_delivered(2)
    after = receiver.received[-1]

    assert new != old
    assert during.verified_by == (0, 1)  # two signatures: either secret verifies
    assert len(during.signature.split(" ")) == 2
    assert after.verified_by == (1,)  # the grace period is over: the new secret only


def test_the_secret_command_shows_and_rotates(account):
    shown, rotated = io.StringIO(), io.StringIO()

    call_command("kiln_webhook_secret", "show", account=account.slug, stdout=shown)
    call_command("kiln_webhook_secret", "rotate", account=account.slug, grace=600, stdout=rotated)

    account.refresh_from_db()
    assert shown.getvalue().strip() == RetiredSecret.objects.get(account=account).secret
    new, retired = rotated.getvalue().strip().splitlines()
    assert new == account.webhook_secret != shown.getvalue().strip()
    assert retired.startswith(shown.getvalue().strip() + " (retired, signs until ")
    assert new.startswith("whsec_") and len(new) == 50


def test_secrets_and_signatures_never_reach_the_logs(api, account, receiver_for, farm):
    from tests.support.fixture_http import Reply

    receiver = receiver_for(account, [Reply("no", status=500)])
    job = render(api, receiver)
    delivery_of(job["id"])

    logs = farm.output()
    assert receiver.received and delivery_of(job["id"]).webhook_id in logs
    assert account.webhook_secret not in logs
    assert account.webhook_secret.removeprefix("whsec_")[:20] not in logs
    for got in receiver.received:
        for signature in got.signature.split(" "):
            assert signature.split(",")[1] not in logs

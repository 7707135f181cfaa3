"""Who may call what: 401 without a live key, 403 for the wrong key or project."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from renders.models import RenderJob
from tests.factories import AccountFactory, ProjectFactory, api_key_for, svg_document

pytestmark = pytest.mark.django_db

NO_JOB = "00000000-0000-0000-0000-000000000000"
SVG_BODY = {"svg": svg_document(), "async": True}


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_missing_key_is_401(client_for):
    response = client_for(None).post("/v1/images", SVG_BODY, format="json")

    assert_error(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer kiln_sk_nonsense", "Basic dXNlcjpwYXNz", "Bearer", "kiln_sk_abc"]
)
def test_invalid_credentials_are_401(client, header):
    response = client.post(
        "/v1/images", SVG_BODY, content_type="application/json", HTTP_AUTHORIZATION=header
    )

    assert_error(response, 401, "UNAUTHORIZED")


def test_revoked_key_is_401(client_for, account):
    api_key, raw_key = api_key_create(account=account)
    api_key_revoke(api_key=api_key)

    assert_error(client_for(raw_key).get(f"/v1/jobs/{NO_JOB}"), 401, "UNAUTHORIZED")


def test_expired_key_is_401(client_for, account):
    raw_key = api_key_for(account, expires_at=timezone.now() - timedelta(minutes=1))

    assert_error(client_for(raw_key).get(f"/v1/jobs/{NO_JOB}"), 401, "UNAUTHORIZED")


def test_publishable_key_cannot_use_secret_routes(client_for, account):
    raw_key = api_key_for(account, kind=ApiKey.Kind.PUBLISHABLE)

    assert_error(client_for(raw_key).post("/v1/images", SVG_BODY, format="json"), 403, "FORBIDDEN")
    assert RenderJob.objects.count() == 0


def test_key_scoped_to_another_project_is_403(client_for, account):
    own, other = ProjectFactory(account=account), ProjectFactory(account=account)
    raw_key = api_key_for(account, project=own)

    response = client_for(raw_key).post(
        "/v1/images", {**SVG_BODY, "project": other.slug}, format="json"
    )

    assert_error(response, 403, "FORBIDDEN")
    assert RenderJob.objects.count() == 0


def test_unknown_project_is_404(api):
    response = api.post("/v1/images", {**SVG_BODY, "project": "nope"}, format="json")

    assert_error(response, 404, "NOT_FOUND")


def test_query_key_is_refused_on_json_routes(client, secret_key):
    response = client.get(f"/v1/jobs/{NO_JOB}?api_key={secret_key}")

    assert_error(response, 401, "UNAUTHORIZED")


def test_query_key_and_publishable_key_work_on_the_image_route(client, account):
    job = RenderJob.objects.create(
        account=account, kind="svg", cache_key="0" * 64, format="png", status="queued"
    )
    publishable = api_key_for(account, kind=ApiKey.Kind.PUBLISHABLE)

    response = client.get(f"/v1/jobs/{job.id}/image?api_key={publishable}")

    assert response.status_code == 202  # known, not yet rendered
    assert response.json()["status"] == "queued"


def test_per_minute_limit_is_429_with_retry_after(client_for):
    account = AccountFactory(plan__slug="tiny", plan__requests_per_minute=2)
    api = client_for(api_key_for(account))

    statuses = [api.get(f"/v1/jobs/{NO_JOB}").status_code for _ in range(3)]

    assert statuses == [404, 404, 429]
    response = api.get(f"/v1/jobs/{NO_JOB}")
    assert_error(response, 429, "RATE_LIMITED")
    assert 0 < int(response["Retry-After"]) <= 60


def test_monthly_quota_is_402(client_for):
    account = AccountFactory(plan__slug="zero", plan__monthly_images=0)

    response = client_for(api_key_for(account)).post("/v1/images", SVG_BODY, format="json")

    assert_error(response, 402, "QUOTA_EXCEEDED")
    assert response["X-RateLimit-Remaining"] == "0"

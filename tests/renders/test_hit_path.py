"""The hit path: what a cache hit costs and how long anything cached in-process lives."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey
from renders.models import RenderJob, Template
from renders.services.templates import template_digest
from tests.factories import api_key_for

pytestmark = pytest.mark.usefixtures("farm")


def og(api, key: str, title: str, **headers):
    return api.get(f"/og/blog-post.png?title={title}&api_key={key}", **headers)


def test_a_public_route_hit_makes_no_database_statement(api, account, settings):
    settings.KILN_LOCAL_CACHE_SECONDS = 60
    key = api_key_for(account, kind="publishable")
    first = og(api, key, "Zero writes")
    assert first.status_code == 200
    rows = RenderJob.objects.count()

    with CaptureQueriesContext(connection) as queries:
        again = og(api, key, "Zero writes")

    assert again.status_code == 200 and again.content == first.content
    assert queries.captured_queries == []
    assert RenderJob.objects.count() == rows


def test_if_none_match_with_the_bytes_digest_is_304(api, account):
    key = api_key_for(account, kind="publishable")
    first = og(api, key, "Etag please")

    again = og(api, key, "Etag please", HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert again["ETag"] == first["ETag"]


def test_force_with_new_bytes_changes_the_etag_and_the_old_one_gets_200(api):
    # A page that paints itself a new colour every time it is rendered.
    html = (
        "<body style='margin:0'><script>document.body.style.background='#'+"
        "Math.floor(Math.random()*0xffffff).toString(16).padStart(6,'0')</script></body>"
    )
    body = {"html": html, "width": 40, "height": 40}
    first = api.post("/v1/images", body, format="json", HTTP_ACCEPT="image/png")
    forced = api.post(
        "/v1/images",
        {**body, "force": True},
        format="json",
        HTTP_ACCEPT="image/png",
        HTTP_IF_NONE_MATCH=first["ETag"],
    )

    assert first.status_code == 200 and forced.status_code == 200
    assert forced.content != first.content
    assert forced["ETag"] != first["ETag"]
    job = api.post("/v1/images", body, format="json").json()  # a hit now
    stale = api.get(job["image_url"], HTTP_IF_NONE_MATCH=first["ETag"])
    assert stale.status_code == 200 and stale.content == forced.content


def test_an_edited_template_stops_serving_its_old_renders_within_the_bound(api, account, settings):
    from tests.factories import ProjectFactory

    settings.KILN_LOCAL_CACHE_SECONDS = 0.5
    project = ProjectFactory(account=account)
    source = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}">'
        '<rect width="100%" height="100%" fill="{{ fill }}"/></svg>'
    )
    created = api.post(
        "/v1/templates",
        {
            "project": project.slug,
            "slug": "swatch",
            "source": source,
            "param_schema": {},
            "default_width": 20,
            "default_height": 20,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    url = f"/og/swatch.png?project={project.slug}&fill=x"
    first = api.get(url)
    assert first.status_code == 200

    # Another process edits it (the row changes behind this process's back).
    template = Template.objects.get(project=project, slug="swatch")
    template.source = source.replace("{{ fill }}", "#00ff00")
    template.digest = template_digest(template)
    Template.objects.filter(id=template.id).update(source=template.source, digest=template.digest)

    time.sleep(0.6)
    second = api.get(url)
    assert second.status_code == 200
    assert second.content != first.content


def test_a_repeated_public_hit_is_still_rate_limited_and_carries_the_usage_headers(client_for):
    from tests.factories import AccountFactory

    api = client_for(None)  # the key travels in the query, as in an <img src>
    account = AccountFactory(plan__slug="rpm-3", plan__requests_per_minute=3)
    key = api_key_for(account, kind="publishable")
    if timezone.now().second >= 57:  # the three requests within one minute's window
        time.sleep(4)
    answers = [og(api, key, "Three a minute") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[1]["X-RateLimit-Limit"] == str(account.plan.monthly_images)
    assert "Retry-After" in answers[3]


def test_a_revoked_key_stops_a_repeated_public_hit(client_for, account):
    from accounts.services import api_key_revoke

    api = client_for(None)
    key = api_key_for(account, kind="publishable")
    assert og(api, key, "Revoke me").status_code == 200
    api_key_revoke(api_key=ApiKey.objects.get(prefix=key[:16]))

    assert og(api, key, "Revoke me", HTTP_ACCEPT="application/json").status_code == 401


def test_transitional_enforcement_answers_a_keyless_image_route_with_a_placeholder(
    client_for, settings
):
    import redis as redis_lib

    settings.KILN_KEY_ENFORCEMENT = "transitional"
    anonymous = client_for(None)

    response = anonymous.get("/og/blog-post.png?title=No+key", HTTP_ACCEPT="image/*")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response["X-Kiln-Error"] == "UNAUTHORIZED"
    from renders.glyphs import glyph_svg
    from renders.responses import KEY_NEEDED

    assert response.content == glyph_svg("UNAUTHORIZED", KEY_NEEDED, 1200, 630).encode()
    counts = redis_lib.Redis.from_url(settings.REDIS_URL).hgetall("kiln:keyless-requests")
    assert any(field.endswith(b"/og/blog-post.png") for field in counts)
    settings.KILN_KEY_ENFORCEMENT = "strict"
    assert anonymous.get("/og/blog-post.png?title=No+key").status_code == 401

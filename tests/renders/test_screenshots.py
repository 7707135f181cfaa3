"""Screenshots and inline HTML through the API: the real `browser` queue of the farm
worker, real Chromium, pages from a local fixture site (the only loopback endpoint the
farm may reach; every other private address stays refused)."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from renders.models import RenderJob, Template
from renders.services.templates import template_digest
from tests.factories import ProjectFactory
from tests.support.fixture_http import Reply

pytestmark = pytest.mark.usefixtures("farm")

CARD = (
    "<!doctype html><html><head><style>html,body{margin:0}"
    "body{background:#1d3557;width:100vw;height:100vh}"
    "#box{position:absolute;left:100px;top:50px;width:200px;height:100px;"
    "background:#e63946}</style></head><body><div id='box'></div></body></html>"
)


def png(content: bytes) -> Image.Image:
    return Image.open(io.BytesIO(content)).convert("RGB")


def near(pixel, expected, slack=12) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(pixel, expected, strict=True))


def page(site, html: str = CARD) -> str:
    return site.add(f"/{uuid.uuid4().hex}", html)


def test_screenshot_of_a_page_has_its_pixels(api, page_site):
    url = page(page_site)

    response = api.post(
        "/v1/screenshots",
        {"url": url, "width": 400, "height": 200, "dpr": 1, "format": "png"},
        format="json",
        HTTP_ACCEPT="image/png",
    )

    assert response.status_code == 200, response.content[:500]
    image = png(response.content)
    assert image.size == (400, 200)
    assert near(image.getpixel((10, 10)), (0x1D, 0x35, 0x57))
    assert near(image.getpixel((200, 100)), (0xE6, 0x39, 0x46))


def test_selector_clips_and_dpr_doubles(api, page_site):
    url = page(page_site)

    response = api.post(
        "/v1/screenshots",
        {"url": url, "width": 400, "height": 200, "dpr": 2, "format": "png", "selector": "#box"},
        format="json",
        HTTP_ACCEPT="image/png",
    )

    assert response.status_code == 200, response.content[:500]
    image = png(response.content)
    assert image.size == (400, 200)  # the 200×100 box at dpr 2
    assert near(image.getpixel((200, 100)), (0xE6, 0x39, 0x46))


def test_pdf_is_a_pdf(api, page_site):
    response = api.post(
        "/v1/screenshots",
        {"url": page(page_site), "format": "pdf"},
        format="json",
        HTTP_ACCEPT="application/pdf",
    )

    assert response.status_code == 200, response.content[:500]
    assert response.content.startswith(b"%PDF-")


def test_render_route_forwards_unknown_params_to_the_target(client, page_site, secret_key):
    path = f"/{uuid.uuid4().hex}"
    page_site.add(path, CARD)
    target = page_site.url(path)

    response = client.get(
        "/render",
        {"url": target, "width": 300, "height": 150, "dpr": 1, "ref": "og", "api_key": secret_key},
        HTTP_ACCEPT="image/*",
    )

    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "image/jpeg"
    assert png(response.content).size == (300, 150)
    assert any(p.startswith(path) and "ref=og" in p for p in page_site.paths())
    assert not any("api_key" in p or "width" in p for p in page_site.paths())


def test_render_route_takes_the_reference_w_and_h_as_the_viewport(client, page_site, secret_key):
    path = f"/{uuid.uuid4().hex}"
    page_site.add(path, CARD)

    response = client.get(
        "/render",
        {"url": page_site.url(path), "w": 240, "h": 120, "dpr": 1, "api_key": secret_key},
        HTTP_ACCEPT="image/*",
    )

    assert response.status_code == 200, response.content[:500]
    assert png(response.content).size == (240, 120)
    assert not any("w=" in p or "h=" in p for p in page_site.paths() if p.startswith(path))


def test_repeat_screenshot_is_served_from_cache(api, page_site):
    body = {"url": page(page_site), "width": 320, "height": 160, "dpr": 1}

    first = api.post("/v1/screenshots", body, format="json").json()
    second = api.post("/v1/screenshots", body, format="json").json()

    assert first["status"] == second["status"] == "succeeded"
    assert second["cached"] is True


def test_headers_and_cookies_reach_the_page_but_not_the_job_row(api, page_site):
    seen = {}

    def handler(hit):
        seen.update({k.lower(): v for k, v in hit.headers.items()})
        return Reply(CARD)

    path = f"/{uuid.uuid4().hex}"
    page_site.add(path, handler)

    response = api.post(
        "/v1/screenshots",
        {
            "url": page_site.url(path),
            "width": 320,
            "height": 160,
            "headers": {"X-Secret-Token": "s3cr3t-header"},
            "cookies": [{"name": "session", "value": "s3cr3t-cookie"}],
        },
        format="json",
    )

    assert response.status_code == 200, response.content[:500]
    assert seen.get("x-secret-token") == "s3cr3t-header"
    assert "s3cr3t-cookie" in seen.get("cookie", "")
    job = RenderJob.objects.get(id=response.json()["id"])
    assert "s3cr3t" not in str(job.params) and "s3cr3t" not in job.cache_key


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://localhost/",
        "http://[::1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
    ],
)
def test_private_targets_are_refused_before_anything_is_queued(api, url):
    response = api.post("/v1/screenshots", {"url": url}, format="json")

    assert response.status_code in (400, 403), response.content
    assert response.json()["error"]["code"] in ("HOST_NOT_ALLOWED", "VALIDATION_FAILED")
    assert not RenderJob.objects.exists()


def test_a_redirect_to_a_private_address_fails_the_job(api, page_site):
    url = page_site.add(
        f"/{uuid.uuid4().hex}", Reply(status=302, headers={"Location": "http://10.0.0.1/"})
    )

    response = api.post("/v1/screenshots", {"url": url, "width": 320, "height": 160}, format="json")

    assert response.status_code == 403, response.content[:500]
    assert response.json()["error"]["code"] == "HOST_NOT_ALLOWED"


def test_upstream_error_is_502(api, page_site):
    url = page_site.add(f"/{uuid.uuid4().hex}", Reply("boom", status=500))

    response = api.post("/v1/screenshots", {"url": url, "width": 320, "height": 160}, format="json")

    assert response.status_code == 502, response.content[:500]
    assert response.json()["error"]["code"] == "UPSTREAM_FAILED"
    assert "500" in response.json()["error"]["message"]  # the target's status


def test_a_target_answering_401_fails_by_default_naming_the_status(api, page_site):
    url = page_site.add(f"/{uuid.uuid4().hex}", Reply("<h1>Please log in</h1>", status=401))

    response = api.post("/v1/screenshots", {"url": url, "width": 320, "height": 160}, format="json")

    assert response.status_code == 502, response.content[:500]
    assert response.json()["error"]["code"] == "UPSTREAM_FAILED"
    assert "401" in response.json()["error"]["message"]


def test_fail_on_status_false_shoots_whatever_came_back(api, page_site):
    url = page_site.add(f"/{uuid.uuid4().hex}", Reply("<h1>Not here</h1>", status=404))
    body = {"url": url, "width": 320, "height": 160, "dpr": 1, "format": "png"}

    response = api.post(
        "/v1/screenshots", {**body, "fail_on_status": False}, format="json", HTTP_ACCEPT="image/png"
    )

    assert response.status_code == 200, response.content[:500]
    assert png(response.content).size == (320, 160)


def test_inline_html_renders_with_a_transparent_background(api):
    html = "<div style='width:100px;height:50px;background:#e63946'></div>"

    response = api.post(
        "/v1/images",
        {"html": html, "width": 200, "height": 100, "background": "transparent"},
        format="json",
        HTTP_ACCEPT="image/png",
    )

    assert response.status_code == 200, response.content[:500]
    image = Image.open(io.BytesIO(response.content)).convert("RGBA")
    assert image.size == (200, 100)
    assert image.getpixel((150, 80))[3] == 0
    assert near(image.getpixel((50, 25))[:3], (0xE6, 0x39, 0x46))


def test_html_template_escapes_params_and_renders(api, account):
    project = ProjectFactory(account=account, slug="site")
    template = Template(
        slug="html-card",
        project=project,
        engine=Template.Engine.HTML,
        source=(
            "<body style='margin:0;background:{{ color }}'>"
            "<h1 id='t' style='font:700 40px Inter;color:#fff'>{{ title }}</h1></body>"
        ),
        param_schema={
            "title": {"type": "string", "required": True},
            "color": {"type": "color", "default": "#2a9d8f"},
        },
        sample_params={"title": "Sample"},
        default_width=400,
        default_height=200,
    )
    template.digest = template_digest(template)
    template.save()

    response = api.post(
        "/v1/images",
        {"template": "html-card", "project": "site", "params": {"title": "<b>x</b> & y"}},
        format="json",
        HTTP_ACCEPT="image/png",
    )

    assert response.status_code == 200, response.content[:500]
    image = png(response.content)
    assert image.size == (400, 200)
    assert near(image.getpixel((390, 190)), (0x2A, 0x9D, 0x8F))

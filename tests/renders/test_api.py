"""POST /v1/images and the job routes, through the real svg queue and worker."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from renders.models import RenderJob
from tests.factories import AccountFactory, api_key_for, svg_document

pytestmark = pytest.mark.usefixtures("farm")


def post_image(api, body: dict, **headers):
    return api.post("/v1/images", body, format="json", **headers)


def test_sync_render_answers_the_job_json_of_spec(api):
    response = post_image(api, {"svg": svg_document(320, 160)})

    assert response.status_code == 200, response.content
    job = response.json()
    assert set(job) == {
        "id",
        "kind",
        "status",
        "image_url",
        "width",
        "height",
        "format",
        "size_bytes",
        "cached",
        "generation_ms",
        "template",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "status_url",
    }
    assert job["status"] == "succeeded"
    assert (job["kind"], job["format"], job["width"], job["height"]) == ("svg", "png", 320, 160)
    assert job["cached"] is False
    assert job["generation_ms"] is not None
    assert job["error"] is None
    assert job["image_url"].endswith(f"/v1/jobs/{job['id']}/image")
    image = api.get(f"/v1/jobs/{job['id']}/image")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert len(image.content) == job["size_bytes"]
    picture = Image.open(io.BytesIO(image.content))
    assert picture.size == (320, 160)
    assert picture.convert("RGB").getpixel((10, 10)) == (0xE4, 0x57, 0x2E)


def test_accept_image_answers_the_bytes(api):
    response = post_image(api, {"svg": svg_document(200, 100), "dpr": 2}, HTTP_ACCEPT="image/png")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (400, 200)


@pytest.mark.parametrize(
    ("fmt", "content_type", "pillow_format"),
    [("jpeg", "image/jpeg", "JPEG"), ("jpg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP")],
)
def test_each_raster_format_is_encoded(api, fmt, content_type, pillow_format):
    response = post_image(
        api, {"svg": svg_document(), "format": fmt, "quality": 70}, HTTP_ACCEPT="image/*"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == pillow_format
    assert picture.size == (320, 160)


def test_pdf_output_is_a_pdf(api):
    response = post_image(
        api, {"svg": svg_document(), "format": "pdf"}, HTTP_ACCEPT="application/pdf"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")


def test_transparent_background_keeps_alpha_and_forces_png_over_jpeg(api):
    svg = svg_document(50, 50, fill="none", body='<circle cx="25" cy="25" r="10"/>')
    response = post_image(api, {"svg": svg, "format": "jpeg", "background": "transparent"})

    job = response.json()
    assert job["format"] == "png"
    picture = Image.open(io.BytesIO(api.get(f"/v1/jobs/{job['id']}/image").content))
    assert picture.mode == "RGBA"
    assert picture.getpixel((0, 0))[3] == 0


def test_background_colour_fills_the_canvas(api):
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="50" height="50"/>'
    response = post_image(api, {"svg": svg, "background": "#00ff00"}, HTTP_ACCEPT="image/png")

    assert Image.open(io.BytesIO(response.content)).convert("RGB").getpixel((5, 5)) == (0, 255, 0)


def test_async_answers_202_and_the_status_url_reports_completion(api):
    response = post_image(api, {"svg": svg_document(fill="#123456"), "async": True})

    assert response.status_code == 202
    job = response.json()
    assert job["status"] in ("queued", "running", "succeeded")
    assert response["Location"] == job["status_url"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = api.get(f"/v1/jobs/{job['id']}").json()
        if job["status"] == "succeeded":
            break
        time.sleep(0.1)
    assert job["status"] == "succeeded"
    assert job["started_at"] is not None and job["finished_at"] is not None


def test_repeat_request_is_served_from_cache_without_a_task_or_a_row(api):
    body = {"svg": svg_document(fill="#abcdef")}
    first = post_image(api, body).json()
    rows = RenderJob.objects.count()
    second = post_image(api, body).json()

    assert first["cached"] is False
    assert second["cached"] is True
    assert second["generation_ms"] is None
    # A hit writes nothing: it answers with the id of the job that made the bytes.
    assert second["id"] == first["id"]
    assert RenderJob.objects.count() == rows
    assert api.get(second["status_url"]).json()["status"] == "succeeded"
    assert api.get(second["image_url"]).content == api.get(first["image_url"]).content


def test_a_hit_id_is_readable_by_another_account_that_asked_for_the_same_content(api, client_for):
    from tests.factories import AccountFactory, api_key_for

    body = {"svg": svg_document(fill="#abcdee")}
    first = post_image(api, body).json()
    other = client_for(api_key_for(AccountFactory()))

    hit = post_image(other, body).json()

    assert hit["cached"] is True
    assert hit["id"] != first["id"]  # the other tenant's job id is not disclosed
    detail = other.get(f"/v1/jobs/{hit['id']}").json()
    assert (detail["id"], detail["status"], detail["cached"]) == (hit["id"], "succeeded", True)
    assert other.get(f"/v1/jobs/{hit['id']}/image").content == api.get(first["image_url"]).content
    # ... and only to the account it was handed to.
    assert api.get(f"/v1/jobs/{hit['id']}").status_code == 404
    assert other.get(f"/v1/jobs/{first['id']}").status_code == 404


def test_force_renders_again(api):
    body = {"svg": svg_document(fill="#fedcba")}
    post_image(api, body)
    forced = post_image(api, {**body, "force": True}).json()

    assert forced["cached"] is False
    assert RenderJob.objects.get(id=forced["id"]).attempts == 1


def test_other_options_are_part_of_the_cache_key(api):
    svg = svg_document(fill="#010203")
    keys = {
        RenderJob.objects.get(id=post_image(api, {"svg": svg, **extra}).json()["id"]).cache_key
        for extra in ({}, {"dpr": 2}, {"format": "webp"}, {"background": "#ffffff"})
    }

    assert len(keys) == 4


def test_another_accounts_job_is_not_found(api, client_for):
    job = post_image(api, {"svg": svg_document()}).json()
    stranger = client_for(api_key_for(AccountFactory()))

    for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/image"):
        response = stranger.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"


def test_image_route_revalidates_with_etag(api):
    job = post_image(api, {"svg": svg_document(fill="#334455")}).json()
    first = api.get(job["image_url"])

    assert first["Cache-Control"] == "public, max-age=31536000, immutable"
    again = api.get(job["image_url"], HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""


def test_every_response_carries_a_request_id_and_usage_headers(api):
    response = post_image(api, {"svg": svg_document(fill="#778899")}, HTTP_X_REQUEST_ID="abc-123")

    assert response["X-Request-Id"] == "abc-123"
    assert response["X-RateLimit-Limit"] == "1000"
    assert response["X-RateLimit-Used"] == "1"
    assert response["X-RateLimit-Remaining"] == "999"
    assert api.get("/v1/jobs/00000000-0000-0000-0000-000000000000")["X-Request-Id"]


def test_usage_counts_renders_but_not_cache_hits(api):
    body = {"svg": svg_document(fill="#135791")}
    post_image(api, body)
    post_image(api, body)

    usage = api.get("/v1/usage").json()

    assert usage["images_used"] == 1
    assert usage["images_limit"] == 1000
    assert usage["images_remaining"] == 999
    assert len(usage["month"]) == 7

"""Templates through the API and the real svg worker: CRUD, params, routes, signing."""

from __future__ import annotations

import io
import time

import pytest
from defusedxml import ElementTree
from PIL import Image

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from renders.models import RenderJob, Template
from tests.factories import ProjectFactory, api_key_for

pytestmark = pytest.mark.usefixtures("farm")

SIMPLE_SOURCE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}">'
    '<rect width="{{ width }}" height="{{ height }}" fill="{{ color }}"/>'
    "<desc>{{ title }}</desc>"
    '{{ text(title, x=20, y=20, width=width - 40, size=40, color="#ffffff") }}</svg>'
)
SIMPLE_SCHEMA = {
    "title": {"type": "string", "required": True, "max_length": 100},
    "color": {"type": "color", "default": "#224488"},
}


@pytest.fixture
def project(account):
    return ProjectFactory(account=account, slug="site")


@pytest.fixture
def own_template(api, project):
    response = api.post(
        "/v1/templates",
        {
            "slug": "simple",
            "project": "site",
            "source": SIMPLE_SOURCE,
            "param_schema": SIMPLE_SCHEMA,
            "sample_params": {"title": "Sample"},
            "default_width": 400,
            "default_height": 200,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def render(api, body, **headers):
    return api.post("/v1/images", body, format="json", **headers)


def png(content: bytes) -> Image.Image:
    return Image.open(io.BytesIO(content))


def test_builtin_gallery_is_listed_with_schemas(api):
    templates = {t["slug"]: t for t in api.get("/v1/templates").json()["templates"]}

    assert "blog-post" in templates
    blog = templates["blog-post"]
    assert blog["builtin"] is True
    assert blog["param_schema"]["title"]["required"] is True
    assert {"key": "title.text", "param": "title", "type": "string"} in blog["dynamic_elements"]


def test_template_detail_has_a_working_preview_url(api, client):
    detail = api.get("/v1/templates/blog-post").json()

    assert detail["defaults"]["accent"] == "#e4572e"
    preview = client.get(detail["preview_url"].split("testserver")[-1])
    assert preview.status_code == 200, preview.content[:300]
    assert png(preview.content).size == (1200, 630)


def test_blog_post_renders_at_og_size(api):
    response = render(
        api, {"template": "blog-post", "params": {"title": "Hello, Kiln"}}, HTTP_ACCEPT="image/png"
    )

    assert response.status_code == 200, response.content[:500]
    assert png(response.content).size == (1200, 630)


def test_missing_required_param_names_it_and_shows_usage(api):
    response = render(api, {"template": "blog-post", "params": {}})

    assert response.status_code == 400
    error = response.json()["error"]
    assert "title" in error["message"]
    assert "usage:" in error["message"]
    assert "title" in error["details"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"template": "nope", "params": {"title": "x"}}, 404, "NOT_FOUND"),
        (
            {"template": "blog-post", "params": {"title": "x", "accent": "red-ish"}},
            400,
            "VALIDATION_FAILED",
        ),
        (
            {"template": "blog-post", "params": {"title": "x"}, "size": "huge"},
            400,
            "VALIDATION_FAILED",
        ),
        (
            {"template": "blog-post", "params": {"title": "x"}, "format": "gif"},
            400,
            "VALIDATION_FAILED",
        ),
        ({"template": "blog-post", "params": {"title": "x"}, "dpr": 9}, 400, "VALIDATION_FAILED"),
        ({"template": "blog-post", "params": {"title": "x" * 301}}, 413, "TOO_LARGE"),
        ({"template": "blog-post", "params": {"title": "x", "tags": ["a"] * 21}}, 413, "TOO_LARGE"),
        (
            {"template": "blog-post", "params": {"title": "x"}, "font": "Comic Sans"},
            400,
            "VALIDATION_FAILED",
        ),
        (
            {"template": "blog-post", "params": {"title": "x", "logo": "file:///etc/passwd"}},
            400,
            "VALIDATION_FAILED",
        ),
    ],
)
def test_bad_template_requests_are_4xx(api, body, status, code):
    response = render(api, body)

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert RenderJob.objects.count() == 0


def test_unknown_font_lists_the_available_ones(api):
    error = render(
        api, {"template": "blog-post", "params": {"title": "x"}, "font": "Comic Sans"}
    ).json()["error"]

    assert "Inter" in error["message"] and "JetBrains Mono" in error["message"]


def test_logo_on_a_private_address_is_refused(api):
    body = {
        "template": "blog-post",
        "params": {"title": "x", "logo": "http://127.0.0.1:9/logo.png"},
    }

    response = render(api, body)

    assert response.status_code in (400, 403), response.content
    assert RenderJob.objects.count() == 0


def test_font_param_overrides_the_family_and_the_cache_key(api):
    a = render(api, {"template": "blog-post", "params": {"title": "Same"}}).json()
    b = render(
        api, {"template": "blog-post", "params": {"title": "Same"}, "font": "JetBrains Mono"}
    ).json()

    assert a["status"] == b["status"] == "succeeded"
    assert a["size_bytes"] != b["size_bytes"]


def test_audome_style_data_keys_map_to_params(api):
    via_data = render(api, {"template": "blog-post", "data": {"title.text": "From data"}}).json()
    via_params = render(api, {"template": "blog-post", "params": {"title": "From data"}}).json()

    assert via_data["status"] == "succeeded"
    assert via_params["cached"] is True  # the same render


def test_every_output_format(api):
    for fmt, pillow in (("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")):
        response = render(
            api,
            {
                "template": "blog-post",
                "params": {"title": "Formats"},
                "format": fmt,
                "size": "instagram-square",
            },
            HTTP_ACCEPT="image/*",
        )
        assert png(response.content).format == pillow
        assert png(response.content).size == (1080, 1080)
    pdf = render(
        api,
        {"template": "blog-post", "params": {"title": "F"}, "format": "pdf"},
        HTTP_ACCEPT="application/pdf",
    )
    assert pdf.content.startswith(b"%PDF-")
    svg = render(
        api,
        {"template": "blog-post", "params": {"title": "F"}, "format": "svg"},
        HTTP_ACCEPT="image/svg+xml",
    )
    assert svg["Content-Type"] == "image/svg+xml"
    assert ElementTree.fromstring(svg.content).tag.endswith("svg")


def test_dpr_and_transparent_background(api):
    response = render(
        api,
        {
            "template": "blog-post",
            "params": {"title": "Retina"},
            "dpr": 2,
            "background": "transparent",
        },
        HTTP_ACCEPT="image/png",
    )

    assert png(response.content).size == (2400, 1260)


@pytest.mark.parametrize(
    "evil",
    [
        "<script>alert(1)</script>",
        "a & b",
        "\"quoted\" 'single'",
        "]]><x/>",
        "{{ 7 * 7 }}",
        "{% for x in y %}",
        "&amp;&lt;&#x3C;",
        "<!ENTITY x SYSTEM 'file:///etc/passwd'>",
    ],
)
def test_params_render_as_literal_text_never_markup(api, own_template, evil):
    response = render(
        api,
        {"template": "simple", "project": "site", "params": {"title": evil}, "format": "svg"},
        HTTP_ACCEPT="image/svg+xml",
    )

    assert response.status_code == 200, response.content
    root = ElementTree.fromstring(response.content)
    tags = {element.tag.split("}")[-1] for element in root.iter()}
    assert tags <= {"svg", "rect", "desc", "g", "path", "image"}
    desc = next(e for e in root.iter() if e.tag.endswith("desc"))
    assert desc.text == evil


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{{ ''.__class__.__mro__ }}", "__class__"),
        ("{{ title.__class__ }}", "__class__"),
        ("{{ text.__globals__ }}", "__globals__"),
        ("{{ title['__class__'] }}", "__class__"),
        ("{% include '/etc/passwd' %}", "include"),
        ("{% import 'x' as y %}", "import"),
        ("{{ title|safe }}", "safe"),
        ("{% if %}", "line 1"),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1">'
            '<image href="file:///etc/passwd"/></svg>',
            "external",
        ),
    ],
)
def test_dangerous_templates_fail_to_save_with_a_clear_error(api, project, source, fragment):
    response = api.post(
        "/v1/templates",
        {
            "slug": "evil",
            "project": "site",
            "source": source,
            "param_schema": {"title": {"type": "string", "default": "t"}},
        },
        format="json",
    )

    assert response.status_code == 400, response.content
    assert fragment in response.json()["error"]["message"]
    assert not Template.objects.filter(slug="evil").exists()


def test_editing_a_template_changes_its_digest_and_never_serves_old_renders(api, own_template):
    body = {"template": "simple", "project": "site", "params": {"title": "Edit me"}}
    first = render(api, body).json()
    patched = api.patch(
        "/v1/templates/simple?project=site",
        {"source": SIMPLE_SOURCE.replace("{{ color }}", "#000000")},
        format="json",
    )

    assert patched.status_code == 200, patched.content
    assert patched.json()["digest"] != own_template["digest"]
    second = render(api, body).json()
    assert second["cached"] is False
    assert second["size_bytes"] != first["size_bytes"]


def test_project_templates_are_private_and_builtins_read_only(api, own_template, client_for):
    from tests.factories import AccountFactory

    stranger = client_for(api_key_for(AccountFactory()))
    assert stranger.get("/v1/templates/simple?project=site").status_code == 404
    assert api.patch("/v1/templates/blog-post", {"name": "x"}, format="json").status_code == 403
    assert (
        api.post(
            "/v1/templates",
            {
                "slug": "simple",
                "project": "site",
                "source": SIMPLE_SOURCE,
                "param_schema": SIMPLE_SCHEMA,
            },
            format="json",
        ).status_code
        == 409
    )
    assert api.delete("/v1/templates/simple?project=site").status_code == 204
    assert not Template.objects.filter(slug="simple").exists()


def test_preview_renders_sample_params(api, own_template):
    response = api.post(
        "/v1/templates/simple/preview", {"project": "site"}, format="json", HTTP_ACCEPT="image/png"
    )

    assert response.status_code == 200, response.content
    assert png(response.content).size == (400, 200)


def test_sizes_lists_the_presets(api):
    sizes = {s["name"]: (s["width"], s["height"]) for s in api.get("/v1/sizes").json()["sizes"]}

    assert sizes == {
        "og": (1200, 630),
        "twitter": (1200, 675),
        "farcaster": (1200, 800),
        "linkedin": (1200, 627),
        "facebook": (1200, 630),
        "instagram-square": (1080, 1080),
        "instagram-story": (1080, 1920),
        "pinterest": (1000, 1500),
    }


# --- public routes ------------------------------------------------------------------------


def test_og_route_renders_with_a_publishable_key(client, account):
    key = api_key_for(account, kind=ApiKey.Kind.PUBLISHABLE)

    response = client.get(f"/og/blog-post.png?title=Hello&tags=a,b&api_key={key}")

    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    again = client.get(
        f"/og/blog-post.png?title=Hello&tags=a,b&api_key={key}", HTTP_IF_NONE_MATCH=response["ETag"]
    )
    assert again.status_code == 304
    jpg = client.get(f"/og/blog-post.jpg?title=Hello&size=twitter&api_key={key}")
    assert png(jpg.content).size == (1200, 675)


def test_og_route_errors_are_glyphs_for_images_and_json_for_others(client):
    as_image = client.get("/og/blog-post.png?title=x", HTTP_ACCEPT="image/*")
    as_json = client.get("/og/blog-post.png?title=x", HTTP_ACCEPT="application/json")

    assert as_image.status_code == as_json.status_code == 401
    assert as_image["Content-Type"].startswith("image/svg+xml")
    assert ElementTree.fromstring(as_image.content).tag.endswith("svg")
    assert as_json.json()["error"]["code"] == "UNAUTHORIZED"


def test_signed_url_renders_without_a_key(api, client):
    signed = api.post(
        "/v1/sign",
        {"template": "blog-post", "params": {"title": "Signed"}, "expires_in": 600},
        format="json",
    ).json()

    assert set(signed) >= {"url", "token", "expires_at", "og_url"}
    response = client.get(signed["url"].split("testserver")[-1])
    assert response.status_code == 200, response.content[:300]
    og = client.get(signed["og_url"].split("testserver")[-1])
    assert og.status_code == 200, og.content[:300]


def test_tampered_signed_urls_are_404_glyphs(api, client):
    signed = api.post(
        "/v1/sign", {"template": "blog-post", "params": {"title": "T"}}, format="json"
    ).json()
    token = signed["token"]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    response = client.get(f"/i/{tampered}", HTTP_ACCEPT="image/*")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("image/svg+xml")
    og_path = signed["og_url"].split("testserver")[-1].replace("title=T", "title=U")
    assert client.get(og_path).status_code == 404


def test_expired_signed_url_is_410(api, client):
    signed = api.post(
        "/v1/sign",
        {"template": "blog-post", "params": {"title": "E"}, "expires_in": 1},
        format="json",
    ).json()
    time.sleep(2.1)

    response = client.get(f"/i/{signed['token']}", HTTP_ACCEPT="image/*")
    assert response.status_code == 410
    assert client.get(signed["og_url"].split("testserver")[-1]).status_code == 410


def test_revoking_the_key_voids_its_signed_urls(client, account):
    api_key, raw_key = api_key_create(account=account)
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    signed = api.post(
        "/v1/sign", {"template": "blog-post", "params": {"title": "R"}}, format="json"
    ).json()
    api_key_revoke(api_key=api_key)

    assert client.get(f"/i/{signed['token']}").status_code == 401


# --- batches ------------------------------------------------------------------------------


def test_batch_renders_one_template_at_many_sizes(api):
    response = api.post(
        "/v1/batches",
        {
            "template": "blog-post",
            "params": {"title": "Everywhere"},
            "sizes": ["og", "instagram-story", {"name": "thumb", "width": 600, "height": 300}],
            "encoding": "base64",
        },
        format="json",
    )

    assert response.status_code == 200, response.content[:500]
    batch = response.json()
    assert (batch["done"], batch["total"], batch["status"]) == (3, 3, "completed")
    sizes = {
        r["size"]: png(__import__("base64").b64decode(r["base64"])).size for r in batch["results"]
    }
    assert sizes == {"og": (1200, 630), "instagram-story": (1080, 1920), "thumb": (600, 300)}
    detail = api.get(f"/v1/batches/{batch['id']}").json()
    assert detail["done"] == 3
    assert all(r["image_url"] for r in detail["results"])


def test_async_batch_reports_progress(api):
    response = api.post(
        "/v1/batches",
        {
            "template": "blog-post",
            "params": {"title": "Async"},
            "sizes": ["og", "twitter"],
            "async": True,
        },
        format="json",
    )

    assert response.status_code in (200, 202)
    batch_id = response.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        detail = api.get(f"/v1/batches/{batch_id}").json()
        if detail["done"] == detail["total"] == 2:
            break
        time.sleep(0.1)
    assert detail["status"] == "completed"

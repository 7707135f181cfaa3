"""Tree templates through the API: the reference's JSON saved unchanged, rendered by the
svg pool at the reference's URL shape (GET /template/{name})."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from renders.models import RenderJob
from tests.factories import ProjectFactory, api_key_for
from tests.support.tree_reference import REFERENCE_HERO

pytestmark = pytest.mark.usefixtures("farm")

HERO = REFERENCE_HERO


def png_size(response) -> tuple[int, int]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "image/png"
    return Image.open(io.BytesIO(response.content)).size


def test_the_reference_hero_renders_at_its_url_shape(api, account):
    key = api_key_for(account, kind="publishable")

    response = api.get(f"/template/hero?title=Hello+World&subtitle=From+Kiln&api_key={key}")

    assert png_size(response) == (1200, 630)
    assert RenderJob.objects.filter(kind="tree_template").count() == 1


def test_a_missing_required_param_says_which_and_how(api):
    response = api.get("/template/hero?subtitle=x", HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert "title" in response.json()["error"]["message"]


def test_w_and_h_are_clamped_not_refused(api):
    assert png_size(api.get("/template/hero?title=Tiny&w=0&h=40")) == (1, 40)


def test_a_pinned_digest_is_served_from_the_cache_and_force_renders_again(api):
    url = "/template/card?title=Pinned&digest=v2"
    first = api.get(url)
    again = api.get(url)
    forced = api.get(url + "&force=1")

    assert first.content == again.content == forced.content
    renders = RenderJob.objects.filter(kind="tree_template", cached=False)
    assert renders.count() == 2  # the first and the forced one; the repeat was a hit


def test_a_tree_template_saved_through_the_api_unchanged(api, account):
    project = ProjectFactory(account=account)
    created = api.post(
        "/v1/templates",
        {"project": project.slug, "slug": "my-hero", "engine": "tree", "source": json.dumps(HERO)},
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["engine"] == "tree"
    assert body["param_schema"]["title"]["required"] is True
    assert body["defaults"] == {"eyebrow": "My Site"}
    assert png_size(api.get(f"/template/my-hero?project={project.slug}&title=Mine")) == (1200, 630)
    rendered = api.post(
        "/v1/images",
        {"template": "my-hero", "project": project.slug, "params": {"title": "Mine"}},
        format="json",
        HTTP_ACCEPT="image/png",
    )
    assert png_size(rendered) == (1200, 630)


def test_an_unknown_tailwind_class_is_refused_at_save_naming_it(api, account):
    project = ProjectFactory(account=account)
    broken = {**HERO, "tree": {**HERO["tree"], "tw": "flex bg-nonsense-500"}}

    response = api.post(
        "/v1/templates",
        {"project": project.slug, "slug": "broken", "engine": "tree", "source": json.dumps(broken)},
        format="json",
    )

    assert response.status_code == 400
    assert "bg-nonsense-500" in response.json()["error"]["message"]

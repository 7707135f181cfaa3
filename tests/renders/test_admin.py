"""The Django admin for templates and fonts: line-numbered compile errors, a live preview
of the sample params, and font uploads that are checked before anything is stored."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from fontTools.ttLib import TTFont
from PIL import Image

from renders.models import Font, Template
from renders.services.templates import template_digest
from tests.factories import AccountFactory, ProjectFactory
from workers.fonts import available_families
from workers.text import layout_text

pytestmark = pytest.mark.django_db

SOURCE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}">'
    '<rect width="{{ width }}" height="{{ height }}" fill="#e4572e"/>'
    '{{ text(title, x=20, y=20, width=width - 40, size=40, color="#ffffff") }}</svg>'
)


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.login(username="admin", password="pw")
    return client


@pytest.fixture
def template():
    project = ProjectFactory(account=AccountFactory(), slug="site")
    template = Template(
        slug="card",
        project=project,
        source=SOURCE,
        param_schema={"title": {"type": "string", "required": True}},
        sample_params={"title": "Hello admin"},
        default_width=400,
        default_height=200,
    )
    template.digest = template_digest(template)
    template.save()
    return template


def form_data(template: Template, **changes) -> dict:
    data = {
        "slug": template.slug,
        "project": template.project_id,
        "engine": template.engine,
        "name": template.name,
        "description": template.description,
        "source": template.source,
        "param_schema": '{"title": {"type": "string", "required": true}}',
        "sample_params": '{"title": "Hello admin"}',
        "default_width": template.default_width,
        "default_height": template.default_height,
        "default_font": template.default_font,
    }
    return {**data, **changes}


def test_template_page_shows_a_live_preview_of_the_sample_params(admin_client, template):
    page = admin_client.get(f"/admin/renders/template/{template.id}/change/").content.decode()

    found = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert found, "no preview image on the page"
    preview = Image.open(io.BytesIO(base64.b64decode(found.group(1)))).convert("RGB")
    assert preview.size == (400, 200)
    assert preview.getpixel((5, 195)) == (0xE4, 0x57, 0x2E)  # the template's background
    assert len(set(preview.crop((20, 20, 380, 80)).get_flattened_data())) > 10  # text drawn


def test_a_template_that_does_not_compile_shows_line_and_message(admin_client, template):
    broken = SOURCE.replace("</svg>", "\n\n{% if title %}<g/></svg>")

    response = admin_client.post(
        f"/admin/renders/template/{template.id}/change/", form_data(template, source=broken)
    )

    assert response.status_code == 200  # the form again, with the error
    page = response.content.decode()
    assert "line 3" in page and "endif" in page
    template.refresh_from_db()
    assert template.source == SOURCE


def test_a_template_reaching_for_internals_is_refused(admin_client, template):
    evil = SOURCE.replace("{{ text(", "{{ title.__class__ }}{{ text(")

    response = admin_client.post(
        f"/admin/renders/template/{template.id}/change/", form_data(template, source=evil)
    )

    assert "__class__" in response.content.decode()
    template.refresh_from_db()
    assert template.source == SOURCE


def test_saving_an_edit_changes_the_digest(admin_client, template):
    before = template.digest
    edited = SOURCE.replace("#e4572e", "#2a9d8f")

    response = admin_client.post(
        f"/admin/renders/template/{template.id}/change/", form_data(template, source=edited)
    )

    assert response.status_code == 302
    template.refresh_from_db()
    assert template.source == edited and template.digest != before


def font_bytes(flavor: str | None = None) -> bytes:
    font = TTFont("/usr/share/fonts/truetype/jetbrains-mono/JetBrainsMono-Regular.ttf")
    font.flavor = flavor
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


@pytest.mark.parametrize(("name", "flavor"), [("Upload.ttf", None), ("Upload.woff2", "woff2")])
def test_an_uploaded_font_becomes_a_family_templates_can_use(admin_client, name, flavor):
    family = f"Admin Upload {flavor or 'ttf'}"
    upload = SimpleUploadedFile(name, font_bytes(flavor), content_type="font/ttf")

    response = admin_client.post(
        "/admin/renders/font/add/", {"family": family, "file": upload}, follow=True
    )

    assert response.status_code == 200
    assert Font.objects.filter(family=family).exists()
    assert family in available_families()
    assert layout_text("upload", width=300, size=30, family=family).svg.startswith("<path")


def test_an_upload_that_is_not_a_font_is_refused_and_not_stored(admin_client):
    upload = SimpleUploadedFile("evil.ttf", b"<svg>not a font</svg>", content_type="font/ttf")

    response = admin_client.post("/admin/renders/font/add/", {"family": "", "file": upload})

    assert response.status_code == 200
    assert "not a font" in response.content.decode()
    assert not Font.objects.exists()


def _live_preview(admin_client, **draft):
    return admin_client.post(
        "/admin/renders/template/preview/", draft, content_type="application/json"
    ).json()


def test_the_live_preview_renders_unsaved_edits(admin_client, template):
    before = Template.objects.get(id=template.id).source
    answer = _live_preview(
        admin_client,
        engine="svg",
        source=SOURCE.replace("#e4572e", "#00ff00"),
        param_schema='{"title": {"type": "string", "required": true}}',
        sample_params='{"title": "Edited, not saved"}',
        default_width="300",
        default_height="150",
        default_font="Inter",
    )

    image = Image.open(io.BytesIO(base64.b64decode(answer["png"]))).convert("RGB")
    assert image.size == (300, 150)
    assert image.getpixel((5, 140)) == (0, 255, 0)
    assert Template.objects.get(id=template.id).source == before  # nothing saved


def test_the_live_preview_says_what_is_wrong_with_a_broken_source(admin_client):
    answer = _live_preview(admin_client, engine="svg", source="{% if %}", param_schema="{}")

    assert "png" not in answer
    assert "template source" in answer["error"]


def test_the_live_preview_renders_tree_and_html_templates_too(admin_client):
    from tests.support.tree_reference import REFERENCE_HERO

    tree = _live_preview(admin_client, engine="tree", source=json.dumps(REFERENCE_HERO))
    html = _live_preview(
        admin_client,
        engine="html",
        source="<body style='margin:0;background:#0000ff'>{{ title }}</body>",
        param_schema='{"title": {"type": "string", "default": "x"}}',
        default_width="64",
        default_height="32",
    )

    assert Image.open(io.BytesIO(base64.b64decode(tree["png"]))).size == (1200, 630)
    html_image = Image.open(io.BytesIO(base64.b64decode(html["png"]))).convert("RGB")
    assert html_image.size == (64, 32)
    assert html_image.getpixel((60, 28)) == (0, 0, 255)


def test_the_live_preview_is_for_staff_only(client):
    response = client.post("/admin/renders/template/preview/", {}, content_type="application/json")

    assert response.status_code == 302  # to the admin login

"""Error glyphs: readable, well-formed, escaped, chosen by the Accept header."""

from __future__ import annotations

import io

import pytest
from defusedxml import ElementTree
from django.test import RequestFactory
from PIL import Image

from config.errors import KilnError
from renders.glyphs import GLYPHS, glyph_kind, glyph_svg, image_error_response
from workers.rasterise import render_svg


@pytest.mark.parametrize("kind", sorted(GLYPHS))
def test_every_glyph_is_a_well_formed_image_with_text(kind):
    svg = glyph_svg(kind, "what went wrong", 600, 315)

    root = ElementTree.fromstring(svg.encode())
    assert root.tag.endswith("svg") and root.get("width") == "600"
    image = Image.open(
        io.BytesIO(render_svg(svg.encode(), format="png", width=600, height=315).data)
    )
    assert len(set(image.convert("RGB").get_flattened_data())) > 20  # icon and text drawn


def test_codes_map_to_glyph_kinds():
    assert glyph_kind("GONE") == "expired"
    assert glyph_kind("HOST_NOT_ALLOWED") == "blocked"
    assert glyph_kind("PROMPT_BLOCKED") == "blocked"
    assert glyph_kind("UNAUTHORIZED") == "unauthorized"
    assert glyph_kind("SOMETHING_NEW") == "failed"


def test_message_markup_never_reaches_the_svg():
    svg = glyph_svg("failed", '<script>alert(1)</script> & "quotes" ]]> &amp;')

    assert "<script" not in svg and "&amp;" not in svg and "]]>" not in svg
    ElementTree.fromstring(svg.encode())


def test_identical_glyphs_are_identical_bytes():
    glyph_svg.cache_clear()
    first = glyph_svg("not-found", "no such template", 400, 200)
    glyph_svg.cache_clear()
    assert glyph_svg("not-found", "no such template", 400, 200) == first


@pytest.mark.parametrize(
    ("accept", "is_image"),
    [
        ("", True),
        ("*/*", True),
        ("image/avif,image/webp,*/*;q=0.8", True),
        ("application/json", False),
        ("application/json, */*", False),
        ("text/html", False),
    ],
)
def test_image_clients_get_a_glyph_and_others_json(accept, is_image):
    request = RequestFactory().get("/og/x.png", HTTP_ACCEPT=accept)
    response = image_error_response(request, KilnError("GONE", "this link expired"))

    assert response.status_code == 410
    if is_image:
        assert response["Content-Type"] == "image/svg+xml"
        assert response["Cache-Control"] == "no-store"
    else:
        assert response["Content-Type"] == "application/json"
        assert b'"GONE"' in response.content

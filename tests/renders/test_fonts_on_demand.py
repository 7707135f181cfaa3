"""Fonts on demand: a family no local source has is fetched from a css2 server (a local
fake speaking Google Fonts' protocol), converted to TTF, stored, and used by renders."""

from __future__ import annotations

import io
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from fontTools.ttLib import TTFont

from tests.support.fixture_http import Hit, Reply

pytestmark = pytest.mark.usefixtures("farm")

SOURCE_TTF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"


def woff2_of(path: str) -> bytes:
    font = TTFont(path)
    font.flavor = "woff2"
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


@pytest.fixture
def font_server(page_site, settings):
    """A css2 server that knows the families named "Kiln Test …" (one file, 400 and 700).
    Each test asks for a new name: fetched fonts stay in storage between runs."""
    page_site.add("/files/serif.woff2", Reply(woff2_of(SOURCE_TTF), content_type="font/woff2"))

    def css2(hit: Hit) -> Reply:
        family = parse_qs(urlsplit(hit.path).query)["family"][0].split(":")[0]
        if not family.startswith("Kiln Test "):
            return Reply("Font family not found", status=400, content_type="text/plain")
        rules = "".join(
            f"@font-face {{ font-family: '{family}'; font-style: normal; font-weight: {w};"
            f" src: url({page_site.url('/files/serif.woff2')}) format('woff2'); }}\n"
            for w in (400, 700)
        )
        return Reply(rules, content_type="text/css; charset=utf-8")

    page_site.add("/css2", css2)
    settings.KILN_GOOGLE_FONTS = True
    settings.KILN_GOOGLE_FONTS_URL = page_site.url("/")
    return page_site


def render(api, font: str, title: str = "Fonts on demand"):
    return api.post(
        "/v1/images",
        {"template": "blog-post", "params": {"title": title}, "font": font},
        format="json",
        HTTP_ACCEPT="image/png",
    )


def test_an_unknown_family_is_fetched_once_stored_and_drawn(api, font_server):
    family = f"Kiln Test {uuid.uuid4().hex[:8]}"
    fetched = render(api, family)
    again = render(api, family, title="Another title, same font")
    inter = render(api, "Inter")

    assert fetched.status_code == 200, fetched.content[:300]
    assert again.status_code == 200
    assert fetched.content != inter.content  # the title is set in the fetched face
    css_requests = [p for p in font_server.paths() if f"family={family.replace(' ', '%20')}" in p]
    assert len(css_requests) == 1


def test_a_family_the_server_does_not_have_is_a_400_and_not_asked_again(api, font_server):
    first = render(api, "No Such Family")
    second = render(api, "No Such Family")

    for response in (first, second):
        assert response.status_code == 400
        assert "unknown font 'No Such Family'" in response.json()["error"]["message"]
    asked = [p for p in font_server.paths() if p.startswith("/css2") and "No%20Such" in p]
    assert len(asked) == 1


def test_with_fonts_on_demand_off_the_400_says_how_to_turn_it_on(api, settings):
    settings.KILN_GOOGLE_FONTS = False

    response = render(api, "Poppins")

    assert response.status_code == 400
    assert "KILN_GOOGLE_FONTS" in response.json()["error"]["message"]

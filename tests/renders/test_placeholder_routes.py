"""Placeholder routes over Django's test client: formats, caching headers, clamping, bad
input as 400 glyphs, no shadowing of other routes, and (hypothesis) no injection."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest
from defusedxml import ElementTree
from django.test import Client, override_settings
from django.urls import resolve
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from accounts.apis import UsageApi
from config import health
from renders import placeholder_views
from renders.apis import public

SVG = "{http://www.w3.org/2000/svg}"
IMMUTABLE = "public, max-age=31536000, immutable"
ROUTES = [
    "/1200x630",
    "/1200x630?text=hello&bg=0f172a&fg=%23e2e8f0",
    "/color/f80/320x200",
    "/color/1d3557/320x200?text=Solid&fg=fff",
    "/gradient/320x200",
    "/gradient/320x200?from=%23000&to=fff&angle=90&type=linear",
    "/gradient/320x200?from=0ea5e9&to=1e1b4b&type=radial",
    "/seed/alice/320x200",
    "/glyph/320x200?as=avatar",
    "/glyph/320x200?as=document&bg=fff&fg=333",
]


def with_ext(url: str, ext: str) -> str:
    path, _, query = url.partition("?")
    return f"{path}.{ext}" + (f"?{query}" if query else "")


def svg_root(response):
    return ElementTree.fromstring(response.content)


def image(response) -> Image.Image:
    return Image.open(io.BytesIO(response.content))


@pytest.mark.parametrize("url", ROUTES)
def test_every_route_answers_an_svg_by_default(client, url):
    response = client.get(url)

    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "image/svg+xml"
    root = svg_root(response)
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height")) in (("1200", "630"), ("320", "200"))
    assert client.get(with_ext(url, "svg")).content == response.content


@pytest.mark.parametrize("url", ROUTES)
@pytest.mark.parametrize(
    ("ext", "content_type", "pil_format"),
    [("png", "image/png", "PNG"), ("webp", "image/webp", "WEBP")],
)
def test_png_and_webp_suffixes_rasterise(client, url, ext, content_type, pil_format):
    response = client.get(with_ext(url, ext))

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    picture = image(response)
    assert picture.format == pil_format
    assert picture.size in ((1200, 630), (320, 200))


@pytest.mark.parametrize("url", ["/640x360?text=same", "/seed/bob/640x360.png"])
def test_identical_urls_give_identical_bytes(client, url):
    first = client.get(url)
    placeholder_views.CACHE.clear()  # drawn again, not served from memory
    second = client.get(url)

    assert first.content == second.content
    assert first["ETag"] == second["ETag"]


def test_different_urls_give_different_etags(client):
    etags = {client.get(url)["ETag"] for url in ROUTES}

    assert len(etags) == len(ROUTES)


def test_answers_are_cacheable_for_a_year_and_revalidate_with_304(client):
    response = client.get("/400x300.png?text=etag")
    etag = response["ETag"]

    assert response["Cache-Control"] == IMMUTABLE
    assert etag.startswith('"') and etag.endswith('"')
    again = client.get("/400x300.png?text=etag", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag and again["Cache-Control"] == IMMUTABLE
    other = client.get("/400x300.png?text=etag", HTTP_IF_NONE_MATCH='"something-else"')
    assert other.status_code == 200


def test_head_answers_like_get_without_a_body(client):
    response = client.head("/400x300")

    assert response.status_code == 200
    assert response["ETag"] == client.get("/400x300")["ETag"]


def test_sizes_clamp_to_the_setting(client):
    huge = client.get("/99999x99999")
    many_digits = client.get("/" + "9" * 5000 + "x10")

    assert (svg_root(huge).get("width"), svg_root(huge).get("height")) == ("2048", "2048")
    assert svg_root(many_digits).get("width") == "2048"
    with override_settings(KILN_PLACEHOLDER_MAX=300):
        assert image(client.get("/seed/x/99999x200.png")).size == (300, 200)


def test_clamped_png_is_the_clamped_size(client):
    assert image(client.get("/99999x99999.png")).size == (2048, 2048)


def test_query_colours_take_a_hash_or_not(client):
    plain = client.get("/200x100?bg=f80")
    hashed = client.get("/200x100?" + urlencode({"bg": "#ff8800"}))

    assert plain.content == hashed.content
    assert '<rect width="200" height="100" fill="#ff8800"/>' in plain.content.decode()


def test_a_radial_gradient_ignores_the_angle(client):
    first = client.get("/gradient/200x100?type=radial&angle=10")
    second = client.get("/gradient/200x100?type=radial&angle=300")

    assert first.content == second.content


def test_ten_kilobytes_of_text_answer_a_clamped_label(client):
    response = client.get("/1200x630?" + urlencode({"text": "<b>&amp;</b> " * 800}))

    assert response.status_code == 200
    assert b"&amp;" not in response.content and b"<b>" not in response.content


BAD_INPUT = [
    "/0x0",
    "/0x100",
    "/100x0",
    "/abcx100",
    "/100xabc",
    "/-1x100",
    "/1.5x100",
    "/100x",
    "/1200x630.gif",
    "/200x100?bg=zzz",
    "/200x100?fg=12345",
    "/200x100?bg=%23%23fff",
    "/color/zzz/200x100",
    "/color/ff00/200x100",
    "/color/%23fff/200x100",
    "/color/fff/200x",
    "/color/fff/0x0.png",
    "/gradient/200x100?type=conic",
    "/gradient/200x100?angle=361",
    "/gradient/200x100?angle=-10",
    "/gradient/200x100?angle=abc",
    "/gradient/200x100?angle=nan",
    "/gradient/200x100?angle=inf",
    "/gradient/200x100?angle=1e2",
    "/gradient/200x100?from=nothex",
    "/seed/x/axb",
    "/glyph/200x100?as=cat",
    "/glyph/200x100?as=%3Cscript%3E",
    "/glyph/wxh.png",
]


@pytest.mark.parametrize("url", BAD_INPUT)
def test_bad_input_is_a_400_glyph_never_a_500(client, url):
    response = client.get(url, HTTP_ACCEPT="image/avif,image/webp,*/*")

    assert response.status_code == 400, (url, response.status_code)
    assert response["Content-Type"] == "image/svg+xml"
    assert response["X-Kiln-Error"] == "VALIDATION_FAILED"
    assert response["Cache-Control"] == "no-store"
    assert svg_root(response).tag == f"{SVG}svg"
    assert b"<script" not in response.content


def test_an_error_glyph_takes_the_asked_size_when_the_size_was_valid(client):
    bad_colour = svg_root(client.get("/color/zzz/320x200"))
    bad_size = svg_root(client.get("/0x200"))

    assert (bad_colour.get("width"), bad_colour.get("height")) == ("320", "200")
    assert (bad_size.get("width"), bad_size.get("height")) == ("1200", "630")


@pytest.mark.parametrize("url", ["/0x0", "/gradient/10x10?angle=999", "/glyph/10x10?as=cat"])
def test_json_clients_get_the_error_body(client, url):
    response = client.get(url, HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED" and error["message"]


def test_only_get_and_head_are_allowed(client):
    response = client.post("/400x300")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response["Content-Type"] == "image/svg+xml"


def test_placeholders_do_not_shadow_the_other_routes(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert resolve("/healthz").func is health.healthz
    assert resolve("/readyz").func is health.readyz
    assert resolve("/admin/").app_name == "admin"
    assert resolve("/v1/usage").func.view_class is UsageApi
    assert resolve("/og/blog-post.png").func is public.og_image
    assert resolve("/i/1200x630").func.view_class is public.SignedImageView
    assert resolve("/render").func.view_class is public.RenderImageView


def test_paths_that_do_not_look_like_sizes_stay_404(client):
    for path in ("/favicon.ico", "/robots.txt", "/index.html", "/seed/x", "/color/fff"):
        assert client.get(path).status_code == 404, path


def test_placeholders_answer_with_the_database_out_of_reach(client):
    # No django_db mark: pytest-django refuses any query, which would surface as a 500.
    for url in ROUTES:
        assert client.get(url + ("&" if "?" in url else "?") + "v=nodb").status_code == 200


# --- property-based: the whole query space ----------------------------------------------

ALLOWED_TAGS = {
    "svg",
    "defs",
    "linearGradient",
    "radialGradient",
    "stop",
    "rect",
    "circle",
    "polygon",
    "path",
    "g",
    "image",
}
# Valid values most of the time, so the text and markup reach a drawing, not only a 400.
valid_hex = st.from_regex(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", fullmatch=True)
hex_like = st.one_of(valid_hex, valid_hex, valid_hex, st.text(max_size=12))
nasty_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            '"><svg onload=alert(1)>',
            "&amp; &#x3C; &lt; ]]> <![CDATA[x]]>",
            "<!DOCTYPE x [<!ENTITY e 'x'>]>&e;",
            "\x00\x01\x0b\ufffe",
            "🚀 東京 مرحبا",
        ]
    ),
)
valid_size = st.tuples(st.integers(0, 3000), st.integers(0, 3000)).map(lambda s: f"{s[0]}x{s[1]}")
sizes = st.one_of(
    valid_size, valid_size, valid_size, st.text(alphabet="0123456789x.-+ab", max_size=10)
)
queries = st.fixed_dictionaries(
    {},
    optional={
        "text": nasty_text,
        "bg": hex_like,
        "fg": hex_like,
        "from": hex_like,
        "to": hex_like,
        "angle": st.one_of(
            st.integers(0, 360).map(str),
            st.floats(0, 360).map(lambda a: f"{a:.2f}"),
            st.integers(-20, 400).map(str),
            st.text(max_size=6),
        ),
        "type": st.sampled_from(["linear", "radial", "linear", "radial", "conic", "", "<x>"]),
        "as": st.sampled_from(["avatar", "photo", "video", "product", "map", "document", "<x"]),
    },
)
paths = st.one_of(
    sizes.map(lambda s: f"/{s}"),
    st.tuples(hex_like, sizes).map(lambda t: f"/color/{t[0]}/{t[1]}"),
    sizes.map(lambda s: f"/gradient/{s}"),
    st.tuples(nasty_text, sizes).map(lambda t: f"/seed/{t[0]}/{t[1]}"),
    sizes.map(lambda s: f"/glyph/{s}"),
)


def quote_path(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/", errors="surrogatepass")


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(path=paths, query=queries)
def test_every_answer_is_well_formed_svg_or_a_400_and_never_carries_markup(path, query):
    client = Client()
    encoded = {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}
    url = quote_path(path) + ("?" + urlencode(encoded) if encoded else "")
    response = client.get(url, HTTP_ACCEPT="*/*")
    event(f"status {response.status_code}")

    assert response.status_code in (200, 400, 404), (url, response.status_code)
    if response.status_code == 404:  # a path that is no placeholder route at all
        assert response["Content-Type"] == "application/json"
        return
    assert response["Content-Type"] == "image/svg+xml"
    root = ElementTree.fromstring(response.content, forbid_dtd=True, forbid_entities=True)
    assert root.tag == f"{SVG}svg"
    for element in root.iter():
        tag = element.tag.removeprefix(SVG)
        assert response.status_code == 400 or tag in ALLOWED_TAGS, tag
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), name
            if name.endswith("href"):
                assert value.startswith("data:image/png;base64,")
    body = response.content.decode("utf-8", "replace")
    for value in (*query.values(), path):
        if "<" in value:
            assert value not in body


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(["/480x270", "/color/123/480x270", "/gradient/480x270"]),
    text=nasty_text,
)
def test_any_text_is_a_label_that_fits_and_never_markup(route, text):
    encoded = urlencode({"text": text.encode("utf-8", "surrogatepass")})
    response = Client().get(f"{route}?{encoded}")

    assert response.status_code == 200
    root = ElementTree.fromstring(response.content, forbid_dtd=True, forbid_entities=True)
    assert {element.tag.removeprefix(SVG) for element in root.iter()} <= ALLOWED_TAGS
    if "<" in text or "&" in text:
        assert text not in response.content.decode()

"""Tree templates drawn: params (`when`, defaults, interpolation), images through the
caller's fetcher, paint (backgrounds, gradients, borders, corners, opacity), and the
shipped templates through the rasteriser, checked on pixels."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from workers.rasterise import inspect_svg, render_svg
from workers.tree import TreeTemplateError, parse_tree_template, render_tree_svg

BUILTIN = Path(__file__).resolve().parents[2] / "renders" / "builtin_templates" / "tree"
W, H = 400, 200


def template(node: dict, **extra):
    return parse_tree_template({"tree": node, **extra})


def svg_of(node: dict, params: dict | None = None, **options) -> str:
    extra = {k: options.pop(k) for k in ("required", "defaults") if k in options}
    return render_tree_svg(template(node, **extra), params or {}, width=W, height=H, **options)


def pixels(svg: str, width: int = W, height: int = H) -> Image.Image:
    inspect_svg(svg.encode())
    image = render_svg(svg.encode(), format="png", width=width, height=height)
    return Image.open(io.BytesIO(image.data)).convert("RGBA")


def png_bytes(colour: tuple[int, int, int], size=(40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def ink_columns(image: Image.Image, background=(255, 255, 255)) -> tuple[int, int]:
    rgb = image.convert("RGB")
    columns = [
        x
        for x in range(rgb.width)
        if any(rgb.getpixel((x, y)) != background for y in range(rgb.height))
    ]
    return columns[0], columns[-1]


FULL = "flex w-full h-full"


# --- params ---------------------------------------------------------------------------


def test_when_drops_a_node_whose_param_is_missing_or_empty():
    node = {
        "type": "div",
        "tw": f"{FULL} flex-col",
        "children": [
            {"type": "div", "tw": "h-10 bg-red-500", "when": "flag"},
            {"type": "div", "tw": "h-10 bg-blue-500"},
        ],
    }
    shown = pixels(svg_of(node, {"flag": "yes"}))
    assert shown.getpixel((5, 5))[:3] == (0xEF, 0x44, 0x44)
    for params in ({}, {"flag": ""}):
        dropped = pixels(svg_of(node, params))
        assert dropped.getpixel((5, 5))[:3] == (0x3B, 0x82, 0xF6)  # blue moved up


def test_defaults_fill_missing_and_empty_params_before_when():
    node = {"type": "div", "tw": FULL, "style": {"backgroundColor": "{{bg}}"}, "when": "bg"}
    for params in ({}, {"bg": ""}):
        image = pixels(svg_of(node, params, defaults={"bg": "#00ff00"}))
        assert image.getpixel((200, 100))[:3] == (0, 255, 0)
    assert pixels(svg_of(node, {"bg": "#0000ff"}, defaults={"bg": "#00ff00"})).getpixel((200, 100))[
        :3
    ] == (0, 0, 255)


def test_interpolation_in_style_tw_and_text():
    node = {
        "type": "div",
        "tw": f"{FULL} bg-{{{{tone}}}}-500 items-center justify-center",
        "style": {"borderWidth": "{{edge}}", "borderColor": "rgba({{r}}, 0, 0, 1)"},
        "children": [{"type": "div", "tw": "text-4xl text-white", "text": "{{word}}!"}],
    }
    svg = svg_of(node, {"tone": "emerald", "edge": "10px", "r": "255", "word": "Hi"})
    image = pixels(svg)
    assert image.getpixel((3, 100))[:3] == (255, 0, 0)  # the border
    assert image.getpixel((20, 20))[:3] == (0x10, 0xB9, 0x81)  # bg-emerald-500
    assert svg.count('fill="#ffffff"') == 1  # the text was drawn


def test_an_empty_style_param_leaves_the_property_unset():
    node = {"type": "div", "tw": f"{FULL} bg-red-500", "style": {"backgroundColor": "{{bg}}"}}
    assert pixels(svg_of(node, {})).getpixel((5, 5))[:3] == (0xEF, 0x44, 0x44)


def test_a_missing_required_param_is_named():
    with pytest.raises(TreeTemplateError, match="missing required param 'title'"):
        svg_of({"type": "div", "text": "{{title}}"}, {"title": ""}, required=["title"])


def test_a_param_that_makes_a_bad_value_or_class_is_an_error_naming_the_node():
    node = {
        "type": "div",
        "tw": "flex",
        "children": [{"type": "div", "style": {"color": "{{ink}}"}, "text": "x"}],
    }
    with pytest.raises(TreeTemplateError) as caught:
        svg_of(node, {"ink": "url(http://evil/)"})
    assert caught.value.path == "tree.children[0]" and "not a colour" in caught.value.message
    with pytest.raises(TreeTemplateError, match="unknown Tailwind class 'bg-nope-500'"):
        svg_of({"type": "div", "tw": "bg-{{c}}-500"}, {"c": "nope"})


def test_param_text_cannot_inject_markup():
    svg = svg_of({"type": "div", "tw": FULL, "text": "{{t}}"}, {"t": '</svg><script>"&'})
    assert "<script" not in svg and "&" not in svg
    inspect_svg(svg.encode())


def test_output_is_deterministic():
    source = (BUILTIN / "promo.json").read_text()
    params = {"title": "Same input", "feature1": "One", "from": "#123456"}
    first = render_tree_svg(parse_tree_template(source), params, width=1200, height=630)
    second = render_tree_svg(parse_tree_template(source), params, width=1200, height=630)
    assert first == second


# --- images ---------------------------------------------------------------------------


def test_an_image_is_fetched_through_the_callback_and_embedded():
    calls = []

    def fetch(url):
        calls.append(url)
        return "image/png", png_bytes((255, 0, 0))

    node = {
        "type": "div",
        "tw": f"{FULL} bg-white items-start",
        "children": [{"type": "img", "src": "https://cdn.example/{{name}}.png", "tw": "w-20"}],
    }
    svg = svg_of(node, {"name": "logo"}, fetch_image=fetch)
    assert calls == ["https://cdn.example/logo.png"]
    assert "https://" not in svg and 'href="data:image/png;base64,' in svg
    image = pixels(svg)
    assert image.getpixel((40, 20))[:3] == (255, 0, 0)  # 80 × 40: the intrinsic 2:1
    assert image.getpixel((40, 45))[:3] == (255, 255, 255)


def test_a_failing_or_missing_fetcher_leaves_the_box_empty():
    def broken(url):
        raise OSError("blocked by the address guard")

    node = {
        "type": "div",
        "tw": f"{FULL} bg-white",
        "children": [{"type": "img", "src": "https://x/a.png", "tw": "w-20 h-20 bg-blue-500"}],
    }
    for fetch in (broken, None, lambda url: ("text/html", b"<html>")):
        image = pixels(svg_of(node, fetch_image=fetch))
        assert image.getpixel((40, 40))[:3] == (0x3B, 0x82, 0xF6)  # its background only


def test_a_data_url_src_needs_no_fetcher_and_rounded_images_are_clipped():
    url = "data:image/png;base64," + base64.b64encode(png_bytes((0, 128, 0), (10, 10))).decode()
    node = {
        "type": "div",
        "tw": f"{FULL} bg-white",
        "children": [{"type": "img", "src": url, "tw": "w-40 h-40 rounded-full object-cover"}],
    }
    image = pixels(svg_of(node))
    assert image.getpixel((80, 80))[:3] == (0, 128, 0)
    assert image.getpixel((4, 4))[:3] == (255, 255, 255)  # outside the circle


# --- paint ----------------------------------------------------------------------------


def test_gradient_runs_from_from_to_to():
    node = {"type": "div", "tw": f"{FULL} bg-gradient-to-r from-red-500 to-blue-500"}
    image = pixels(svg_of(node))
    left, right = image.getpixel((1, 100))[:3], image.getpixel((398, 100))[:3]
    assert left[0] > 200 and left[2] < 100
    assert right[2] > 200 and right[0] < 100


def test_a_css_gradient_in_style_with_param_colours():
    node = {
        "type": "div",
        "tw": FULL,
        "style": {"backgroundImage": "linear-gradient(180deg, {{a}}, {{b}})"},
    }
    image = pixels(svg_of(node, {"a": "#000000", "b": "#ffffff"}))
    assert image.getpixel((200, 1))[0] < 10 and image.getpixel((200, 198))[0] > 245


def test_a_fade_to_transparent_keeps_its_colour():
    node = {
        "type": "div",
        "tw": f"{FULL} bg-white",
        "children": [
            {"type": "div", "tw": "w-full h-full bg-gradient-to-r from-red-500 to-transparent"}
        ],
    }
    middle = pixels(svg_of(node)).getpixel((200, 100))[:3]
    assert middle[0] > 240 and middle[1] > 120  # pink, not greyish (no fade through black)


def test_border_radius_and_opacity():
    node = {
        "type": "div",
        "tw": f"{FULL} bg-white p-10",
        "children": [
            {"type": "div", "tw": "w-40 h-40 rounded-3xl bg-black border-8 border-red-500"},
            {"type": "div", "tw": "w-20 h-20 bg-black opacity-50 ml-4"},
        ],
    }
    image = pixels(svg_of(node))
    assert image.getpixel((41, 41))[:3] == (255, 255, 255)  # the rounded corner
    assert image.getpixel((44, 120))[:3] == (0xEF, 0x44, 0x44)  # the left border
    assert image.getpixel((120, 120))[:3] == (0, 0, 0)
    grey = image.getpixel((260, 80))[:3]
    assert all(120 <= channel <= 135 for channel in grey)  # 50 % black on white


def test_shadow_is_drawn_around_the_box():
    node = {
        "type": "div",
        "tw": f"{FULL} bg-white items-center justify-center",
        "children": [{"type": "div", "tw": "w-40 h-20 bg-white shadow-2xl"}],
    }
    image = pixels(svg_of(node)).convert("RGB")
    below = image.getpixel((200, 152))
    assert below != (255, 255, 255) and min(below) > 150  # soft, not a hard black edge


def test_rtl_text_is_set_against_the_right_edge():
    node = {"type": "div", "tw": f"{FULL} bg-white text-4xl", "text": "مرحبا بالعالم"}
    left, right = ink_columns(pixels(svg_of(node)))
    assert right > W - 10 and left > W / 3


def test_hidden_and_zero_opacity_draw_nothing():
    node = {
        "type": "div",
        "tw": f"{FULL} bg-white",
        "children": [
            {"type": "div", "tw": "w-10 h-10 bg-black hidden"},
            {"type": "div", "tw": "w-10 h-10 bg-black opacity-0"},
        ],
    }
    assert pixels(svg_of(node)).convert("RGB").getextrema() == ((255, 255), (255, 255), (255, 255))


# --- the shipped templates ------------------------------------------------------------

TITLES = {
    "sample": None,
    "long": "The surprisingly long story of how a tiny team rebuilt its entire rendering "
    "pipeline, twice, and what each painful rewrite taught us about caching everything",
    "arabic": "مرحبا بالعالم، هذا عنوان عربي طويل لبطاقة المشاركة يمتد على عدة أسطر",
    "chinese": "东京举办的国际会议通知：用中文写的一个相当长的标题，用来测试换行",
}


@pytest.mark.parametrize("title", sorted(TITLES))
@pytest.mark.parametrize("name", ["hero", "card", "promo"])
def test_shipped_templates_render_to_png(name, title):
    shipped = parse_tree_template((BUILTIN / f"{name}.json").read_text())
    params = dict(shipped.sample_params)
    if TITLES[title]:
        params["title"] = TITLES[title]
    svg = render_tree_svg(shipped, params, width=1200, height=630)

    assert inspect_svg(svg.encode()).width == 1200
    image = render_svg(svg.encode(), format="png", width=1200, height=630)
    assert image.data.startswith(b"\x89PNG") and (image.width, image.height) == (1200, 630)
    picture = Image.open(io.BytesIO(image.data)).convert("RGB")
    assert len(picture.resize((60, 32)).getcolors(60 * 32)) > 8  # text and colour, not blank


def test_the_reference_hero_renders_unchanged():
    from tests.workers.test_tree_template import REFERENCE_HERO

    svg = render_tree_svg(
        parse_tree_template(REFERENCE_HERO), {"title": "Hello"}, width=1200, height=630
    )
    image = pixels(svg, 1200, 630).convert("RGB")
    assert image.getpixel((5, 5)) == (0x02, 0x06, 0x17)  # bg-slate-950
    left, _ = ink_columns(image, (0x02, 0x06, 0x17))
    assert left == pytest.approx(80, abs=4)  # px-20

"""The `tree` engine against a browser (issue 15, item 3): the same node tree rendered by
Kiln (Taffy + the text engine + cairosvg) and as HTML in Chromium, its classes styled
by Tailwind v3's real CSS (tests/support/tree_browser.py), compared node by node and
pixel by pixel. Covers the three built-in templates and one layout per class group
(spacing, sizing/fractions, flex, typography, HTML presets, borders/rounded, absolute/
inset, images, baseline, wrapping, clamping), and one case per known bug below.

Boxes: every node's border box and content box, in canvas px, must agree within
`BOX_TOLERANCE` = 2 px on each of x, y, width and height, text leaves included. Measured
on the cases below, boxes without text agree to 0.02 px (Taffy and Blink do the same
float arithmetic; Blink keeps 1/64 px) and text leaves to 0.15 px (the last of eight
preset margins in em, each kept to 1/64 px by Blink) where bug 1 is not involved: both
shape with HarfBuzz on the same Inter files, and line height is exact.
So 2 px is not there for noise; it is the brief's bound, loose enough for layout-unit
rounding to add up across a tree and tight enough that a different line count (a whole
line, 12 px and up), a dropped spacing step (Tailwind's steps above `px` are 2 px and
up) or a swapped alignment fails. Text gets no extra slack: where text boxes differed,
it was a real difference (the known bugs below), not noise.

Pixels: `pixel_score`, the worst 16 × 16 px tile's mean of what differs *beyond a 1 px
shift*: each pixel of one image is held against the range (per channel) of the other's
3 × 3 neighbourhood, both ways, and only the excess counts. Anti-aliasing, sub-pixel
glyph placement and rasteriser differences (cairo vs Skia) stay inside that range; a
moved, missing or recoloured thing does not. A tile rather than the whole image, so a
small misplaced label is not averaged away over a 1200 × 630 card. Measured: the
matching cases score 0-16 (the highest, promo-short-title and typography, are labels
pushed 1.4-2 px by bug 1 below); a 2 px shift of the hero's title scores 69, a header
label moved 16 px 51, a title block moved 100 px 187. `PIXEL_THRESHOLD` = 24 sits
between, and `test_a_broken_layout_fails_both_checks` proves it on broken layouts.

Known engine bugs (reported, not fixed here: strict xfails, so a fix shows up as XPASS
and the mark must go):
1. letter-spacing: Kiln adds `tracking-*` between characters but not after the last;
   CSS (and Satori) add it after every character. A leaf is |spacing| px narrower
   (positive) or wider (negative) per line, and a line can wrap one word earlier
   (promo's title: 3 lines instead of the browser's 2).
2. aspect-ratio: an `aspect-*` item that shrinks in a row keeps the height of its
   unshrunk width (Taffy); CSS derives the height from the width it ends up with.
3. line-clamp's ellipsis: Chromium fills the last line and cuts inside a word, Kiln ends
   the line at a word boundary and puts the ellipsis after it (same boxes, other ink).
4. items-baseline: Kiln's text leaves give Taffy no baseline, so their boxes' bottom
   edges are lined up instead of their text baselines: off by 1 px when the line
   heights are alike (`baseline`), by 21 px with `leading-loose` next to `leading-none`.

Chromium here is Debian's, driven by Playwright, offline (every request refused). No
PostgreSQL or Redis: an engine test.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from tests.support.tree_browser import BrowserBoxes, tailwind_css, tree_classes, tree_html
from workers.rasterise import render_svg
from workers.tree import layout_tree, parse_tree_template, render_tree_svg
from workers.tree.layout import text_box

pytestmark = pytest.mark.engine

BUILTIN = Path(__file__).resolve().parents[2] / "renders" / "builtin_templates" / "tree"
BOX_TOLERANCE = 2.0  # px, each of x, y, width, height of the border and content boxes
LAYOUT_UNIT = 1 / 64  # px: Blink's layout resolution, below which a browser box says nothing
PIXEL_THRESHOLD = 24.0  # worst tile's mean excess beyond a 1 px shift, 0-255
TILE = 16  # px
SHIFT = 3  # the neighbourhood (px) a pixel is matched in: ±1 px

LETTER_SPACING_BUG = (
    "letter-spacing: Kiln leaves out the spacing after a line's last character, CSS "
    "and Satori add it (promo's title wraps one word earlier)"
)
BASELINE_BUG = (
    "items-baseline: Kiln lines up the bottoms of text leaves' boxes, not their text baselines"
)
CLAMP_ELLIPSIS = (
    "line-clamp: the browser fills the last line and cuts inside a word ('even wh…'), "
    "Kiln ends it at a word ('even…')"
)
ASPECT_SHRINK_BUG = (
    "aspect-ratio: a shrunk `aspect-*` row item keeps the height of its unshrunk width"
)


# --- the cases ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    template: dict
    params: dict = field(default_factory=dict)
    width: int = 640
    height: int = 560
    box_bug: str | None = None  # a known engine bug that makes the boxes differ
    pixel_bug: str | None = None  # ... and the pixels


def _builtin(name: str) -> dict:
    return json.loads((BUILTIN / f"{name}.json").read_text())


def _png(width: int, height: int, colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def div(tw: str, *children: dict) -> dict:
    return {"type": "div", "tw": tw, **({"children": list(children)} if children else {})}


def leaf(tw: str, text: str, kind: str = "div") -> dict:
    return {"type": kind, "tw": tw, "text": text}


def img(tw: str, src: str) -> dict:
    return {"type": "img", "tw": tw, "src": src}


def tree(node: dict) -> dict:
    return {"tree": node}


SENTENCE = "Layout engines agree on boxes when text measures the same"
HERO, CARD, PROMO = _builtin("hero"), _builtin("card"), _builtin("promo")

CASES: dict[str, Case] = {
    "hero": Case(HERO, HERO["sampleParams"], 1200, 630),
    "hero-long-title": Case(
        HERO,
        {
            "title": "Kiln lays out the same boxes as the browser, line for line and pixel "
            "for pixel, even when a title runs long",
            "subtitle": "Three lines at most, then an ellipsis",
            "eyebrow": "Engine notes",
        },
        1200,
        630,
        pixel_bug=CLAMP_ELLIPSIS,
    ),
    "card": Case(CARD, CARD["sampleParams"], 1200, 630),
    "card-title-only": Case(CARD, {"title": "Short title", "byline": "Grace Hopper"}, 1200, 630),
    "promo": Case(
        PROMO,
        PROMO["sampleParams"],
        1200,
        630,
        box_bug=LETTER_SPACING_BUG,
        pixel_bug=LETTER_SPACING_BUG,
    ),
    # The sample's badge and features with a title whose lines do not end within the
    # spacing of the bug above: the rest of promo is checked. (The badge, 3 letters at
    # `tracking-widest` 2 px, is 2 px narrower than in the browser: at the limit.)
    "promo-short-title": Case(
        PROMO,
        {**PROMO["sampleParams"], "title": "Launch week: faster cards", "feature3": "Emoji"},
        1200,
        630,
    ),
    "spacing": Case(
        tree(
            div(
                "flex flex-col w-full h-full bg-slate-100 p-6",
                div("flex bg-white px-8 py-3 mb-4", div("w-10 h-10 bg-sky-500")),
                div("flex bg-white pt-2 pr-6 pb-10 pl-1 m-2", div("w-10 h-10 bg-rose-500 ml-auto")),
                div(
                    "flex bg-white p-4 gap-3",
                    div("w-8 h-8 bg-amber-400 mx-2"),
                    div("w-8 h-8 bg-amber-500 -ml-3"),
                    div("w-8 h-8 bg-amber-600 mt-px"),
                    div("w-8 h-8 bg-amber-700 mr-6 mb-2"),
                ),
                div(
                    "flex bg-white p-[10px] mx-auto w-1/2", div("flex-1 h-6 bg-emerald-500 my-1.5")
                ),
                div(
                    "flex bg-white -mt-2 ml-12 py-0.5 px-2.5 gap-x-5",
                    div("w-12 h-5 bg-indigo-400"),
                    div("w-12 h-5 bg-indigo-600 mt-auto"),
                ),
                div(
                    "flex flex-col bg-white p-3 gap-y-2",
                    div("h-3 bg-teal-400"),
                    div("h-3 bg-teal-600 mx-9"),
                ),
            )
        )
    ),
    "sizing": Case(
        tree(
            div(
                "flex flex-col w-full h-full bg-white gap-2 p-4",
                div(
                    "flex w-full h-10",
                    div("w-1/3 bg-red-300"),
                    div("w-1/4 bg-red-400"),
                    div("w-5/12 bg-red-500"),
                ),
                div("flex w-full h-10", div("w-2/3 bg-blue-300"), div("w-[38%] bg-blue-500")),
                div(
                    "flex w-full h-16",
                    div("basis-1/3 bg-green-300"),
                    div("basis-1/2 h-1/2 bg-green-500"),
                ),
                div(
                    "flex items-start h-24 w-full gap-3",
                    div("size-12 bg-fuchsia-400"),
                    div("w-16 aspect-square bg-fuchsia-500"),
                    div("w-40 aspect-video bg-fuchsia-600"),
                    div("w-3/4 max-w-[200px] h-4 bg-fuchsia-300"),
                ),
                div(
                    "flex w-[300px] h-12 bg-slate-200",
                    div("min-w-[200px] w-1/2 bg-orange-400"),
                    div("w-full bg-orange-600"),
                ),
                div(
                    "flex h-20 w-full",
                    div("min-h-16 max-h-8 w-1/5 bg-cyan-500"),
                    div("h-full w-1/6 bg-cyan-700"),
                    div("w-screen max-w-xs h-1/4 bg-cyan-300"),
                ),
            )
        )
    ),
    "aspect-shrink": Case(
        tree(
            div(
                "flex w-[300px] items-start gap-4 bg-slate-100",
                div("w-40 aspect-video bg-fuchsia-600"),
                div("w-40 aspect-square bg-fuchsia-400"),
            )
        ),
        box_bug=ASPECT_SHRINK_BUG,
        pixel_bug=ASPECT_SHRINK_BUG,
    ),
    "flex": Case(
        tree(
            div(
                "flex flex-col w-full h-full bg-white p-3 gap-2",
                div(
                    "flex justify-between h-8 bg-slate-100",
                    div("w-8 bg-lime-500"),
                    div("w-8 bg-lime-600"),
                    div("w-8 bg-lime-700"),
                ),
                div(
                    "flex justify-around h-8 bg-slate-100",
                    div("w-8 bg-lime-500"),
                    div("w-8 bg-lime-600"),
                ),
                div(
                    "flex justify-evenly h-8 bg-slate-100",
                    div("w-8 bg-lime-500"),
                    div("w-8 bg-lime-600"),
                ),
                div(
                    "flex justify-center gap-2 h-8 bg-slate-100",
                    div("w-8 bg-lime-500"),
                    div("w-8 bg-lime-600"),
                ),
                div(
                    "flex justify-end items-end h-12 bg-slate-100",
                    div("w-8 h-4 bg-lime-500"),
                    div("w-8 h-6 bg-lime-600 self-start"),
                ),
                div(
                    "flex items-center h-12 bg-slate-100",
                    div("w-8 h-4 bg-violet-500"),
                    div("w-8 bg-violet-600 self-stretch"),
                    div("w-8 h-4 bg-violet-700 self-end"),
                ),
                div(
                    "flex h-8 bg-slate-100",
                    div("grow bg-pink-300"),
                    div("flex-1 bg-pink-500"),
                    div("flex-none w-20 bg-pink-700"),
                    div("flex-auto w-10 bg-pink-200"),
                ),
                div(
                    "flex w-48 h-8 bg-slate-100",
                    div("w-40 shrink-0 bg-sky-300"),
                    div("w-40 bg-sky-500"),
                    div("w-40 bg-sky-700"),
                ),
                div(
                    "flex flex-wrap content-start gap-x-3 gap-y-1 w-[260px] bg-slate-100",
                    *(div(f"w-16 h-5 bg-emerald-{shade}") for shade in range(300, 900, 100)),
                ),
                div(
                    "flex flex-row-reverse h-8 bg-slate-100",
                    div("w-10 bg-rose-400"),
                    div("w-16 bg-rose-600"),
                ),
                div(
                    "flex h-24 gap-4",
                    div(
                        "flex flex-col-reverse w-20 bg-slate-100",
                        div("h-5 bg-yellow-400"),
                        div("h-8 bg-yellow-600"),
                    ),
                    div(
                        "flex flex-col justify-center items-center w-20 bg-slate-100",
                        div("w-6 h-6 bg-yellow-500"),
                    ),
                    div(
                        "flex flex-wrap content-center w-20 h-24 bg-slate-100",
                        div("w-12 h-6 bg-stone-400"),
                        div("w-12 h-6 bg-stone-600"),
                    ),
                    div(
                        "flex flex-wrap content-between w-20 h-24 bg-slate-100",
                        div("w-12 h-6 bg-stone-400"),
                        div("w-12 h-6 bg-stone-600"),
                    ),
                ),
            )
        )
    ),
    "typography": Case(
        tree(
            div(
                "flex flex-col w-full h-full bg-white p-5 gap-1 text-slate-900",
                div(
                    "flex items-end gap-3",
                    leaf("text-xs", "xs"),
                    leaf("text-sm font-light", "sm light"),
                    leaf("text-base font-medium", "base medium"),
                    leaf("text-lg font-semibold", "lg semi"),
                    leaf("text-2xl font-bold", "2xl bold"),
                    leaf("text-4xl font-black", "4xl black"),
                    leaf("text-5xl font-thin", "5xl"),
                ),
                leaf("text-xl leading-none bg-amber-100 w-[260px]", SENTENCE),
                leaf("text-xl leading-loose bg-amber-200 w-[260px]", SENTENCE),
                leaf(
                    "text-lg leading-7 tracking-wide text-center bg-amber-100 w-[320px]", SENTENCE
                ),
                leaf("text-lg leading-tight text-right bg-amber-200 w-[320px]", SENTENCE),
                div(
                    "flex gap-4",
                    leaf("uppercase tracking-widest text-sm", "Eyebrow label"),
                    leaf("italic text-base font-serif", "Serif italic"),
                    leaf("font-mono text-sm", "mono 0123"),
                    leaf("capitalize text-base", "every word capital"),
                ),
                leaf("text-3xl font-extrabold text-indigo-700", "A heading on one line"),
                leaf("text-[22px] leading-[1.1] text-slate-600 w-[300px]", SENTENCE),
            )
        )
    ),
    # Letter spacing alone: a shrink-to-fit leaf at 0.1em of 48 px.
    "tracking": Case(
        tree(div("flex w-full h-full bg-white p-6", leaf("text-5xl tracking-widest", "Tracked"))),
        box_bug=LETTER_SPACING_BUG,
    ),
    "presets": Case(
        tree(
            div(
                "flex flex-col w-full h-full bg-white px-6",
                leaf("", "Heading one", "h1"),
                leaf("", "Heading two", "h2"),
                leaf("text-indigo-600", "Heading three", "h3"),
                leaf("", "A paragraph with the browser's margins, one em above and below.", "p"),
                leaf("", "Heading four", "h4"),
                leaf("", "Heading five", "h5"),
                leaf("", "Heading six", "h6"),
                leaf("text-sm", "A span leaf", "span"),
            )
        )
    ),
    "borders": Case(
        tree(
            div(
                "flex flex-wrap content-start w-full h-full bg-slate-50 p-6 gap-6",
                div("flex w-28 h-20 border border-slate-400 bg-white p-2", div("grow bg-sky-200")),
                div(
                    "flex w-28 h-20 border-2 border-rose-500 rounded-lg p-1",
                    div("grow bg-rose-100 rounded"),
                ),
                div(
                    "flex w-28 h-20 border-x-4 border-t-8 border-emerald-600 bg-white",
                    div("grow bg-emerald-100"),
                ),
                div("flex w-28 h-20 border-b-4 border-indigo-500 rounded-t-2xl bg-indigo-100"),
                div("flex w-20 h-20 rounded-full bg-amber-400 border-4 border-white shadow-md"),
                div(
                    "flex w-28 h-20 rounded-xl bg-white shadow-lg border border-slate-200 p-3",
                    leaf("text-sm text-slate-700", "Card in a card"),
                ),
                div(
                    "flex w-28 h-20 rounded-md bg-black/50 p-2", div("grow rounded-sm bg-white/60")
                ),
                div(
                    "flex w-28 h-20 rounded-tl-3xl rounded-br-3xl opacity-75 "
                    "bg-gradient-to-r from-sky-400 to-indigo-500"
                ),
                div(
                    "flex w-28 h-20 border-8 border-slate-800 p-3 bg-yellow-200",
                    div("grow border bg-white"),
                ),
            )
        )
    ),
    "absolute": Case(
        tree(
            div(
                "flex relative w-full h-full bg-slate-200 p-8",
                div("absolute inset-0 m-4 bg-white"),
                div("absolute top-4 right-4 w-12 h-12 bg-rose-500"),
                div("absolute inset-x-10 bottom-6 h-8 bg-sky-500"),
                div("absolute left-1/4 top-1/3 w-1/2 h-10 bg-emerald-500"),
                div(
                    "flex relative w-40 h-28 bg-indigo-100 border-4 border-indigo-400 p-3",
                    div("absolute -top-2 -left-2 w-6 h-6 bg-indigo-700"),
                    div("absolute bottom-0 right-0 w-1/2 h-1/2 bg-indigo-300"),
                    leaf("absolute bottom-2 left-2 text-xs text-indigo-900", "pinned"),
                ),
                leaf("absolute top-8 left-64 text-base font-semibold", "absolute text"),
            )
        )
    ),
    "images": Case(
        tree(
            div(
                "flex w-full h-full bg-white p-6 gap-4 items-start",
                img("w-40", _png(80, 40, (220, 40, 60))),
                img("h-24", _png(60, 90, (40, 120, 220))),
                img("w-24 h-24 rounded-full object-cover", _png(120, 60, (30, 160, 90))),
                img("", _png(50, 30, (120, 60, 200))),
                div(
                    "flex flex-col gap-1",
                    leaf("text-base font-semibold", "Caption"),
                    leaf("text-sm text-slate-500", "Below it"),
                ),
            )
        )
    ),
    "baseline": Case(
        tree(
            div(
                "flex w-full h-full bg-white p-6 items-baseline gap-4",
                leaf("text-5xl font-bold", "Big"),
                leaf("text-base", "small"),
                leaf("text-2xl", "mid"),
            )
        )
    ),
    # Items whose text sits differently in its line box (line heights 1 and 2).
    "baseline-leading": Case(
        tree(
            div(
                "flex w-full h-full bg-white p-6 items-baseline gap-4",
                leaf("text-5xl font-bold", "Big"),
                leaf("text-base leading-loose", "loose"),
                leaf("text-2xl leading-[3]", "tall"),
            )
        ),
        box_bug=BASELINE_BUG,
        pixel_bug=BASELINE_BUG,
    ),
    "wrapping": Case(
        tree(
            div(
                "flex w-full h-full bg-white p-6 gap-6",
                leaf(
                    "flex-1 text-2xl bg-slate-100",
                    "A row of three columns shares its width between leaves that wrap",
                ),
                leaf("flex-1 text-base bg-slate-200", "The middle one is shorter"),
                leaf(
                    "w-[180px] shrink-0 text-lg font-semibold bg-slate-100",
                    "Fixed width column with several words",
                ),
            )
        )
    ),
    "clamping": Case(
        tree(
            div(
                "flex flex-col w-full h-full bg-white p-6 gap-4",
                leaf("w-[300px] text-lg line-clamp-2 bg-slate-100", f"{SENTENCE}, {SENTENCE}"),
                leaf("w-[260px] text-2xl truncate bg-slate-100", SENTENCE),
                leaf("w-[300px] text-base whitespace-nowrap bg-slate-100", "No wrap but it fits"),
            )
        ),
        pixel_bug=CLAMP_ELLIPSIS,
    ),
}


def _broken(template: dict, path: tuple, old: str, new: str) -> dict:
    """`template` with one class of the node at `path` (child indexes) swapped."""
    broken = copy.deepcopy(template)
    node = broken["tree"]
    for index in path:
        node = node["children"][index]
    assert old in node["tw"].split(), (old, node["tw"])
    node["tw"] = " ".join(new if name == old else name for name in node["tw"].split())
    return broken


# Kiln renders the broken template, the browser the right one, with the sample params:
# name → (right template, broken template, the node whose box must be reported).
BROKEN = {
    "card: title column not centred": (
        CARD,
        _broken(CARD, (0, 1), "justify-center", "justify-start"),
        "tree.children[0].children[1].children[0]",
    ),
    "hero: padding 72 px instead of 80": (
        HERO,
        _broken(HERO, (), "px-20", "px-[72px]"),
        "tree.children[1]",
    ),
    "card: header gap 32 px instead of 16": (
        CARD,
        _broken(CARD, (0, 0), "gap-4", "gap-8"),
        "tree.children[0].children[0].children[1]",
    ),
}


# --- rendering and comparing ----------------------------------------------------------


@dataclass
class Rendered:
    kiln_boxes: dict[str, dict]
    browser_boxes: dict[str, dict]
    kiln_png: Image.Image
    browser_png: Image.Image


@pytest.fixture(scope="module")
def css() -> str:
    """One Tailwind build for every class of every case (installs tools/tailwind once)."""
    classes: set[str] = set()
    for case in CASES.values():
        classes |= tree_classes(parse_tree_template(case.template), case.params)
    for right, broken, _ in BROKEN.values():
        for source in (right, broken):
            classes |= tree_classes(parse_tree_template(source), source["sampleParams"])
    return tailwind_css(classes)


@pytest.fixture(scope="module")
def browser():
    boxes = BrowserBoxes()
    yield boxes
    boxes.close()


@pytest.fixture(scope="module")
def render(browser, css):
    """render(kiln_template, browser_template, params, width, height) → Rendered,
    remembered per case for the box and pixel tests."""
    done: dict[str, Rendered] = {}

    def run(key: str, kiln_source: dict, browser_source: dict, params, width, height):
        if key not in done:
            done[key] = _render(browser, css, kiln_source, browser_source, params, width, height)
        return done[key]

    return run


def _kiln_boxes(template, params, width: int, height: int) -> dict[str, dict]:
    root = layout_tree(template, params, width=width, height=height)
    out = {}
    for element in root.walk() if root is not None else ():
        lines = 0
        if element.text is not None:
            lines = len(text_box(element, max(element.content_box[2], 0.01)).lines)
        out[element.path] = {
            "kind": element.kind,
            "text": element.text,
            "box": element.box,
            "content_box": element.content_box,
            "lines": lines,
        }
    return out


def _render(browser, css, kiln_source, browser_source, params, width, height) -> Rendered:
    kiln_template = parse_tree_template(kiln_source)
    browser_template = parse_tree_template(browser_source)
    svg = render_tree_svg(kiln_template, params, width=width, height=height)
    png = render_svg(svg.encode(), format="png", width=width, height=height, background="#ffffff")
    page = tree_html(browser_template, params, width=width, height=height, css=css)
    browser_boxes, browser_png = browser.render(page, width, height)
    return Rendered(
        kiln_boxes=_kiln_boxes(kiln_template, params, width, height),
        browser_boxes=browser_boxes,
        kiln_png=Image.open(io.BytesIO(png.data)).convert("RGB"),
        browser_png=Image.open(io.BytesIO(browser_png)).convert("RGB"),
    )


def _case(render, name: str) -> Rendered:
    case = CASES[name]
    return render(name, case.template, case.template, case.params, case.width, case.height)


def box_differences(rendered: Rendered) -> list[tuple[str, float, str]]:
    """(path, largest difference px, row of the report) for every node, worst first;
    a node only one side has counts as infinitely far off."""
    rows = []
    kiln, chromium = rendered.kiln_boxes, rendered.browser_boxes
    for path in sorted(set(kiln) | set(chromium)):
        k, b = kiln.get(path), chromium.get(path)
        if k is None or b is None:
            rows.append((path, float("inf"), f"{path}: only in {'Kiln' if k else 'the browser'}"))
            continue
        delta = max(
            abs(a - c)
            for name in ("box", "content_box")
            for a, c in zip(k[name], b[name], strict=True)
        )
        kind = k["kind"] + (f" {k['text'][:24]!r}" if k["text"] is not None else "")
        lines = f" lines {k['lines']}/{b['lines']}" if k["text"] is not None else ""
        rows.append(
            (
                path,
                delta,
                f"{path} {kind}: Kiln {_fmt(k['box'])} browser {_fmt(b['box'])} "
                f"(content {_fmt(k['content_box'])} vs {_fmt(b['content_box'])}) "
                f"Δ{delta:.2f}{lines}",
            )
        )
    return sorted(rows, key=lambda row: -row[1])


def _fmt(box) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in box) + ")"


def _excess(image: Image.Image, other: Image.Image) -> Image.Image:
    """How far each pixel of `image` lies outside the range of `other`'s SHIFT × SHIFT
    neighbourhood, per channel."""
    low = other.filter(ImageFilter.MinFilter(SHIFT))
    high = other.filter(ImageFilter.MaxFilter(SHIFT))
    return ImageChops.add(ImageChops.subtract(image, high), ImageChops.subtract(low, image))


def pixel_score(kiln: Image.Image, chromium: Image.Image) -> float:
    """The worst TILE × TILE tile's mean difference beyond a 1 px shift (0-255)."""
    excess = ImageChops.lighter(_excess(kiln, chromium), _excess(chromium, kiln)).convert("L")
    tiles = excess.resize((excess.width // TILE, excess.height // TILE), Image.BOX)
    return float(tiles.getextrema()[1])


def _marked(bug_field: str):
    params = []
    for name, case in CASES.items():
        bug = getattr(case, bug_field)
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


# --- the tests ------------------------------------------------------------------------


@pytest.mark.parametrize("name", _marked("box_bug"))
def test_every_box_matches_the_browser(render, name):
    rows = box_differences(_case(render, name))
    off = [row for _, delta, row in rows if delta > BOX_TOLERANCE + LAYOUT_UNIT]
    assert not off, f"{len(off)} of {len(rows)} nodes off by more than {BOX_TOLERANCE} px:\n" + (
        "\n".join(off)
    )


@pytest.mark.parametrize("name", _marked("pixel_bug"))
def test_the_pixels_match_the_browser(render, name):
    rendered = _case(render, name)
    score = pixel_score(rendered.kiln_png, rendered.browser_png)
    mean = sum(ImageStat.Stat(ImageChops.difference(rendered.kiln_png, rendered.browser_png)).mean)
    assert score <= PIXEL_THRESHOLD, (
        f"worst {TILE} px tile differs by {score:.0f} beyond a 1 px shift "
        f"(limit {PIXEL_THRESHOLD:.0f}); plain mean difference {mean / 3:.2f}"
    )


def test_the_checks_see_an_exact_match_as_one():
    """The comparison itself: an image against itself scores 0, and one nudged by 1 px
    (what anti-aliasing and sub-pixel placement amount to) stays at 0 too."""
    image = Image.new("RGB", (64, 64), "white")
    image.paste((20, 20, 20), (10, 10, 40, 30))
    nudged = Image.new("RGB", (64, 64), "white")
    nudged.paste((20, 20, 20), (11, 10, 41, 30))
    assert pixel_score(image, image) == 0
    assert pixel_score(image, nudged) == 0
    moved = Image.new("RGB", (64, 64), "white")
    moved.paste((20, 20, 20), (14, 10, 44, 30))
    assert pixel_score(image, moved) > PIXEL_THRESHOLD


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_layout_fails_both_checks(render, name):
    """Kiln draws a deliberately broken template, the browser the right one: the box
    check names the moved node and the pixel score is over the threshold."""
    right, broken, moved = BROKEN[name]
    params = right["sampleParams"]
    rendered = render(f"broken: {name}", broken, right, params, 1200, 630)
    off = {
        path for path, delta, _ in box_differences(rendered) if delta > BOX_TOLERANCE + LAYOUT_UNIT
    }
    assert moved in off
    assert pixel_score(rendered.kiln_png, rendered.browser_png) > PIXEL_THRESHOLD

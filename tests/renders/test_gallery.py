"""The built-in gallery, rendered in-process from the files (no database, no worker):
golden images, identical bytes across processes, every size preset with all text on the
canvas, and 300-character titles that stay in their boxes.

Text is located from the SVG itself: every text block the engine lays out is tagged (the
test wraps `layout_text`), and the ink box of a block is the box of its glyph outlines
(path points, control points included) and emoji images, mapped through every transform
above it in the document. That is where the text is drawn, whatever the template did with
translate, scale or rotate.

KILN_UPDATE_GOLDEN=1 rewrites tests/renders/golden/<slug>.png from the current renders
(then compares, as always). Without it a missing reference fails.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from defusedxml import ElementTree
from PIL import Image, ImageChops, ImageStat

from renders.management.commands.kiln_gallery import Builtin, builtins, render_svg_source
from renders.sizes import SIZE_PRESETS
from workers.rasterise import render_svg

GOLDEN = Path(__file__).resolve().parent / "golden"
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = {template.slug: template for template in builtins()}
SLUGS = sorted(TEMPLATES)
OG = SIZE_PRESETS["og"]

# Golden tolerance: font rasterisation and zlib may differ a little across machines and
# library builds; a layout change moves whole words (far more than 0.5% of pixels).
MEAN_DIFF_LIMIT = 1.0  # mean absolute difference per channel, 0-255
BIG_DIFF_LIMIT = 0.005  # share of pixels where some channel differs by more than 32

LONG_TITLE = (
    "An extraordinarily long title that goes on and on, written to find out whether the "
    "template shrinks it, wraps it and, as a last resort, cuts it with an ellipsis rather "
    "than letting a single glyph spill out of its box or off the edge of the card; it is "
    "three hundred characters long, give or take none at all, ok!"
)[:299] + "."
assert len(LONG_TITLE) == 300, len(LONG_TITLE)
SVG_NS = "{http://www.w3.org/2000/svg}"
PROBE = "data-probe"


# ---- geometry: where a text block's ink ends up on the canvas ---------------------------

Matrix = tuple[float, float, float, float, float, float]  # a b c d e f, as in SVG
IDENTITY: Matrix = (1, 0, 0, 1, 0, 0)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TRANSFORM = re.compile(r"(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)")
_PATH_TOKEN = re.compile(r"[MmLlHhVvCcSsQqTtAaZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def multiply(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + c * b2,
        b * a2 + d * b2,
        a * c2 + c * d2,
        b * c2 + d * d2,
        a * e2 + c * f2 + e,
        b * e2 + d * f2 + f,
    )


def parse_transform(text: str | None) -> Matrix:
    matrix = IDENTITY
    for name, args in _TRANSFORM.findall(text or ""):
        v = [float(x) for x in _NUMBER.findall(args)]
        if name == "matrix":
            step = tuple(v)
        elif name == "translate":
            step = (1, 0, 0, 1, v[0], v[1] if len(v) > 1 else 0)
        elif name == "scale":
            step = (v[0], 0, 0, v[1] if len(v) > 1 else v[0], 0, 0)
        elif name == "rotate":
            r = math.radians(v[0])
            cx, cy = (v[1], v[2]) if len(v) == 3 else (0, 0)
            step = multiply(
                multiply(
                    (1, 0, 0, 1, cx, cy),
                    (math.cos(r), math.sin(r), -math.sin(r), math.cos(r), 0, 0),
                ),
                (1, 0, 0, 1, -cx, -cy),
            )
        elif name == "skewX":
            step = (1, 0, math.tan(math.radians(v[0])), 1, 0, 0)
        else:
            step = (1, math.tan(math.radians(v[0])), 0, 1, 0, 0)
        matrix = multiply(matrix, step)
    return matrix


def path_points(d: str) -> list[tuple[float, float]]:
    """Every point and control point of a path (the ink lies inside their hull)."""
    tokens = _PATH_TOKEN.findall(d)
    points, i, command = [], 0, ""
    x = y = start_x = start_y = 0.0
    arity = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}
    while i < len(tokens):
        if tokens[i].isalpha():
            command = tokens[i]
            i += 1
            if command in "Zz":
                x, y = start_x, start_y
                continue
        upper, relative = command.upper(), command.islower()
        args = [float(t) for t in tokens[i : i + arity[upper]]]
        i += arity[upper]
        ox, oy = (x, y) if relative else (0.0, 0.0)
        if upper == "H":
            x = args[0] + (x if relative else 0)
        elif upper == "V":
            y = args[0] + (y if relative else 0)
        elif upper == "A":
            x, y = args[5] + ox, args[6] + oy
        else:
            for k in range(0, len(args) - 2, 2):
                points.append((args[k] + ox, args[k + 1] + oy))
            x, y = args[-2] + ox, args[-1] + oy
        points.append((x, y))
        if upper == "M":
            start_x, start_y = x, y
            command = "l" if relative else "L"
    return points


def apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return (a * x + c * y + e, b * x + d * y + f)


@dataclass
class Ink:
    left: float
    top: float
    right: float
    bottom: float

    def overlaps(self, other: Ink, slack: float = 1.0) -> bool:
        return (
            self.left < other.right - slack
            and other.left < self.right - slack
            and self.top < other.bottom - slack
            and other.top < self.bottom - slack
        )


def ink_boxes(svg: str) -> dict[int, Ink]:
    """probe id → the canvas box of that text block's glyphs and emoji images."""
    root = ElementTree.fromstring(svg.encode())
    found: dict[int, list[tuple[float, float]]] = {}

    def walk(element, matrix: Matrix, probe: int | None) -> None:
        matrix = multiply(matrix, parse_transform(element.get("transform")))
        if element.get(PROBE) is not None:
            probe = int(element.get(PROBE))
            found.setdefault(probe, [])
        tag = element.tag.removeprefix(SVG_NS)
        if probe is not None:
            corners: list[tuple[float, float]] = []
            if tag == "path":
                corners = path_points(element.get("d", ""))
            elif tag in ("image", "rect", "use"):
                x0, y0 = float(element.get("x", 0)), float(element.get("y", 0))
                w, h = float(element.get("width", 0)), float(element.get("height", 0))
                corners = [(x0, y0), (x0 + w, y0), (x0, y0 + h), (x0 + w, y0 + h)]
            found[probe].extend(apply(matrix, px, py) for px, py in corners)
        for child in element:
            if isinstance(child.tag, str) and not child.tag.endswith("defs"):
                walk(child, matrix, probe)

    walk(root, IDENTITY, None)
    return {
        probe: Ink(
            min(p[0] for p in points),
            min(p[1] for p in points),
            max(p[0] for p in points),
            max(p[1] for p in points),
        )
        for probe, points in found.items()
        if points
    }


# ---- rendering with every text block tagged ----------------------------------------------


@dataclass
class Laid:
    value: str
    options: dict
    box: object


@pytest.fixture
def probed(monkeypatch):
    """Render a built-in with every `layout_text` call recorded and its SVG tagged."""
    import workers.text

    real = workers.text.layout_text
    calls: list[Laid] = []

    def recording(value, **options):
        box = real(value, **options)
        calls.append(Laid(value, options, box))
        return SimpleNamespace(
            svg=f'<g {PROBE}="{len(calls) - 1}">{box.svg}</g>',
            lines=box.lines,
            width=box.width,
            height=box.height,
            font_size=box.font_size,
            truncated=box.truncated,
        )

    monkeypatch.setattr(workers.text, "layout_text", recording)

    def render(template: Builtin, params: dict, size: tuple[int, int]):
        calls.clear()
        svg = render_svg_source(template, params, *size)
        return svg, list(calls), ink_boxes(svg)

    return render


def assert_text_on_canvas(slug, size, calls, inks) -> None:
    width, height = size
    for index, ink in inks.items():
        where = f"{slug} at {width}×{height}: {calls[index].value[:40]!r}"
        assert ink.left >= -0.5 and ink.top >= -0.5, f"{where} starts off the canvas: {ink}"
        assert ink.right <= width + 0.5 and ink.bottom <= height + 0.5, f"{where} runs off: {ink}"


# ---- the tests -----------------------------------------------------------------------------


def difference(a: Image.Image, b: Image.Image) -> tuple[float, float]:
    """(mean absolute difference per channel, share of pixels off by more than 32)."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mean = sum(ImageStat.Stat(diff).mean) / 3
    r, g, b_ = diff.split()
    worst = ImageChops.lighter(ImageChops.lighter(r, g), b_)
    big = sum(worst.histogram()[33:])
    return mean, big / (a.width * a.height)


RTL_TITLE = "كيف نرسم عشرة آلاف بطاقة اجتماعية في الدقيقة دون متصفح"
RTL_WORD = "هندسة"
RTL_NAME = "غسان حداد"


def rtl_params(template: Builtin) -> dict:
    """The template's samples with every text in Arabic: long texts a long sentence,
    short ones a word, names a name (cut to each param's max_length)."""
    given = {}
    for name, schema in template.schema.items():
        sample = template.sample_params.get(name)
        if not sample:
            continue
        if schema["type"] == "string":
            value = RTL_NAME if name in ("author", "name", "speaker", "host") else RTL_WORD
            value = RTL_TITLE if len(str(sample)) >= 16 and value == RTL_WORD else value
            given[name] = value[: int(schema.get("max_length") or 500)]
        elif schema["type"] == "string[]":
            given[name] = [RTL_NAME, "ليلى مراد", "Grace Hopper"][: len(sample)]
    return template.params(**given)


# (name, size, params) of each golden image of a built-in: the sample at the og size,
# every text in Arabic, and the sample at the portrait story size.
GOLDEN_VARIANTS = {
    "": (OG, lambda template: template.params()),
    "-rtl": (OG, rtl_params),
    "-story": (SIZE_PRESETS["instagram-story"], lambda template: template.params()),
}


@pytest.mark.parametrize("variant", list(GOLDEN_VARIANTS))
@pytest.mark.parametrize("slug", SLUGS)
def test_each_builtin_matches_its_golden_images(slug, variant):
    template = TEMPLATES[slug]
    size, params = GOLDEN_VARIANTS[variant]
    svg = render_svg_source(template, params(template), *size)
    png = render_svg(svg.encode(), format="png", width=size[0], height=size[1]).data
    reference = GOLDEN / f"{slug}{variant}.png"
    if os.environ.get("KILN_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        reference.write_bytes(png)
    assert reference.exists(), f"no golden image for {slug}{variant}: run with KILN_UPDATE_GOLDEN=1"

    expected = Image.open(reference)
    actual = Image.open(io.BytesIO(png))
    assert actual.size == expected.size == size
    mean, big = difference(actual, expected)
    assert mean < MEAN_DIFF_LIMIT and big < BIG_DIFF_LIMIT, (
        f"{slug}{variant} differs from {reference.name}: mean {mean:.3f}/channel, "
        f"{big:.2%} of pixels off by more than 32 (re-generate with KILN_UPDATE_GOLDEN=1 "
        "if the change is intended, and look at it first)"
    )


DETERMINISM_SCRIPT = """
import hashlib, sys
import django
django.setup()
from renders.management.commands.kiln_gallery import builtins, render_png
for t in builtins():
    if t.slug in sys.argv[1:]:
        params = t.params(title="Identical bytes, every time: déjà vu 🚀 مرحبا")
        print(t.slug, hashlib.sha256(render_png(t, params, 1200, 630)).hexdigest())
"""


def test_identical_requests_give_identical_bytes_across_processes():
    slugs = ["stats", "quote"]
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT, *slugs],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(result.stdout)
    assert len(outputs[0].splitlines()) == len(slugs)
    assert outputs[0] == outputs[1]
    for line in outputs[0].splitlines():
        slug, digest = line.split()
        template = TEMPLATES[slug]
        params = template.params(title="Identical bytes, every time: déjà vu 🚀 مرحبا")
        from renders.management.commands.kiln_gallery import render_png

        assert hashlib.sha256(render_png(template, params, 1200, 630)).hexdigest() == digest


@pytest.mark.parametrize("slug", SLUGS)
def test_every_size_preset_renders_with_all_text_on_the_canvas(slug, probed):
    template = TEMPLATES[slug]
    params = template.params()
    for name, size in SIZE_PRESETS.items():
        svg, calls, inks = probed(template, params, size)
        assert calls, f"{slug} at {name} drew no text"
        assert len(inks) == len([c for c in calls if c.value.strip()]) or inks
        assert_text_on_canvas(slug, size, calls, inks)
        if name in ("og", "instagram-story"):
            image = render_svg(svg.encode(), format="png", width=size[0], height=size[1])
            assert (image.width, image.height) == size


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("size_name", ["og", "instagram-square", "instagram-story"])
def test_a_300_character_title_stays_in_its_box(slug, size_name, probed):
    template = TEMPLATES[slug]
    size = SIZE_PRESETS[size_name]
    _, calls, inks = probed(template, template.params(title=LONG_TITLE), size)
    titles = [i for i, call in enumerate(calls) if call.value == LONG_TITLE]
    assert len(titles) == 1, f"{slug}: the title should be laid out once"
    index = titles[0]
    call = calls[index]
    box, options = call.box, call.options
    max_lines = options.get("max_lines")
    assert max_lines and len(box.lines) <= max_lines
    assert box.truncated or box.font_size < options["size"], f"{slug}: neither shrunk nor cut"
    assert box.width <= options["width"] + 0.5
    # The ink stays within the width it was given (mapped to the canvas) and on the canvas
    # and never runs into another text block.
    assert_text_on_canvas(slug, size, calls, inks)
    ink = inks[index]
    for other, other_ink in inks.items():
        if other != index:
            assert not ink.overlaps(other_ink), (
                f"{slug} at {size_name}: the title runs into {calls[other].value[:30]!r}"
            )

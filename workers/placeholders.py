"""Placeholder images (SPEC §7): pure functions of their parameters → SVG text. Plain Python.

This module owns the drawings behind `/{w}x{h}`, `/color/…`, `/gradient/…`, `/seed/…` and
`/glyph/…` (the routes, their parsing and caching live in renders/placeholder_views.py),
and the small SVG helpers the error glyphs (renders/glyphs.py) share with it.

Everything here is deterministic: no ids, clocks or `random`; numbers are rounded by one
formatter and attributes are written in a fixed order, so equal arguments give equal
bytes. Text goes through the text engine (workers/text.py) and comes out as glyph
outlines, so a label can never inject markup, and it is laid out to fit: a label that
cannot fit the image at a readable size is left out rather than overflowing.

Callers pass canonical values: sizes ≥ 1 (already clamped by the caller), colours as
`#rrggbb` (see `hex_color`). A bad value is a ValueError, never a malformed drawing.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re

from workers.templating import contrast, mix
from workers.text import layout_text

# Longest label drawn: longer text is cut here (with an ellipsis) before layout, so a
# 10 KB `text=` costs what 200 characters cost. Nobody reads more on a placeholder.
MAX_TEXT = 200

DEFAULT_BG = "#e2e8f0"
GRADIENT_FROM = "#6366f1"
GRADIENT_TO = "#ec4899"
GRADIENT_ANGLE = 135.0
GRADIENT_TYPES = ("linear", "radial")
ICON_KINDS = ("avatar", "photo", "video", "product", "map", "document")
LABEL_FAMILY = "Inter"

_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# Characters XML 1.0 cannot carry at all (escaping does not help): control characters,
# lone surrogates and the two non-characters.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --- shared SVG helpers -----------------------------------------------------------------


def fmt(value: float) -> str:
    """A number as SVG text: at most two decimals, no trailing zeros, never `-0`."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def svg_document(width: int, height: int, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{body}</svg>'
    )


def xml_safe(text: str) -> str:
    """`text` without the characters XML cannot carry (escape it separately)."""
    return _NOT_XML.sub("", text)


def hex_color(value: str) -> str:
    """`rgb`, `rrggbb`, `#rgb` or `#rrggbb` → `#rrggbb` (lower case); ValueError otherwise."""
    match = _HEX.fullmatch(value.strip())
    if not match:
        raise ValueError(f"not a hex colour (rgb or rrggbb): {value[:24]!r}")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def _check(width: int, height: int, *colors: str) -> None:
    if width < 1 or height < 1:
        raise ValueError("width and height must be at least 1")
    for color in colors:
        if hex_color(color) != color:
            raise ValueError(f"colours must be canonical #rrggbb, got {color!r}")


def muted(bg: str) -> str:
    """A readable but quiet text colour on `bg`: two thirds of the way to whichever of
    near-black and white contrasts with it."""
    return mix(bg, contrast(bg), 0.65)


def label(text: str, width: int, height: int, color: str, *, weight: int = 600) -> str:
    """`text` centred in the image, as large as reads well, wrapped to at most 3 lines
    and shrunk to fit; "" when it cannot fit at all (a 4×4 image has no room)."""
    text = xml_safe(text).strip()
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1].rstrip() + "…"
    if not text or width < 16 or height < 10:
        return ""
    pad_x, pad_y = width * 0.06, height * 0.08
    box_w, box_h = width - 2 * pad_x, height - 2 * pad_y
    line_height = 1.2
    size = min(width * 0.09, box_h / line_height)
    max_lines = max(1, min(3, int(box_h // (size * line_height))))
    box = layout_text(
        text,
        width=box_w,
        x=pad_x,
        y=0,
        max_lines=max_lines,
        size=size,
        min_size=min(size, max(8.0, size * 0.3)),
        family=LABEL_FAMILY,
        weight=weight,
        line_height=line_height,
        align="center",
        color=color,
    )
    if not box.svg or box.width > box_w + 0.5 or box.height > box_h + 0.5:
        return ""
    return f'<g transform="translate(0 {fmt((height - box.height) / 2)})">{box.svg}</g>'


# --- /{w}x{h} and /color/{hex}/{w}x{h} --------------------------------------------------


@functools.lru_cache(maxsize=256)
def label_svg(
    width: int, height: int, *, text: str | None = None, bg: str = DEFAULT_BG, fg: str | None = None
) -> str:
    """A flat `bg` image labelled with `text`, or with its own size (`1200 × 630`)."""
    fg = fg or muted(bg)
    _check(width, height, bg, fg)
    shown = text if text else f"{width} × {height}"
    body = f'<rect width="{width}" height="{height}" fill="{bg}"/>'
    return svg_document(width, height, body + label(shown, width, height, fg))


@functools.lru_cache(maxsize=256)
def color_svg(
    width: int, height: int, *, color: str, text: str | None = None, fg: str | None = None
) -> str:
    """A solid `color`; labelled only when `text` is given."""
    fg = fg or muted(color)
    _check(width, height, color, fg)
    body = f'<rect width="{width}" height="{height}" fill="{color}"/>'
    if text:
        body += label(text, width, height, fg)
    return svg_document(width, height, body)


# --- /gradient/{w}x{h} --------------------------------------------------------------------


def _linear_ends(width: int, height: int, angle: float) -> tuple[float, float, float, float]:
    """CSS `linear-gradient(<angle>deg)` geometry: 0° points up, 90° right, and the
    gradient line is just long enough that the corners get the pure end colours."""
    theta = math.radians(angle)
    dx, dy = math.sin(theta), -math.cos(theta)
    half = (abs(width * dx) + abs(height * dy)) / 2
    cx, cy = width / 2, height / 2
    return cx - dx * half, cy - dy * half, cx + dx * half, cy + dy * half


def _gradient_def(
    gid: str, width: int, height: int, start: str, end: str, angle: float, kind: str
) -> str:
    stops = f'<stop offset="0" stop-color="{start}"/><stop offset="1" stop-color="{end}"/>'
    if kind == "radial":
        radius = math.hypot(width, height) / 2
        return (
            f'<radialGradient id="{gid}" gradientUnits="userSpaceOnUse" cx="{fmt(width / 2)}" '
            f'cy="{fmt(height / 2)}" r="{fmt(radius)}">{stops}</radialGradient>'
        )
    x1, y1, x2, y2 = _linear_ends(width, height, angle)
    return (
        f'<linearGradient id="{gid}" gradientUnits="userSpaceOnUse" x1="{fmt(x1)}" '
        f'y1="{fmt(y1)}" x2="{fmt(x2)}" y2="{fmt(y2)}">{stops}</linearGradient>'
    )


@functools.lru_cache(maxsize=256)
def gradient_svg(
    width: int,
    height: int,
    *,
    start: str = GRADIENT_FROM,
    end: str = GRADIENT_TO,
    angle: float = GRADIENT_ANGLE,
    kind: str = "linear",
    text: str | None = None,
    fg: str | None = None,
) -> str:
    """A gradient from `start` to `end`: linear at `angle` degrees (CSS convention), or
    radial from the centre (which has no angle). Labelled only when `text` is given."""
    if kind not in GRADIENT_TYPES:
        raise ValueError(f"gradient type must be one of {', '.join(GRADIENT_TYPES)}")
    if not 0 <= angle <= 360:
        raise ValueError("angle must be between 0 and 360 degrees")
    fg = fg or muted(mix(start, end, 0.5))
    _check(width, height, start, end, fg)
    body = (
        f"<defs>{_gradient_def('g', width, height, start, end, angle, kind)}</defs>"
        f'<rect width="{width}" height="{height}" fill="url(#g)"/>'
    )
    if text:
        body += label(text, width, height, fg)
    return svg_document(width, height, body)


# --- /seed/{seed}/{w}x{h} -------------------------------------------------------------------

# Five-colour palettes that hold together whichever two meet; the seed picks one.
PALETTES: tuple[tuple[str, ...], ...] = (
    ("#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51"),
    ("#003049", "#d62828", "#f77f00", "#fcbf49", "#eae2b7"),
    ("#1d3557", "#457b9d", "#a8dadc", "#f1faee", "#e63946"),
    ("#22223b", "#4a4e69", "#9a8c98", "#c9ada7", "#f2e9e4"),
    ("#0b132b", "#1c2541", "#3a506b", "#5bc0be", "#6fffe9"),
    ("#ffbe0b", "#fb5607", "#ff006e", "#8338ec", "#3a86ff"),
    ("#283618", "#606c38", "#fefae0", "#dda15e", "#bc6c25"),
    ("#03045e", "#0077b6", "#00b4d8", "#90e0ef", "#caf0f8"),
    ("#390099", "#9e0059", "#ff0054", "#ff5400", "#ffbd00"),
    ("#3a0ca3", "#7209b7", "#f72585", "#4361ee", "#4cc9f0"),
    ("#2b2d42", "#8d99ae", "#edf2f4", "#ef233c", "#d90429"),
    ("#d4a373", "#ccd5ae", "#e9edc9", "#fefae0", "#faedcd"),
    ("#355070", "#6d597a", "#b56576", "#e56b6f", "#eaac8b"),
    ("#0d1b2a", "#1b263b", "#415a77", "#778da9", "#e0e1dd"),
    ("#006d77", "#83c5be", "#edf6f9", "#ffddd2", "#e29578"),
    ("#5f0f40", "#9a031e", "#fb8b24", "#e36414", "#0f4c5c"),
)
# Weighted by repetition: circles calm a composition, a band is an occasional accent.
_SHAPES = ("circle", "circle", "circle", "ring", "square", "triangle", "triangle", "band")


class _Stream:
    """Numbers in [0, 1) from SHA-256 of the seed, block after block: the same on every
    machine and Python version (unlike `random`, whose derived methods may change)."""

    def __init__(self, seed: str) -> None:
        self._seed = seed.encode("utf-8", "replace")
        self._block = 0
        self._bytes = b""

    def next(self) -> float:
        if len(self._bytes) < 4:
            self._bytes += hashlib.sha256(self._seed + b"\x00" + str(self._block).encode()).digest()
            self._block += 1
        value, self._bytes = int.from_bytes(self._bytes[:4], "big"), self._bytes[4:]
        return value / 2**32

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.next()

    def pick(self, options: tuple | list):
        return options[int(self.next() * len(options))]


def _shape(kind: str, x: float, y: float, r: float, turn: float, color: str, alpha: float) -> str:
    paint = f'fill="{color}" fill-opacity="{fmt(alpha)}"'
    if kind == "circle":
        return f'<circle cx="{fmt(x)}" cy="{fmt(y)}" r="{fmt(r)}" {paint}/>'
    if kind == "ring":
        return (
            f'<circle cx="{fmt(x)}" cy="{fmt(y)}" r="{fmt(r * 0.8)}" fill="none" '
            f'stroke="{color}" stroke-opacity="{fmt(alpha)}" stroke-width="{fmt(r * 0.3)}"/>'
        )
    rotate = f' transform="rotate({fmt(turn)} {fmt(x)} {fmt(y)})"'
    if kind == "square":
        return (
            f'<rect x="{fmt(x - r)}" y="{fmt(y - r)}" width="{fmt(2 * r)}" height="{fmt(2 * r)}" '
            f'rx="{fmt(r * 0.18)}" {paint}{rotate}/>'
        )
    if kind == "triangle":
        points = " ".join(
            f"{fmt(x + r * math.cos(a))},{fmt(y + r * math.sin(a))}"
            for a in (math.radians(-90 + 120 * i) for i in range(3))
        )
        return f'<polygon points="{points}" {paint}{rotate}/>'
    # A long band across the image, for a diagonal accent.
    return (
        f'<rect x="{fmt(x - 4 * r)}" y="{fmt(y - r * 0.22)}" width="{fmt(8 * r)}" '
        f'height="{fmt(r * 0.44)}" rx="{fmt(r * 0.22)}" {paint}{rotate}/>'
    )


@functools.lru_cache(maxsize=256)
def seed_svg(seed: str, width: int, height: int) -> str:
    """A stable, pleasant abstract image for `seed`: its palette, background angle and
    shapes all derive from SHA-256 of the seed, so a seed always draws the same image
    and neighbouring seeds ("a", "b") draw unrelated ones."""
    _check(width, height)
    rng = _Stream(seed)
    palette = list(rng.pick(PALETTES))
    for i in range(len(palette) - 1, 0, -1):  # Fisher-Yates on the stream
        j = int(rng.next() * (i + 1))
        palette[i], palette[j] = palette[j], palette[i]
    bg, *inks = palette
    angle = round(rng.between(0, 360) / 15) * 15
    # Shapes are sized from the geometric mean of the sides, so a banner and a square of
    # the same area get similar-looking compositions.
    unit = min(math.sqrt(width * height), max(width, height))
    shapes = []
    for index in range(3 + int(rng.next() * 3)):
        kind = rng.pick(_SHAPES)
        x, y = rng.between(-0.05, 1.05) * width, rng.between(-0.05, 1.05) * height
        radius = unit * rng.between(0.14, 0.42)
        turn = round(rng.between(0, 360))
        alpha = rng.between(0.8, 1.0)
        shapes.append(_shape(kind, x, y, radius, turn, inks[index % len(inks)], alpha))
    defs = _gradient_def("s", width, height, bg, mix(bg, inks[0], 0.28), angle, "linear")
    body = f'<defs>{defs}</defs><rect width="{width}" height="{height}" fill="url(#s)"/>' + "".join(
        shapes
    )
    return svg_document(width, height, body)


# --- /glyph/{w}x{h}?as=… (wireframe icons) -------------------------------------------------

# Line drawings on a 24-unit grid, stroked (round caps and joins) in the foreground colour.
ICONS: dict[str, str] = {
    "avatar": (
        '<circle cx="12" cy="12" r="10"/><circle cx="12" cy="9.5" r="3.5"/>'
        '<path d="M5.6 18.6a7 7 0 0 1 12.8 0"/>'
    ),
    "photo": (
        '<rect x="2.5" y="4" width="19" height="16" rx="2"/><circle cx="8.5" cy="9.5" r="1.8"/>'
        '<path d="M2.5 17.5l5.5-5 4 3.5 3.5-3 6 5"/>'
    ),
    "video": (
        '<rect x="2" y="4.5" width="20" height="15" rx="2.5"/>'
        '<path d="M10 9v6l5-3z"/><path d="M2 16.5h20"/>'
    ),
    "product": (
        '<path d="M12 2.8l8.2 4.4v9.6L12 21.2l-8.2-4.4V7.2z"/>'
        '<path d="M3.8 7.2L12 11.6l8.2-4.4M12 11.6v9.6M7.9 5l8.2 4.4"/>'
    ),
    "map": (
        '<path d="M3 6.2l6-2.2 6 2.2 6-2.2v13.8l-6 2.2-6-2.2-6 2.2z"/>'
        '<path d="M9 4v13.8M15 6.2V20"/>'
    ),
    "document": (
        '<path d="M6 2.5h8.5l4 4v15H6z"/><path d="M14.5 2.5v4h4"/>'
        '<path d="M9 11h6.5M9 14h6.5M9 17h4"/>'
    ),
}
WIREFRAME_BG = "#e5e7eb"


def icon_group(paths: str, x: float, y: float, size: float, color: str, stroke: float) -> str:
    """A 24-unit line icon drawn `size` px square with its top-left at (x, y)."""
    return (
        f'<g transform="translate({fmt(x)} {fmt(y)}) scale({fmt(size / 24)})" fill="none" '
        f'stroke="{color}" stroke-width="{fmt(stroke)}" stroke-linecap="round" '
        f'stroke-linejoin="round">{paths}</g>'
    )


@functools.lru_cache(maxsize=256)
def icon_svg(
    width: int, height: int, *, kind: str = "photo", bg: str = WIREFRAME_BG, fg: str | None = None
) -> str:
    """A wireframe placeholder: the classic crossed box, and a line icon of what goes
    there (avatar, photo, video, product, map, document) on a plate in the middle."""
    if kind not in ICONS:
        raise ValueError(f"as must be one of {', '.join(ICONS)}")
    fg = fg or mix(bg, contrast(bg), 0.38)
    _check(width, height, bg, fg)
    size = min(width, height) * 0.42
    x, y = (width - size) / 2, (height - size) / 2
    line = max(1.0, min(width, height) / 180)
    faint = mix(bg, fg, 0.35)
    body = (
        f'<rect width="{width}" height="{height}" fill="{bg}"/>'
        f'<path d="M0 0L{width} {height}M{width} 0L0 {height}" stroke="{faint}" '
        f'stroke-width="{fmt(line)}"/>'
        f'<rect x="{fmt(line / 2)}" y="{fmt(line / 2)}" width="{fmt(width - line)}" '
        f'height="{fmt(height - line)}" fill="none" stroke="{faint}" stroke-width="{fmt(line)}"/>'
        f'<circle cx="{fmt(width / 2)}" cy="{fmt(height / 2)}" r="{fmt(size * 0.72)}" '
        f'fill="{bg}"/>' + icon_group(ICONS[kind], x, y, size, fg, 1.4)
    )
    return svg_document(width, height, body)

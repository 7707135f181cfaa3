"""A laid-out element tree → one SVG document for the rasteriser (cairosvg). Plain Python.

Per element, in paint order: box shadows, background (colour, then a linear gradient),
border, then its content (text paths from the text engine, or an embedded image) and
its children, clipped to the rounded padding box when it has `overflow: hidden` (an
image is always clipped to its rounded box; a text node only when its text overflows,
so `line-clamp` at `leading-none` keeps its descenders), all under one `opacity` group.

What cairosvg cannot draw is approximated: a box shadow's blur is a stack of
translucent rounded rectangles growing from `spread - blur` to `spread + blur` (no SVG
filter), an elliptical corner is a circular one, and a transparent gradient stop is
split in two so colours fade the way CSS (premultiplied) fades them, not through black.

Only the engine's own numbers, colours and data: URLs reach the markup, and ids are
numbered in document order, so the output is deterministic and passes `inspect_svg`.
"""

from __future__ import annotations

import math

from workers.tree.css import Gradient, Len
from workers.tree.layout import text_box
from workers.tree.resolve import Element

_SIDES = {
    frozenset({"top"}): 0.0,
    frozenset({"right"}): 90.0,
    frozenset({"bottom"}): 180.0,
    frozenset({"left"}): 270.0,
}
_FIT = {"fill": "none", "contain": "xMidYMid meet", "cover": "xMidYMid slice"}
_OFFSET = {"center": 0.5, "flex-end": 1.0, "space-around": 0.5, "space-evenly": 0.5}
MAX_SHADOW_LAYERS = 10


def _n(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _paint(color, attribute: str = "fill", opacity: str = "fill-opacity") -> str:
    r, g, b, alpha = color
    paint = f'{attribute}="#{r:02x}{g:02x}{b:02x}"'
    return paint if alpha >= 1 else f'{paint} {opacity}="{round(alpha, 3)}"'


class _Document:
    def __init__(self) -> None:
        self.defs: list[str] = []

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{len(self.defs) + 1}"


def _radii(element: Element) -> tuple[float, float, float, float]:
    """Corner radii (tl, tr, br, bl) in px, scaled down together as CSS does when
    neighbours would overlap."""
    _, _, width, height = element.box
    radii = []
    for corner in ("TopLeft", "TopRight", "BottomRight", "BottomLeft"):
        value = element.style.get(f"border{corner}Radius", 0.0)
        if isinstance(value, Len):  # a percentage: circular, of the shorter side
            value = min(width, height) * value.value / 100
        radii.append(max(0.0, value))
    tl, tr, br, bl = radii
    factor = 1.0
    for total, side in ((tl + tr, width), (bl + br, width), (tl + bl, height), (tr + br, height)):
        if total > side > 0:
            factor = min(factor, side / total)
    return (tl * factor, tr * factor, br * factor, bl * factor)


def _rounded(x: float, y: float, w: float, h: float, radii) -> str:
    """Path data of a rectangle with circular corners (clockwise)."""
    tl, tr, br, bl = (max(0.0, min(r, w / 2, h / 2)) for r in radii)
    if not any((tl, tr, br, bl)):
        return f"M{_n(x)} {_n(y)}H{_n(x + w)}V{_n(y + h)}H{_n(x)}Z"
    parts = [f"M{_n(x + tl)} {_n(y)}H{_n(x + w - tr)}"]
    if tr:
        parts.append(f"A{_n(tr)} {_n(tr)} 0 0 1 {_n(x + w)} {_n(y + tr)}")
    parts.append(f"V{_n(y + h - br)}")
    if br:
        parts.append(f"A{_n(br)} {_n(br)} 0 0 1 {_n(x + w - br)} {_n(y + h)}")
    parts.append(f"H{_n(x + bl)}")
    if bl:
        parts.append(f"A{_n(bl)} {_n(bl)} 0 0 1 {_n(x)} {_n(y + h - bl)}")
    parts.append(f"V{_n(y + tl)}")
    if tl:
        parts.append(f"A{_n(tl)} {_n(tl)} 0 0 1 {_n(x + tl)} {_n(y)}")
    return "".join(parts) + "Z"


def _inner_radii(radii, borders) -> tuple[float, ...]:
    top, right, bottom, left = borders
    tl, tr, br, bl = radii
    return (
        max(0.0, tl - max(top, left)),
        max(0.0, tr - max(top, right)),
        max(0.0, br - max(bottom, right)),
        max(0.0, bl - max(bottom, left)),
    )


def _shadows(element: Element, radii) -> str:
    x, y, w, h = element.box
    out = []
    for shadow in reversed(element.style.get("boxShadow", ())):  # the first is on top
        dx, dy, blur, spread, color = shadow
        if color[3] <= 0:
            continue
        blur = max(0.0, blur)
        layers = max(1, min(MAX_SHADOW_LAYERS, math.ceil(blur / 3)))
        alpha = 1 - (1 - color[3]) ** (1 / layers) if layers > 1 else color[3]
        shapes = []
        for index in range(layers):
            grow = spread + (blur * ((2 * index + 1) / layers - 1) if layers > 1 else 0.0)
            sw, sh = w + 2 * grow, h + 2 * grow
            if sw <= 0 or sh <= 0:
                continue
            grown = tuple(max(0.0, r + grow) if r else 0.0 for r in radii)
            shapes.append(_rounded(x + dx - grow, y + dy - grow, sw, sh, grown))
        if shapes:
            paint = _paint((*color[:3], alpha))
            out.append(f"<g {paint}>" + "".join(f'<path d="{d}"/>' for d in shapes) + "</g>")
    return "".join(out)


def _gradient_angle(gradient: Gradient, width: float, height: float) -> float:
    if gradient.angle is not None:
        return gradient.angle
    sides = frozenset(gradient.to)
    if sides in _SIDES:
        return _SIDES[sides]
    corner = math.degrees(math.atan2(height, width))  # CSS's "magic corners"
    vertical = "top" if "top" in sides else "bottom"
    horizontal = "right" if "right" in sides else "left"
    return {
        ("top", "right"): corner,
        ("bottom", "right"): 180 - corner,
        ("bottom", "left"): 180 + corner,
        ("top", "left"): 360 - corner,
    }[(vertical, horizontal)]


def _stop_positions(stops) -> list[float]:
    positions = [p for _, p in stops]
    positions[0] = 0.0 if positions[0] is None else positions[0]
    positions[-1] = 1.0 if positions[-1] is None else positions[-1]
    index = 1
    while index < len(positions):  # runs without a position: spread evenly
        if positions[index] is None:
            end = index
            while positions[end] is None:
                end += 1
            start_value, end_value = positions[index - 1], positions[end]
            for k in range(index, end):
                positions[k] = start_value + (end_value - start_value) * (k - index + 1) / (
                    end - index + 1
                )
            index = end
        index += 1
    for k in range(1, len(positions)):
        positions[k] = max(positions[k], positions[k - 1])
    return positions


def _gradient(gradient: Gradient, box, document: _Document) -> str:
    x, y, w, h = box
    angle = math.radians(_gradient_angle(gradient, w, h))
    dx, dy = math.sin(angle), -math.cos(angle)
    half = (abs(w * dx) + abs(h * dy)) / 2
    cx, cy = x + w / 2, y + h / 2
    stops = []
    colors = [color for color, _ in gradient.stops]
    for index, (color, offset) in enumerate(
        zip(colors, _stop_positions(gradient.stops), strict=True)
    ):
        if color[3] > 0:
            stops.append((offset, color))
            continue
        before = next((c for c in reversed(colors[:index]) if c[3] > 0), None)
        after = next((c for c in colors[index + 1 :] if c[3] > 0), None)
        for neighbour in dict.fromkeys(filter(None, (before, after))) or [color]:
            stops.append((offset, (*neighbour[:3], 0.0)))
    ident = document.new_id("g")
    document.defs.append(
        f'<linearGradient id="{ident}" gradientUnits="userSpaceOnUse" '
        f'x1="{_n(cx - dx * half)}" y1="{_n(cy - dy * half)}" '
        f'x2="{_n(cx + dx * half)}" y2="{_n(cy + dy * half)}">'
        + "".join(
            f'<stop offset="{round(offset, 4)}" {_paint(color, "stop-color", "stop-opacity")}/>'
            for offset, color in stops
        )
        + "</linearGradient>"
    )
    return ident


def _clip(d: str, document: _Document) -> str:
    ident = document.new_id("c")
    document.defs.append(f'<clipPath id="{ident}"><path d="{d}"/></clipPath>')
    return ident


def _text(element: Element) -> tuple[str, bool]:
    """The text's SVG, and whether it overflows its content box (then it is clipped
    under `overflow: hidden`; ink outside a tight line box, as descenders at
    `leading-none`, is not cut)."""
    font = element.font
    if not element.text or font.color[3] <= 0:
        return "", False
    cx, cy, cw, ch = element.content_box
    box = text_box(element, cw)
    overflows = box.height > ch + 0.5 or box.width > cw + 0.5
    row = element.style.get("flexDirection", "row").startswith("row")
    justify = element.style.get("justifyContent", "flex-start")
    items = element.style.get("alignItems", "stretch")
    across = _OFFSET.get(justify if row else items, 0.0)
    down = _OFFSET.get(items if row else justify, 0.0)
    if across and box.width < cw - 0.01:  # the text block is narrower than the box
        box = text_box(element, box.width)
        dx = cx + (cw - box.width) * across
    else:
        dx = cx
    dy = cy + (ch - box.height) * down
    if not box.svg:
        return "", False
    svg = f'<g transform="translate({_n(dx)} {_n(dy)})">{box.svg}</g>'
    if font.color[3] < 1:
        svg = f'<g fill-opacity="{round(font.color[3], 3)}">{svg}</g>'
    return svg, overflows


def _picture(element: Element) -> str:
    picture = element.picture
    if picture is None:
        return ""
    x, y, w, h = element.content_box
    if w <= 0 or h <= 0:
        return ""
    fit = element.style.get("objectFit", "fill")
    if fit in ("none", "scale-down") and picture.width and picture.height:
        scale = 1.0 if fit == "none" else min(1.0, w / picture.width, h / picture.height)
        iw, ih = picture.width * scale, picture.height * scale
        x, y, w, h = x + (w - iw) / 2, y + (h - ih) / 2, iw, ih
        fit = "fill"
    return (
        f'<image x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" '
        f'preserveAspectRatio="{_FIT[fit]}" href="{picture.url}"/>'
    )


def _element(element: Element, document: _Document) -> str:
    x, y, w, h = element.box
    style = element.style
    opacity = style.get("opacity", 1.0)
    if opacity <= 0:
        return ""
    radii = _radii(element)
    out = [_shadows(element, radii)] if "boxShadow" in style else []
    outline = _rounded(x, y, w, h, radii)
    background = style.get("backgroundColor")
    if background and background[3] > 0 and w > 0 and h > 0:
        out.append(f'<path d="{outline}" {_paint(background)}/>')
    image = style.get("backgroundImage")
    if isinstance(image, Gradient) and w > 0 and h > 0:
        ident = _gradient(image, element.box, document)
        out.append(f'<path d="{outline}" fill="url(#{ident})"/>')

    borders = element.borders
    inner = _rounded(*element.padding_box, _inner_radii(radii, borders))
    color = style.get("borderColor")
    if any(borders) and color and color[3] > 0 and style.get("borderStyle") != "none":
        out.append(f'<path d="{outline}{inner}" fill-rule="evenodd" {_paint(color)}/>')

    text, overflows = _text(element)
    content = text + _picture(element)
    content += "".join(_element(child, document) for child in element.children)
    clipped = style.get("overflow") == "hidden" and (element.text is None or overflows)
    clipped = clipped or bool(element.picture and any(radii))
    if content and clipped:
        content = f'<g clip-path="url(#{_clip(inner, document)})">{content}</g>'
    out.append(content)

    svg = "".join(out)
    return f'<g opacity="{round(opacity, 3)}">{svg}</g>' if opacity < 1 and svg else svg


def draw_svg(root: Element, width: int, height: int) -> str:
    """The SVG document of a laid-out tree, `width` × `height` px."""
    document = _Document()
    body = _element(root, document)
    defs = f"<defs>{''.join(document.defs)}</defs>" if document.defs else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{defs}{body}</svg>'
    )

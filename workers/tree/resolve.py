"""A template and its params → the element tree to lay out: what CSS calls the cascade
and computed values. Plain Python.

Per request: `defaults` fill missing or empty params, a missing required param is an
error, `when` drops a node whose param is empty, `{{name}}` is filled in text, src, tw
and style. Per node, declarations apply in this order: the HTML preset Satori gives
`p` and `h1`-`h6` (margins, size, bold), then the `tw` classes, then `style` (inline
wins). Classes apply as Tailwind's stylesheet order would have them, not in the order
written: a class setting fewer properties wins over one setting more (`px-2` over `p-4`,
`leading-tight` over `text-2xl`'s line height, `border-t-0` over `border`).

Inherited, as in CSS: colour, font family/size/weight/style, line height, letter
spacing, text alignment and transform, white-space. Lengths become px here (`em` of the
node's font size, `rem` = 16 px, `vw`/`vh` of the canvas); percentages stay for Taffy.
Images are fetched here, through the caller's `fetch_image`; one that cannot be had
(no callback, an error, not an image) leaves its box empty rather than failing the
card, and is logged.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from workers.tree.css import (
    CURRENT,
    NONE,
    Gradient,
    Len,
    Shadow,
    parse_declaration,
)
from workers.tree.tailwind import REM
from workers.tree.template import (
    PARAM,
    TreeNode,
    TreeTemplate,
    TreeTemplateError,
    check_class,
)

logger = logging.getLogger(__name__)

FetchImage = Callable[[str], tuple[str, bytes]]
GENERIC_FAMILIES = {"serif": "Noto Serif", "monospace": "JetBrains Mono"}
TRANSPARENT = (0, 0, 0, 0.0)
_IMAGE_TYPE = re.compile(r"image/[a-z0-9.+-]{1,64}")
_PRESETS = {
    "p": {"marginTop": "1em", "marginBottom": "1em"},
    **{
        f"h{level}": {
            "fontSize": size,
            "marginTop": margin,
            "marginBottom": margin,
            "fontWeight": "bold",
        }
        for level, size, margin in (
            (1, "2em", "0.67em"),
            (2, "1.5em", "0.83em"),
            (3, "1.17em", "1em"),
            (4, "1em", "1.33em"),
            (5, "0.83em", "1.67em"),
            (6, "0.67em", "2.33em"),
        )
    },
}
_INHERITED = (
    "color",
    "fontFamily",
    "fontSize",
    "fontWeight",
    "fontStyle",
    "lineHeight",
    "letterSpacing",
    "textAlign",
    "textTransform",
    "whiteSpace",
)


@dataclass(frozen=True)
class Font:
    family: str
    size: float
    weight: int
    italic: bool
    line_height: tuple[str, float]  # ("num", × size) or ("px", px)
    letter_spacing: float  # px
    align: str
    color: tuple
    transform: str
    white_space: str

    @property
    def line_height_ratio(self) -> float:
        kind, value = self.line_height
        return value if kind == "num" else value / self.size


@dataclass
class Picture:
    url: str  # data: URL
    width: float | None  # intrinsic px, None when unknown (an SVG without a size)
    height: float | None


@dataclass
class Element:
    kind: str
    path: str
    style: dict[str, Any]  # computed longhands (px floats, Len('%'), keywords, RGBA)
    font: Font
    text: str | None = None
    picture: Picture | None = None
    children: list[Element] = field(default_factory=list)
    # Filled in by the layout: absolute border box, border widths, padding box, content box.
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    borders: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    padding_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    content_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Context:
    values: dict[str, str]
    width: int
    height: int
    family: str
    families: frozenset[str]
    fetch_image: FetchImage | None
    images: dict[str, Picture | None] = field(default_factory=dict)


def param_values(template: TreeTemplate, params: dict[str, Any]) -> dict[str, str]:
    """Params as strings with the template's defaults applied; TreeTemplateError
    naming a required param that is still missing or empty."""
    values = {str(k): str(v) for k, v in params.items() if v is not None}
    for name, default in template.defaults.items():
        if values.get(name, "") == "":
            values[name] = default
    for name in template.required:
        if values.get(name, "") == "":
            raise TreeTemplateError(f"missing required param '{name}'")
    return values


def interpolate(text: str, values: dict[str, str]) -> str:
    return PARAM.sub(lambda match: values.get(match.group(1), ""), text)


@functools.lru_cache(maxsize=64)
def _preset(kind: str) -> tuple[tuple[str, Any], ...]:
    return tuple(d for p, v in _PRESETS.get(kind, {}).items() for d in parse_declaration(p, v))


def _declarations(node: TreeNode, context: Context) -> list[tuple[str, Any]]:
    classes = interpolate(node.tw, context.values).split() if "{{" in node.tw else node.tw.split()
    parsed = [check_class(name, node.path) for name in classes]
    ordered = sorted(parsed, key=lambda decls: -len(decls))  # stable: written order on ties
    result = list(_preset(node.type)) + [d for decls in ordered for d in decls]
    for name, value in node.style:
        if isinstance(value, str) and "{{" in value:
            value = interpolate(value, context.values)
            if not value.strip():
                continue  # an empty param leaves the property unset
        try:
            result += parse_declaration(name, value)
        except ValueError as exc:
            raise TreeTemplateError(f"style: {exc}", node.path) from None
    return result


def _px(value: Any, size: float, context: Context) -> Any:
    """A Len in px (float); % lengths, keywords and other values unchanged."""
    if not isinstance(value, Len) or value.unit == "%":
        return value
    factor = {"px": 1.0, "em": size, "rem": REM, "vw": context.width / 100}
    factor["vh"] = context.height / 100
    return value.value * factor[value.unit]


def _family(declared: str, context: Context) -> str:
    for name in declared.split(","):
        name = name.strip().strip("'\"").strip()
        name = GENERIC_FAMILIES.get(name.lower(), name)
        if name.lower() in ("sans-serif", "system-ui", "ui-sans-serif"):
            return context.family
        if name in context.families:
            return name
    return context.family  # as a browser does: an unknown family falls back


def _font(declared: dict[str, Any], parent: Font, context: Context, path: str) -> Font:
    size = parent.size
    if "fontSize" in declared:
        length = declared["fontSize"]
        if length.unit == "%":
            size = parent.size * length.value / 100
        else:
            size = _px(length, parent.size, context)
        if not 0 < size <= 2000:
            raise TreeTemplateError(f"font size {size:g}px is out of range (0-2000)", path)
    line_height = parent.line_height  # a number inherits as a number, a length as px
    if "lineHeight" in declared:
        kind, value = declared["lineHeight"]
        line_height = ("num", value) if kind == "num" else ("px", _px(value, size, context))
    spacing = parent.letter_spacing  # inherits as px
    if "letterSpacing" in declared:
        value = declared["letterSpacing"]
        spacing = 0.0 if value == "normal" else _px(value, size, context)
        if isinstance(spacing, Len):  # a percentage: of the font size
            spacing = size * spacing.value / 100
    color = declared.get("color", parent.color)
    family = parent.family
    if "fontFamily" in declared:
        family = _family(declared["fontFamily"], context)
    italic = parent.italic
    if "fontStyle" in declared:
        italic = declared["fontStyle"] == "italic"
    return Font(
        family=family,
        size=size,
        weight=min(900, max(100, declared.get("fontWeight", parent.weight))),
        italic=italic,
        line_height=line_height,
        letter_spacing=spacing,
        align=declared.get("textAlign", parent.align),
        color=parent.color if color == CURRENT else color,
        transform=declared.get("textTransform", parent.transform),
        white_space=declared.get("whiteSpace", parent.white_space),
    )


def _color(value: Any, font: Font) -> Any:
    return font.color if value == CURRENT else value


def _computed(declared: dict[str, Any], font: Font, context: Context) -> dict[str, Any]:
    """The node's own (not inherited) properties, lengths in px."""
    style: dict[str, Any] = {}
    for name, value in declared.items():
        if name in _INHERITED:
            continue
        if name == "boxShadow":
            value = tuple(
                Shadow(*(_px(v, font.size, context) for v in shadow[:4]), _color(shadow[4], font))
                for shadow in value
            )
        elif isinstance(value, Len):
            value = _px(value, font.size, context)
        elif name in ("backgroundColor", "borderColor") or name.startswith("--"):
            value = _color(value, font)
        style[name] = value
    style.setdefault("borderColor", font.color)
    image = style.get("backgroundImage")
    if isinstance(image, Gradient):
        if image.stops is None:  # Tailwind's from-/via-/to- stops
            start = style.get("--tw-gradient-from", TRANSPARENT)
            middle = style.get("--tw-gradient-via")
            end = style.get("--tw-gradient-to", (*(middle or start)[:3], 0.0))
            colors = [start, middle, end] if middle else [start, end]
            stops = tuple((color, None) for color in colors)
        else:
            stops = tuple((_color(color, font), position) for color, position in image.stops)
        style["backgroundImage"] = Gradient(image.angle, image.to, stops)
    return style


def _data_url_picture(url: str) -> Picture | None:
    header, _, payload = url.partition(",")
    if not header.lower().startswith("data:image/") or ";base64" not in header.lower():
        return None
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _picture(header[5:].split(";")[0], data)


def _picture(content_type: str, data: bytes) -> Picture | None:
    content_type = str(content_type).split(";")[0].strip().lower()
    if not _IMAGE_TYPE.fullmatch(content_type) or not data:
        return None
    width = height = None
    if content_type == "image/svg+xml":
        from workers.rasterise import RenderInputError, inspect_svg

        try:  # the rasteriser draws it: it must pass the same checks as any SVG
            info = inspect_svg(data)
        except RenderInputError:
            return None
        width, height = info.width, info.height
    else:
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return None
    url = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
    return Picture(url, float(width) if width else None, float(height) if height else None)


def _image(src: str, context: Context, path: str) -> Picture | None:
    if src in context.images:
        return context.images[src]
    picture = None
    if src.lower().startswith("data:"):
        picture = _data_url_picture(src)
    elif context.fetch_image is not None:
        try:
            picture = _picture(*context.fetch_image(src))
        except Exception as exc:  # the callback's own errors: an empty box, not a failure
            logger.warning("tree image %s at %s not drawn: %s", src[:200], path, exc)
    if picture is None:
        logger.info("tree image at %s left empty (%s)", path, src[:200])
    context.images[src] = picture
    return picture


def _transform(text: str, transform: str) -> str:
    if transform == "uppercase":
        return text.upper()
    if transform == "lowercase":
        return text.lower()
    if transform == "capitalize":
        return " ".join(word[:1].upper() + word[1:] for word in text.split(" "))
    return text


def resolve(node: TreeNode, parent: Font, context: Context) -> Element | None:
    """The element for `node` (None when a `when` drops it or it is display: none)."""
    if node.when and context.values.get(node.when, "") == "":
        return None
    declared = dict(_declarations(node, context))
    if declared.get("display") == NONE:
        return None
    font = _font(declared, parent, context, node.path)
    element = Element(node.type, node.path, _computed(declared, font, context), font)
    if node.text is not None:
        text = interpolate(node.text, context.values) if "{{" in node.text else node.text
        element.text = _transform(text, font.transform)
    if node.src is not None:
        src = interpolate(node.src, context.values).strip()
        element.picture = _image(src, context, node.path) if src else None
    for child in node.children:
        resolved = resolve(child, font, context)
        if resolved is not None:
            element.children.append(resolved)
    return element


def root_font(family: str) -> Font:
    """Satori's initial style: 16 px, normal weight, line height 1.2, black."""
    return Font(
        family, 16.0, 400, False, ("num", 1.2), 0.0, "start", (0, 0, 0, 1.0), "none", "normal"
    )

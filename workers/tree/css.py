"""The inline-style vocabulary of the `tree` engine: which properties exist, how a value
is read, how shorthands expand. Plain Python, no context: lengths keep their units
(`em`, `rem`, `%`, `vw`, `vh`) until workers/tree/resolve.py computes them per node.

Property names are Satori's (React's camelCase, `backgroundColor`); kebab-case
(`background-color`) is read as the same property. A JSON number is px for a length and
itself for a unitless property (`opacity`, `flexGrow`, `lineHeight`, `fontWeight`).
`parse_declaration` raises ValueError with a message for the user for an unknown
property or a value it cannot read; it never guesses.
"""

from __future__ import annotations

import colorsys
import functools
import math
import re
from dataclasses import dataclass
from typing import Any, NamedTuple


class Len(NamedTuple):
    value: float
    unit: str  # px, em, rem, %, vw, vh


@dataclass(frozen=True)
class Gradient:
    """linear-gradient(): an angle in degrees or a `to` side/corner, and the stops
    (None: Tailwind's `var(--tw-gradient-stops)`, filled from from-/via-/to- classes)."""

    angle: float | None
    to: tuple[str, ...]  # ("top", "right") for `to top right`, () when an angle is given
    stops: tuple[tuple[Any, float | None], ...] | None  # (colour, position 0..1 or None)


class Shadow(NamedTuple):
    x: Len
    y: Len
    blur: Len
    spread: Len
    color: Any


RGBA = tuple[int, int, int, float]
CURRENT = "currentColor"
AUTO = "auto"
NONE = "none"
ZERO = Len(0.0, "px")

_NAMED = {
    "black": "000000", "white": "ffffff", "red": "ff0000", "green": "008000",
    "blue": "0000ff", "yellow": "ffff00", "orange": "ffa500", "purple": "800080",
    "gray": "808080", "grey": "808080", "silver": "c0c0c0", "maroon": "800000",
    "olive": "808000", "lime": "00ff00", "aqua": "00ffff", "cyan": "00ffff",
    "teal": "008080", "navy": "000080", "fuchsia": "ff00ff", "magenta": "ff00ff",
    "pink": "ffc0cb", "hotpink": "ff69b4", "brown": "a52a2a", "gold": "ffd700",
    "indigo": "4b0082", "violet": "ee82ee", "crimson": "dc143c", "coral": "ff7f50",
    "tomato": "ff6347", "salmon": "fa8072", "beige": "f5f5dc", "ivory": "fffff0",
    "khaki": "f0e68c", "lavender": "e6e6fa", "tan": "d2b48c", "turquoise": "40e0d0",
    "darkgray": "a9a9a9", "lightgray": "d3d3d3", "whitesmoke": "f5f5f5",
    "skyblue": "87ceeb", "steelblue": "4682b4", "royalblue": "4169e1",
    "slategray": "708090", "darkslategray": "2f4f4f", "midnightblue": "191970",
    "rebeccapurple": "663399", "orchid": "da70d6", "plum": "dda0dd", "chocolate": "d2691e",
}  # fmt: skip
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_LENGTH = re.compile(rf"^({_NUMBER})(px|em|rem|%|vw|vh)?$")
_HEX = re.compile(r"^#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_FUNCTION = re.compile(r"^([a-z-]+)\((.*)\)$", re.DOTALL)
_ANGLE = re.compile(rf"^({_NUMBER})(deg|turn|rad|grad)$")
_SIDES = {"top", "right", "bottom", "left"}


def split_top(value: str, separator: str | None = None) -> list[str]:
    """Split at separators (whitespace if None) outside parentheses."""
    parts, depth, current = [], 0, []
    for char in value:
        depth += (char == "(") - (char == ")")
        at_separator = char.isspace() if separator is None else char == separator
        if at_separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p] if separator is None else parts


def parse_length(value: Any, *, keywords: tuple[str, ...] = (), negative: bool = True):
    """A length (Len), or one of `keywords`. Bare numbers (and numeric strings, as Yoga
    reads them) are px."""
    if isinstance(value, bool):
        raise ValueError(f"expected a length, got {value!r}")
    if isinstance(value, int | float):
        value = f"{value}px"
    text = str(value).strip().lower()
    if text in keywords:
        return text
    match = _LENGTH.match(text)
    if not match:
        raise ValueError(f"'{value}' is not a length")
    number = float(match.group(1))
    if number < 0 and not negative:
        raise ValueError(f"'{value}' may not be negative")
    return Len(number, match.group(2) or "px")


def parse_number(value: Any, *, low: float = 0.0, high: float = math.inf) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not low <= number <= high:
        raise ValueError(f"'{value}' is not a number between {low:g} and {high:g}")
    return number


def _channel(text: str, scale: float) -> float:
    text = text.strip()
    if text.endswith("%"):
        return float(text[:-1]) / 100 * scale
    return float(text)


@functools.lru_cache(maxsize=2048)
def parse_color(value: str) -> RGBA | str:
    """#hex, rgb()/rgba(), hsl()/hsla(), a common name, `transparent`, `currentColor`."""
    text = str(value).strip()
    lower = text.lower()
    if lower == "transparent":
        return (0, 0, 0, 0.0)
    if lower == "currentcolor":
        return CURRENT
    if lower in _NAMED:
        text = "#" + _NAMED[lower]
    match = _HEX.match(text)
    if match:
        digits = match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        alpha = int(digits[6:8], 16) / 255 if len(digits) == 8 else 1.0
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), alpha)
    function = _FUNCTION.match(lower)
    if function and function.group(1) in ("rgb", "rgba", "hsl", "hsla"):
        body = function.group(2).replace("/", " , " if "," not in function.group(2) else ",")
        parts = [p for p in re.split(r"[\s,]+", body.replace(",", " , ")) if p and p != ","]
        try:
            if len(parts) not in (3, 4):
                raise ValueError
            alpha = min(1.0, max(0.0, _channel(parts[3], 1.0))) if len(parts) == 4 else 1.0
            if function.group(1).startswith("rgb"):
                r, g, b = (round(min(255.0, max(0.0, _channel(p, 255.0)))) for p in parts[:3])
                return (r, g, b, alpha)
            hue = float(parts[0].removesuffix("deg")) / 360 % 1.0
            sat, light = (min(1.0, max(0.0, _channel(p, 1.0))) for p in parts[1:3])
            r, g, b = (round(c * 255) for c in colorsys.hls_to_rgb(hue, light, sat))
            return (r, g, b, alpha)
        except ValueError:
            pass
    raise ValueError(f"'{value}' is not a colour")


def _angle(text: str) -> float | None:
    match = _ANGLE.match(text.strip().lower())
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2)
    return {"deg": 1.0, "turn": 360.0, "rad": 180 / math.pi, "grad": 0.9}[unit] * number


def parse_background_image(value: Any):
    text = str(value).strip()
    if text.lower() == "none":
        return NONE
    function = _FUNCTION.match(text)
    if not function or function.group(1).lower() != "linear-gradient":
        raise ValueError(f"'{text[:60]}': only linear-gradient() backgrounds are supported")
    args = [a.strip() for a in split_top(function.group(2), ",")]
    angle, to = 180.0, ()
    first = args[0].lower()
    if first.startswith("to "):
        to = tuple(first.split()[1:])
        if not to or len(to) > 2 or not set(to) <= _SIDES:
            raise ValueError(f"'{args[0]}' is not a gradient direction")
        angle, args = None, args[1:]
    elif _angle(first) is not None:
        angle, args = _angle(first), args[1:]
    if [a.lower() for a in args] == ["var(--tw-gradient-stops)"]:
        return Gradient(angle, to, None)
    stops = []
    for arg in args:
        parts = split_top(arg)
        if not parts or len(parts) > 2:
            raise ValueError(f"'{arg}' is not a gradient colour stop")
        position = None
        if len(parts) == 2:
            length = parse_length(parts[1])
            if length.unit != "%":
                raise ValueError(f"'{arg}': gradient stop positions must be percentages")
            position = length.value / 100
        stops.append((parse_color(parts[0]), position))
    if len(stops) < 2:
        raise ValueError("a gradient needs at least two colours")
    return Gradient(angle, to, tuple(stops))


def parse_shadows(value: Any) -> tuple[Shadow, ...]:
    text = str(value).strip()
    if text.lower() == "none":
        return ()
    shadows = []
    for layer in split_top(text, ","):
        lengths, color = [], (0, 0, 0, 1.0)
        for token in split_top(layer):
            if token.lower() == "inset":
                raise ValueError("inset shadows are not supported")
            try:
                lengths.append(parse_length(token))
            except ValueError:
                color = parse_color(token)
        if not 2 <= len(lengths) <= 4:
            raise ValueError(f"'{layer}' is not a box shadow")
        lengths += [ZERO] * (4 - len(lengths))
        shadows.append(Shadow(*lengths, color))
    return tuple(shadows)


def _keyword(*allowed: str, aliases: dict[str, str] | None = None):
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        text = (aliases or {}).get(text, text)
        if text not in allowed:
            raise ValueError(f"'{value}' is not one of {', '.join(allowed)}")
        return text

    return parse


def _font_weight(value: Any) -> int:
    text = str(value).strip().lower()
    named = {"normal": 400, "bold": 700}
    if text in named:
        return named[text]
    return round(parse_number(text, low=1, high=1000))


def _line_height(value: Any):
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("num", parse_number(value))
    text = str(value).strip().lower()
    if text == "normal":
        return ("num", 1.2)
    if re.fullmatch(_NUMBER, text):
        return ("num", parse_number(text))
    length = parse_length(text, negative=False)
    return ("num", length.value / 100) if length.unit == "%" else ("len", length)


def _aspect(value: Any):
    text = str(value).strip().lower()
    if text == "auto":
        return AUTO
    parts = [p.strip() for p in text.split("/")]
    if len(parts) == 2:
        return parse_number(parts[0], low=1e-6) / parse_number(parts[1], low=1e-6)
    return parse_number(text, low=1e-6)


def _clamp(value: Any):
    if str(value).strip().lower() == "none":
        return NONE
    return int(parse_number(value, low=1, high=1000))


def _opacity(value: Any) -> float:
    text = str(value).strip()
    if text.endswith("%"):
        return parse_number(text[:-1], high=100) / 100
    return parse_number(text, high=1)


_ALIGNS = ("flex-start", "flex-end", "center", "baseline", "stretch")
_ALIGN_ALIASES = {"start": "flex-start", "end": "flex-end", "normal": "stretch"}
_JUSTIFIES = ("flex-start", "flex-end", "center", "space-between", "space-around", "space-evenly")
_SIZE = functools.partial(parse_length, keywords=(AUTO,), negative=False)
_EDGE = functools.partial(parse_length, keywords=(AUTO,))
_PADDING = functools.partial(parse_length, negative=False)

LONGHANDS: dict[str, Any] = {
    "display": _keyword("flex", "none"),
    "position": _keyword("relative", "absolute", aliases={"static": "relative"}),
    **dict.fromkeys(("top", "right", "bottom", "left"), _EDGE),
    **dict.fromkeys(("width", "height", "minWidth", "minHeight"), _SIZE),
    **dict.fromkeys(("maxWidth", "maxHeight"), functools.partial(parse_length, keywords=(NONE,))),
    "aspectRatio": _aspect,
    "flexDirection": _keyword("row", "row-reverse", "column", "column-reverse"),
    "flexWrap": _keyword("nowrap", "wrap", "wrap-reverse"),
    "alignItems": _keyword(*_ALIGNS, aliases=_ALIGN_ALIASES),
    "alignSelf": _keyword("auto", *_ALIGNS, aliases=_ALIGN_ALIASES),
    "alignContent": _keyword(*_JUSTIFIES, "stretch", aliases=_ALIGN_ALIASES),
    "justifyContent": _keyword(*_JUSTIFIES, aliases=_ALIGN_ALIASES),
    "flexGrow": parse_number,
    "flexShrink": parse_number,
    "flexBasis": _SIZE,
    **dict.fromkeys(("rowGap", "columnGap"), _PADDING),
    **{f"margin{side}": _EDGE for side in ("Top", "Right", "Bottom", "Left")},
    **{f"padding{side}": _PADDING for side in ("Top", "Right", "Bottom", "Left")},
    **{f"border{side}Width": _PADDING for side in ("Top", "Right", "Bottom", "Left")},
    **{
        f"border{corner}Radius": _PADDING
        for corner in ("TopLeft", "TopRight", "BottomRight", "BottomLeft")
    },
    "overflow": _keyword("visible", "hidden", aliases={"clip": "hidden"}),
    "backgroundColor": parse_color,
    "backgroundImage": parse_background_image,
    "color": parse_color,
    "opacity": _opacity,
    "borderColor": parse_color,
    "borderStyle": _keyword("solid", "none"),
    "boxShadow": parse_shadows,
    "objectFit": _keyword("cover", "contain", "fill", "none", "scale-down"),
    "fontSize": functools.partial(parse_length, negative=False),
    "fontWeight": _font_weight,
    "fontFamily": lambda value: str(value).strip() or _raise("empty font family"),
    "fontStyle": _keyword("normal", "italic", aliases={"oblique": "italic"}),
    "lineHeight": _line_height,
    "letterSpacing": functools.partial(parse_length, keywords=("normal",)),
    "textAlign": _keyword("left", "right", "center", "justify", "start", "end"),
    "textTransform": _keyword("none", "uppercase", "lowercase", "capitalize"),
    "lineClamp": _clamp,
    "textOverflow": _keyword("clip", "ellipsis"),
    "whiteSpace": _keyword("normal", "nowrap", "pre-wrap", "pre-line"),
    **dict.fromkeys(("--tw-gradient-from", "--tw-gradient-via", "--tw-gradient-to"), parse_color),
}
_BOX = ("Top", "Right", "Bottom", "Left")
_CORNERS = ("TopLeft", "TopRight", "BottomRight", "BottomLeft")
SHORTHANDS = {
    "padding": [f"padding{s}" for s in _BOX],
    "margin": [f"margin{s}" for s in _BOX],
    "borderWidth": [f"border{s}Width" for s in _BOX],
    "inset": ["top", "right", "bottom", "left"],
    "borderRadius": [f"border{c}Radius" for c in _CORNERS],
    "gap": ["rowGap", "columnGap"],
}
_OTHER = ("flex", "border", "background", "WebkitLineClamp")
PROPERTIES = frozenset((*LONGHANDS, *SHORTHANDS, *_OTHER))


def _raise(message: str):
    raise ValueError(message)


def property_name(name: str) -> str:
    """camelCase for kebab-case; ValueError for a property the engine does not support."""
    name = str(name).strip()
    if "-" in name and not name.startswith("--"):
        head, *rest = name.lstrip("-").split("-")
        name = head + "".join(part[:1].upper() + part[1:] for part in rest)
        if name == "webkitLineClamp":
            name = "WebkitLineClamp"
    if name not in PROPERTIES:
        raise ValueError(f"unsupported style property '{name}'")
    return name


def _box_values(values: list[str]) -> list[str]:
    """CSS's 1-4 value box order → [top, right, bottom, left]."""
    if not 1 <= len(values) <= 4:
        raise ValueError("expected 1 to 4 values")
    top = values[0]
    right = values[1] if len(values) > 1 else top
    bottom = values[2] if len(values) > 2 else top
    left = values[3] if len(values) > 3 else right
    return [top, right, bottom, left]


def _flex(value: Any) -> list[tuple[str, Any]]:
    text = str(value).strip().lower()
    keywords = {
        "none": ("0", "0", "auto"),
        "auto": ("1", "1", "auto"),
        "initial": ("0", "1", "auto"),
    }
    parts = list(keywords.get(text) or split_top(text))
    if len(parts) == 1:
        parts = [parts[0], "1", "0%"] if re.fullmatch(_NUMBER, parts[0]) else ["1", "1", parts[0]]
    elif len(parts) == 2:
        parts = [*parts, "0%"] if re.fullmatch(_NUMBER, parts[1]) else [parts[0], "1", parts[1]]
    if len(parts) != 3:
        raise ValueError(f"'{value}' is not a flex value")
    return [
        ("flexGrow", parse_number(parts[0])),
        ("flexShrink", parse_number(parts[1])),
        ("flexBasis", _SIZE(parts[2])),
    ]


def _border(value: Any) -> list[tuple[str, Any]]:
    width, color = Len(3.0, "px"), CURRENT  # CSS: medium, currentColor
    for token in split_top(str(value)):
        if token.lower() in ("none", "hidden"):
            width = ZERO
        elif token.lower() == "solid":
            continue
        else:
            try:
                width = _PADDING(token)
            except ValueError:
                color = parse_color(token)
    return [*((f"border{s}Width", width) for s in _BOX), ("borderColor", color)]


@functools.lru_cache(maxsize=4096)
def _parse(name: str, value: Any) -> tuple[tuple[str, Any], ...]:
    if name == "flex":
        return tuple(_flex(value))
    if name == "border":
        return tuple(_border(value))
    if name == "WebkitLineClamp":
        name = "lineClamp"
    if name == "background":
        try:
            return (("backgroundColor", parse_color(value)), ("backgroundImage", NONE))
        except ValueError:
            return (("backgroundImage", parse_background_image(value)),)
    if name in SHORTHANDS:
        longhands = SHORTHANDS[name]
        parts = split_top(str(value)) if not isinstance(value, int | float) else [value]
        if name == "gap":
            if not 1 <= len(parts) <= 2:
                raise ValueError(f"'{value}' is not a gap")
            parts = [parts[0], parts[-1]]
        elif name == "borderRadius" and "/" in str(value):
            raise ValueError("elliptical border radii are not supported")
        else:
            parts = _box_values(parts)
        return tuple(
            (prop, LONGHANDS[prop](part)) for prop, part in zip(longhands, parts, strict=True)
        )
    return ((name, LONGHANDS[name](value)),)


def parse_declaration(name: str, value: Any) -> tuple[tuple[str, Any], ...]:
    """One style declaration as longhand (property, parsed value) pairs; ValueError with
    a message naming the property for anything it cannot read."""
    prop = property_name(name)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{prop}: expected a string or a number")
    try:
        return _parse(prop, value)
    except ValueError as exc:
        raise ValueError(f"{prop}: {exc}") from None

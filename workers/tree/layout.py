"""Flexbox layout of a resolved element tree with Taffy (the `stretchable` package's
binding). Plain Python.

As in Satori, every node is a flex container (display: flex, row, no wrap, items
stretch, shrink 1), `position` is relative unless absolute, and an absolute node is
placed against its parent. The tree hangs in Satori's root: a box the size of the
canvas, flex row + wrap, items at the start, overflow hidden, so a root without
`w-full h-full` takes its content's size. Unlike Yoga (Satori's engine before Taffy),
Taffy follows CSS's automatic minimum size: a flex item does not shrink below its
min-content width unless it clips (`overflow-hidden`, `truncate`, `line-clamp-*`).

Leaves measure themselves: text through the text engine (workers/text.py) at the width
Taffy offers, an image by its intrinsic size and aspect ratio. How text sits in its
node's content box follows the node's own flex alignment (its text is its one child).

Taffy is driven through `stretchable.taffylib` (pinned 1.1.8) with plain style dicts
in the shape of `stretchable.Style.to_dict()`: stretchable's Node/Style wrappers spend
~75 % of a card's layout building length objects. stretchable keeps one Taffy tree per
process, so each layout runs under a lock, sets its own rounding, and drops its nodes.
"""

from __future__ import annotations

import copy
import math
import re
import threading

from stretchable import Style, taffylib
from stretchable.context import taffy
from stretchable.style import (
    AlignContent,
    AlignItems,
    AlignSelf,
    FlexDirection,
    FlexWrap,
    JustifyContent,
    Overflow,
    Position,
)
from stretchable.style.geometry.length import AvailableSpace

from workers.text import TextBox, layout_text
from workers.tree.css import Len
from workers.tree.resolve import Element

UNBOUNDED = 1_000_000.0
UNLIMITED_LINES = 10_000
_lock = threading.Lock()
_ALIGN = {
    "flex-start": "FLEX_START",
    "flex-end": "FLEX_END",
    "center": "CENTER",
    "baseline": "BASELINE",
    "stretch": "STRETCH",
    "space-between": "SPACE_BETWEEN",
    "space-around": "SPACE_AROUND",
    "space-evenly": "SPACE_EVENLY",
}
_DIRECTIONS = {
    "row": FlexDirection.ROW,
    "row-reverse": FlexDirection.ROW_REVERSE,
    "column": FlexDirection.COLUMN,
    "column-reverse": FlexDirection.COLUMN_REVERSE,
}
_WRAPS = {"nowrap": FlexWrap.NO_WRAP, "wrap": FlexWrap.WRAP, "wrap-reverse": FlexWrap.WRAP_REVERSE}
_TEXT_ALIGN = {"justify": "start"}  # the text engine has no justification
_CJK = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
_CJK += "\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_UNBREAKABLE = re.compile(
    rf"[{_CJK}][\u3001\u3002\uff0c\uff0e\uff01\uff1f\uff09\uff1a\uff1b]*|[^\s{_CJK}]+"
)


_AUTO = {"dim": 0, "value": math.nan}  # stretchable's Scale: 0 auto, 1 points, 2 percent
_DEFAULT_STYLE = Style().to_dict()


def _length(value, default=0.0) -> dict:
    """A computed length (px float, Len('%'), 'auto'/'none') as a Taffy dimension."""
    if value is None:
        value = default
    if value in ("auto", "none"):
        return _AUTO
    if isinstance(value, Len):
        return {"dim": 2, "value": value.value / 100}
    return {"dim": 1, "value": float(value)}


def _rect(style: dict, names: tuple[str, ...], default=0.0) -> dict:
    return {
        side: _length(style.get(name), default)
        for side, name in zip(("top", "right", "bottom", "left"), names, strict=True)
    }


def _size(style: dict, width: str, height: str, default) -> dict:
    return {
        "width": _length(style.get(width), default),
        "height": _length(style.get(height), default),
    }


def _enum(kind, value):
    return None if value in (None, "auto") else getattr(kind, _ALIGN[value])


def taffy_style(element: Element) -> dict:
    """The element's computed style as Taffy reads it."""
    style = element.style
    hidden = Overflow.HIDDEN if style.get("overflow") == "hidden" else Overflow.VISIBLE
    aspect = style.get("aspectRatio")
    sides = ("Top", "Right", "Bottom", "Left")
    result = copy.copy(_DEFAULT_STYLE)
    result.update(
        position=Position.ABSOLUTE if style.get("position") == "absolute" else Position.RELATIVE,
        inset=_rect(style, ("top", "right", "bottom", "left"), "auto"),
        size=_size(style, "width", "height", "auto"),
        min_size=_size(style, "minWidth", "minHeight", "auto"),
        max_size=_size(style, "maxWidth", "maxHeight", "auto"),
        aspect_ratio=aspect if isinstance(aspect, float) else None,
        flex_direction=_DIRECTIONS[style.get("flexDirection", "row")],
        flex_wrap=_WRAPS[style.get("flexWrap", "nowrap")],
        align_items=_enum(AlignItems, style.get("alignItems")),
        align_self=_enum(AlignSelf, style.get("alignSelf")),
        align_content=_enum(AlignContent, style.get("alignContent")),
        justify_content=_enum(JustifyContent, style.get("justifyContent")),
        flex_grow=float(style.get("flexGrow", 0.0)),
        flex_shrink=float(style.get("flexShrink", 1.0)),
        flex_basis=_length(style.get("flexBasis"), "auto"),
        gap=_size(style, "columnGap", "rowGap", 0.0),
        margin=_rect(style, tuple(f"margin{s}" for s in sides)),
        padding=_rect(style, tuple(f"padding{s}" for s in sides)),
        border=_rect(style, tuple(f"border{s}Width" for s in sides)),
        overflow_x=hidden,
        overflow_y=hidden,
    )
    return result


def text_lines(element: Element) -> tuple[int, bool]:
    """(max lines, single line that does not wrap) for the element's text."""
    clamp = element.style.get("lineClamp")
    nowrap = element.font.white_space == "nowrap"
    if isinstance(clamp, int):
        return clamp, False
    if nowrap:
        ellipsis = element.style.get("textOverflow") == "ellipsis"
        return 1, not ellipsis
    return UNLIMITED_LINES, False


def text_box(element: Element, width: float, align: str | None = None) -> TextBox:
    """The element's text laid out `width` wide at (0, 0)."""
    font = element.font
    max_lines, no_wrap = text_lines(element)
    align = align or _TEXT_ALIGN.get(font.align, font.align)
    options = dict(
        size=font.size,
        family=font.family,
        weight=font.weight,
        italic=font.italic,
        line_height=font.line_height_ratio,
        letter_spacing=font.letter_spacing,
        color="#{:02x}{:02x}{:02x}".format(*font.color[:3]),
    )
    if no_wrap:  # one line as long as it is: wider than the box, it overflows
        natural = layout_text(element.text, width=UNBOUNDED, align="left", **options).width
        width = max(width, natural + 0.01)
    return layout_text(
        element.text, width=max(width, 0.01), max_lines=max_lines, align=align, **options
    )


def _min_content(element: Element) -> float:
    """The widest piece a line cannot break inside: a word, or one CJK character with
    the punctuation that must follow it (as the text engine wraps)."""
    if element.font.white_space == "nowrap":
        return text_box(element, UNBOUNDED).width
    widest = 0.0
    for piece in sorted(set(_UNBREAKABLE.findall(element.text or ""))):
        measured = layout_text(
            piece,
            width=UNBOUNDED,
            size=element.font.size,
            family=element.font.family,
            weight=element.font.weight,
            italic=element.font.italic,
            letter_spacing=element.font.letter_spacing,
            align="left",
        )
        widest = max(widest, measured.width)
    return widest


def _measure_text(element: Element):
    def measure(known_width, known_height, available_width, _available_height):
        if not math.isnan(known_width):
            width = known_width
        elif available_width["dim"] == AvailableSpace.MIN_CONTENT:
            width = _min_content(element)
        elif available_width["dim"] == AvailableSpace.MAX_CONTENT:
            width = UNBOUNDED
        else:
            width = available_width["value"]
        box = text_box(element, width)
        if math.isnan(known_width):
            width = min(math.ceil(box.width * 100) / 100, width)
        height = box.height if math.isnan(known_height) else known_height
        return width, height

    return measure


def _measure_picture(element: Element):
    picture = element.picture
    ratio = picture.width / picture.height

    def measure(width, height, _available_width, _available_height):
        if math.isnan(width) and math.isnan(height):
            width, height = picture.width, picture.height
        elif math.isnan(width):
            width = height * ratio
        elif math.isnan(height):
            height = width / ratio
        return width, height

    return measure


class _Tree:
    """The Taffy nodes of one layout: made, measured, read, dropped."""

    def __init__(self) -> None:
        self.nodes: list[int] = []
        self.measures: dict[int, object] = {}
        self.error: Exception | None = None

    def node(self, style: dict, children: list[int] = (), measure=None) -> int:
        node = taffylib.node_create(taffy._ptr, style)
        self.nodes.append(node)
        for child in children:
            taffylib.node_add_child(taffy._ptr, node, child)
        if measure is not None:
            taffylib.node_set_measure(taffy._ptr, node, True)
            self.measures[node] = measure
        return node

    def build(self, element: Element, ids: dict[int, int]) -> int:
        style = taffy_style(element)
        if element.text is not None:
            node = self.node(style, measure=_measure_text(element))
        elif element.picture is not None and element.picture.width and element.picture.height:
            node = self.node(style, measure=_measure_picture(element))
        else:
            children = [self.build(child, ids) for child in element.children]
            node = self.node(style, children)
        ids[id(element)] = node
        return node

    def measure(self, known_width, known_height, available_width, available_height, node):
        # The binding logs an exception raised here and lays out with NaN: keep the
        # first one for lay_out to raise instead.
        try:
            return self.measures[node](known_width, known_height, available_width, available_height)
        except Exception as exc:
            self.error = self.error or exc
            return 0.0, 0.0

    def drop(self) -> None:
        for node in self.nodes:  # children before parents: the order they were made
            taffylib.node_drop(taffy._ptr, node)


def _read(element: Element, ids: dict[int, int], origin_x: float, origin_y: float) -> None:
    layout = taffylib.PyLayout()
    taffylib.node_get_layout(taffy._ptr, ids[id(element)], layout)
    x, y = origin_x + layout.x, origin_y + layout.y
    element.box = (x, y, layout.width, layout.height)
    bt, br, bb, bl = (
        layout.border_top,
        layout.border_right,
        layout.border_bottom,
        layout.border_left,
    )
    element.borders = (bt, br, bb, bl)
    px, py = x + bl, y + bt
    pw, ph = layout.width - bl - br, layout.height - bt - bb
    element.padding_box = (px, py, pw, ph)
    element.content_box = (
        px + layout.padding_left,
        py + layout.padding_top,
        pw - layout.padding_left - layout.padding_right,
        ph - layout.padding_top - layout.padding_bottom,
    )
    for child in element.children:
        if id(child) in ids:
            _read(child, ids, x, y)


def lay_out(root: Element, width: int, height: int) -> None:
    """Place every element of the tree on a `width` × `height` canvas (sets `box`,
    `borders`, `padding_box` and `content_box`, absolute px)."""
    canvas_style = copy.copy(_DEFAULT_STYLE)
    canvas_style.update(
        size={"width": _length(width), "height": _length(height)},
        flex_direction=FlexDirection.ROW,
        flex_wrap=FlexWrap.WRAP,
        align_items=AlignItems.FLEX_START,
        justify_content=JustifyContent.FLEX_START,
        overflow_x=Overflow.HIDDEN,
        overflow_y=Overflow.HIDDEN,
    )
    available = {"width": _length(width), "height": _length(height)}
    with _lock:
        tree = _Tree()
        try:
            ids: dict[int, int] = {}
            canvas = tree.node(canvas_style, [tree.build(root, ids)])
            taffylib.disable_rounding(taffy._ptr)
            if not taffylib.node_compute_layout_with_measure(
                taffy._ptr, canvas, available, tree.measure
            ):
                raise RuntimeError("Taffy could not lay the tree out")
            if tree.error is not None:
                raise tree.error
            _read(root, ids, 0.0, 0.0)
        finally:
            tree.drop()

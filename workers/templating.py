"""Jinja2 templates → SVG: the sandboxed environment and its helpers. Plain Python.

Templates run in Jinja's ImmutableSandboxedEnvironment with autoescape on, so a param can
never inject markup (`<`, `&`, quotes are escaped; XML numeric references are valid XML).
On top of the sandbox, a template is checked statically when it is saved: no attribute
or item starting with `_` (the road to `__class__`/`__globals__`), and no include,
import or extends (the only road to other files). A template has no loader, so it
cannot read files at all, and no way to reach the network except `image()`, which goes
through the guarded fetcher.

Helpers a template may call:
    text(value, x=, y=, width=, max_lines=, size=, min_size=, weight=, color=, align=,
         family=, line_height=, letter_spacing=, italic=)   → SVG paths of laid-out text
    text_box(...) → the placed text (`.svg`, `.height`, `.lines`, `.font_size`) for layouts
                    that flow: `{% set t = text_box(...) %}{{ t }}` then use `t.height`
    image(url)    → a data: URL of the fetched image (empty string when url is empty)
    contrast(color) → "#0b0d12" or "#ffffff", whichever reads on `color`
    mix(color_a, color_b, t) → a colour between two colours
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup


class TemplateSourceError(Exception):
    """The template cannot be used: bad syntax, a forbidden construct, or a render error."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class PlacedText:
    """What `text_box()` gives a template: the paths (safe markup) and the metrics."""

    svg: Markup
    lines: tuple[str, ...]
    width: float
    height: float
    font_size: float
    truncated: bool

    def __html__(self) -> str:
        return str(self.svg)


@dataclass(frozen=True)
class TemplateContext:
    """What a render knows besides the params: canvas size, font family, fetcher."""

    width: int
    height: int
    family: str = "Inter"
    fetch_image: Callable[[str], tuple[str, bytes]] | None = None  # url → (type, bytes)


_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def _rgb(color: str) -> tuple[int, int, int]:
    match = _HEX.match(str(color).strip())
    if not match:
        return (0, 0, 0)
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def contrast(color: str) -> str:
    """Dark or light text for a background: WCAG relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(color))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#0b0d12" if luminance > 0.36 else "#ffffff"


def mix(color_a: str, color_b: str, t: float = 0.5) -> str:
    t = min(1.0, max(0.0, float(t)))
    a, b = _rgb(color_a), _rgb(color_b)
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def _is_rtl(value: Any) -> bool:
    from workers.text import is_rtl

    return is_rtl("" if value is None else str(value))


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.globals.update(contrast=contrast, mix=mix, min=min, max=max, round=round, is_rtl=_is_rtl)
    # Without `safe` no template can mark a param as markup; the only markup a template
    # can emit besides its own source is the engine's text paths.
    env.filters.pop("safe")
    return env


ENVIRONMENT = _environment()


def _static_check(source: str) -> nodes.Template:
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateSourceError(exc.message or "syntax error", exc.lineno) from None
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        raise TemplateSourceError(
            "include, import and extends are not allowed: a template is one file",
            node.lineno,
        )
    forbidden: list[tuple[int, str]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "")
        if isinstance(name, str) and name.startswith("_") and (node.lineno, name) not in forbidden:
            forbidden.append((node.lineno, name))
    if forbidden:
        names = ", ".join(f"'{name}'" for _, name in sorted(forbidden))
        raise TemplateSourceError(f"access to {names} is not allowed", min(forbidden)[0])
    return tree


@functools.lru_cache(maxsize=256)
def compile_template(source: str):
    """Check and compile a template source (cached by source text)."""
    _static_check(source)
    try:
        return ENVIRONMENT.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateSourceError(exc.message or "syntax error", exc.lineno) from None


def source_digest(*parts: Any) -> str:
    """A digest of everything that decides a template's output (for the cache key)."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(repr(part).encode())
        hasher.update(b"\x00")
    return hasher.hexdigest()[:16]


def render_template_svg(source: str, params: dict[str, Any], context: TemplateContext) -> str:
    """Render a template to an SVG document string; TemplateSourceError on any failure."""
    from workers.text import layout_text

    template = compile_template(source)
    image_cache: dict[str, str] = {}

    def text_box(value: Any, **options: Any) -> PlacedText:
        options.setdefault("family", context.family)
        box = layout_text("" if value is None else str(value), **options)
        return PlacedText(
            svg=Markup(box.svg),  # noqa: S704 - paths made by the engine, never param text
            lines=box.lines,
            width=box.width,
            height=box.height,
            font_size=box.font_size,
            truncated=box.truncated,
        )

    def text(value: Any, **options: Any) -> Markup:
        return text_box(value, **options).svg

    def image(url: Any) -> str:
        url = "" if url is None else str(url)
        if not url or context.fetch_image is None:
            return ""
        if url not in image_cache:
            content_type, data = context.fetch_image(url)
            image_cache[url] = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
        return image_cache[url]

    variables = {
        **params,
        "params": params,
        "width": context.width,
        "height": context.height,
        "font": context.family,
        "text": text,
        "text_box": text_box,
        "image": image,
    }
    try:
        return template.render(variables)
    except SecurityError as exc:
        raise TemplateSourceError(f"not allowed in a template: {exc}") from None
    except (UndefinedError, TemplateError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise TemplateSourceError(f"the template failed to render: {exc}") from None

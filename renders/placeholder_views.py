"""Placeholder routes (SPEC §7): parse the URL into canonical parameters, answer the
cached bytes. No DRF, no authentication, no database, no queue.

The drawings are workers/placeholders.py; this module owns the URL grammar (what is a
size, a colour, an angle), the clamping to `KILN_PLACEHOLDER_MAX`, the in-process body
cache and the HTTP caching headers. Bad input is a 400 error glyph (renders/glyphs.py),
never a 500. Equal canonical parameters give equal bytes, so the ETag is a hash of the
body and every answer may be cached for a year.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from config.errors import KilnError
from config.local_cache import Body, BodyCache
from renders.glyphs import image_error_response
from workers import placeholders
from workers.rasterise import CONTENT_TYPES, RenderInputError, render_svg

IMMUTABLE = "public, max-age=31536000, immutable"
_SIZE = re.compile(r"([0-9]+)x([0-9]+)")
_ANGLE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?")
# More digits than this is clamped without being parsed (int() of a 5000-digit string
# is refused by Python, and is slow well before that).
_MAX_DIGITS = 9


CACHE = BodyCache(max_bytes=64 * 1024 * 1024)


# --- parsing: every function raises KilnError(VALIDATION_FAILED) with a clear message ----


def _bad(message: str, field: str) -> KilnError:
    return KilnError("VALIDATION_FAILED", message, details={field: [message]})


def _echo(value: str) -> str:
    """User input quoted in a message: short, and with anything odd escaped by repr."""
    return repr(value if len(value) <= 24 else value[:24] + "…")


def parse_size(size: str) -> tuple[int, int]:
    """`WxH` (digits only) → clamped (w, h); zero or anything else is a 400."""
    match = _SIZE.fullmatch(size)
    if not match:
        raise _bad(f"size must be WxH in pixels, like 400x300; got {_echo(size)}", "size")
    limit = settings.KILN_PLACEHOLDER_MAX
    sides = [
        limit if len(digits) > _MAX_DIGITS else min(int(digits), limit) for digits in match.groups()
    ]
    if 0 in sides:
        raise _bad("width and height must be at least 1 pixel", "size")
    return sides[0], sides[1]


def parse_color(value: str, field: str) -> str:
    try:
        return placeholders.hex_color(value)
    except ValueError:
        raise _bad(f"{field} must be a hex colour, rgb or rrggbb; got {_echo(value)}", field)


def _query_color(request: HttpRequest, field: str, default: str | None) -> str | None:
    value = request.GET.get(field, "")
    return parse_color(value, field) if value else default


def _query_text(request: HttpRequest) -> str | None:
    # Cut long before layout: the engine cuts at MAX_TEXT anyway, and the cache key
    # should not carry 10 KB of a label nobody will read.
    text = request.GET.get("text", "")[: placeholders.MAX_TEXT + 1].strip()
    return text or None


def parse_angle(value: str) -> float:
    if not _ANGLE.fullmatch(value) or float(value) > 360:
        raise _bad(f"angle must be degrees from 0 to 360; got {_echo(value)}", "angle")
    return float(value)


def _choice(request: HttpRequest, field: str, options: tuple[str, ...], default: str) -> str:
    value = request.GET.get(field, "") or default
    if value not in options:
        raise _bad(f"{field} must be one of {', '.join(options)}; got {_echo(value)}", field)
    return value


# --- answering ------------------------------------------------------------------------------


def _render(key: tuple, draw: Callable[[], str]) -> Body:
    """The body for `key` = (route, format, width, height, *params): cached, or drawn
    (and rasterised for png/webp) now."""
    body = CACHE.get(key)
    if body is None:
        _, fmt, width, height, *_ = key
        svg = draw().encode()
        try:
            data = (
                svg
                if fmt == "svg"
                else render_svg(svg, format=fmt, width=width, height=height).data
            )
        except RenderInputError as exc:  # our own drawing: a bug, still answered as a glyph
            raise KilnError(exc.code, exc.message)
        body = Body(data, CONTENT_TYPES[fmt], f'"{hashlib.sha256(data).hexdigest()[:32]}"')
        CACHE.put(key, body)
    return body


def _answer(request: HttpRequest, key: tuple, draw: Callable[[], str]) -> HttpResponse:
    body = _render(key, draw)
    headers = {"ETag": body.etag, "Cache-Control": IMMUTABLE}
    if body.etag in request.headers.get("If-None-Match", ""):
        return HttpResponse(status=304, headers=headers)
    return HttpResponse(body.data, content_type=body.content_type, headers=headers)


def placeholder_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET/HEAD only, and a KilnError becomes an error glyph (JSON for JSON clients),
    drawn at the asked size when that much of the URL was valid, so an `<img>` without
    width and height keeps its layout."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, **kwargs: str) -> HttpResponse:
        try:
            if request.method not in ("GET", "HEAD"):
                raise KilnError(
                    "METHOD_NOT_ALLOWED",
                    f"{request.method} is not allowed; use GET",
                    headers={"Allow": "GET, HEAD"},
                )
            return view(request, **kwargs)
        except KilnError as error:
            try:
                width, height = parse_size(kwargs.get("size", ""))
            except KilnError:
                width, height = 1200, 630
            return image_error_response(request, error, width=width, height=height)

    return wrapped


# --- the routes -----------------------------------------------------------------------------


@placeholder_view
def size_label(request: HttpRequest, size: str, ext: str | None = None) -> HttpResponse:
    """GET /{w}x{h}[.svg|.png|.webp]?text=&bg=&fg= (labelled with its size by default)."""
    width, height = parse_size(size)
    text = _query_text(request)
    bg = _query_color(request, "bg", placeholders.DEFAULT_BG)
    fg = _query_color(request, "fg", None)
    key = ("label", ext or "svg", width, height, text, bg, fg)
    return _answer(
        request, key, lambda: placeholders.label_svg(width, height, text=text, bg=bg, fg=fg)
    )


@placeholder_view
def solid_color(
    request: HttpRequest, color: str, size: str, ext: str | None = None
) -> HttpResponse:
    """GET /color/{hex}/{w}x{h}[.ext]?text=&fg= (no `#` in the path)."""
    width, height = parse_size(size)
    if "#" in color:
        raise _bad("the colour in the path has no '#': /color/ff8800/400x300", "color")
    color = parse_color(color, "color")
    text = _query_text(request)
    fg = _query_color(request, "fg", None)
    key = ("color", ext or "svg", width, height, color, text, fg)
    return _answer(
        request,
        key,
        lambda: placeholders.color_svg(width, height, color=color, text=text, fg=fg),
    )


@placeholder_view
def gradient(request: HttpRequest, size: str, ext: str | None = None) -> HttpResponse:
    """GET /gradient/{w}x{h}[.ext]?from=&to=&angle=&type=linear|radial&text=&fg="""
    width, height = parse_size(size)
    start = _query_color(request, "from", placeholders.GRADIENT_FROM)
    end = _query_color(request, "to", placeholders.GRADIENT_TO)
    angle_text = request.GET.get("angle", "")
    angle = parse_angle(angle_text) if angle_text else placeholders.GRADIENT_ANGLE
    kind = _choice(request, "type", placeholders.GRADIENT_TYPES, "linear")
    if kind == "radial":
        angle = placeholders.GRADIENT_ANGLE  # a radial gradient has no angle: one image
    text = _query_text(request)
    fg = _query_color(request, "fg", None)
    key = ("gradient", ext or "svg", width, height, start, end, angle, kind, text, fg)
    return _answer(
        request,
        key,
        lambda: placeholders.gradient_svg(
            width, height, start=start, end=end, angle=angle, kind=kind, text=text, fg=fg
        ),
    )


@placeholder_view
def seeded(request: HttpRequest, seed: str, size: str, ext: str | None = None) -> HttpResponse:
    """GET /seed/{seed}/{w}x{h}[.ext]: a stable variation derived from the seed string."""
    width, height = parse_size(size)
    key = ("seed", ext or "svg", width, height, seed)
    return _answer(request, key, lambda: placeholders.seed_svg(seed, width, height))


@placeholder_view
def icon(request: HttpRequest, size: str, ext: str | None = None) -> HttpResponse:
    """GET /glyph/{w}x{h}[.ext]?as=avatar|photo|video|product|map|document&bg=&fg="""
    width, height = parse_size(size)
    kind = _choice(request, "as", placeholders.ICON_KINDS, "photo")
    bg = _query_color(request, "bg", placeholders.WIREFRAME_BG)
    fg = _query_color(request, "fg", None)
    key = ("glyph", ext or "svg", width, height, kind, bg, fg)
    return _answer(
        request, key, lambda: placeholders.icon_svg(width, height, kind=kind, bg=bg, fg=fg)
    )

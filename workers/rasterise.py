"""SVG → PNG / JPEG / WebP / PDF: the engine of the `svg` pool. Plain Python, no Django.

Inline SVG is untrusted. `inspect_svg` refuses what could reach outside the document
(DOCTYPE/entities, XInclude, external hrefs, CSS `url()`/`@import` to anything but
`#fragment` or `data:`), and the rasteriser's URL fetcher serves `data:` URLs only, so
even a check missed here cannot read a file or open a socket.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import zlib
from collections import deque
from dataclasses import dataclass

import cairocffi
import cairosvg.parser
import cairosvg.surface
import cairosvg.url
from cairocffi.context import _encode_path
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException
from PIL import Image

from workers.specs import CanvasSpec

FORMATS = ("png", "jpeg", "webp", "pdf")
CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "svg": "image/svg+xml",
}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "pdf": "pdf", "svg": "svg"}

_SVG_NS = "{http://www.w3.org/2000/svg}"
_HREF_ATTRS = ("href", "{http://www.w3.org/1999/xlink}href", "src")
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import", re.IGNORECASE)
_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(px)?\s*$")


class RenderInputError(Exception):
    """The input cannot be rendered as given (fail at once, never retry)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SvgInfo:
    width: float | None
    height: float | None


@dataclass(frozen=True)
class RenderedImage:
    data: bytes
    format: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def _is_local_reference(url: str) -> bool:
    url = url.strip()
    return url == "" or url.startswith("#") or url.lower().startswith("data:")


def inspect_svg(svg: bytes) -> SvgInfo:
    """Parse untrusted SVG and return its intrinsic size, or raise RenderInputError."""
    try:
        root = SafeET.fromstring(svg, forbid_dtd=True, forbid_entities=True)
    except DefusedXmlException:
        raise RenderInputError(
            "VALIDATION_FAILED", "svg may not contain a DOCTYPE, entities or external references"
        ) from None
    except SafeET.ParseError as exc:
        raise RenderInputError("VALIDATION_FAILED", f"svg is not well-formed XML: {exc}") from None
    if root.tag not in (f"{_SVG_NS}svg", "svg"):
        raise RenderInputError("VALIDATION_FAILED", "svg root element must be <svg>")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.startswith("{http://www.w3.org/2001/XInclude}"):
            raise RenderInputError("VALIDATION_FAILED", "svg may not use XInclude")
        for attr in _HREF_ATTRS:
            value = element.get(attr)
            if value is not None and not _is_local_reference(value):
                raise RenderInputError(
                    "VALIDATION_FAILED",
                    f"svg references an external resource ({value[:80]!r}); "
                    "only #fragments and data: URLs are allowed",
                )
        css = " ".join(
            filter(
                None,
                [element.get("style"), element.text if element.tag.endswith("style") else None],
            )
        )
        for value in [*list(element.attrib.values()), css]:
            if _CSS_IMPORT.search(value):
                raise RenderInputError("VALIDATION_FAILED", "svg may not use CSS @import")
            for url in _CSS_URL.findall(value):
                if not _is_local_reference(url):
                    raise RenderInputError(
                        "VALIDATION_FAILED",
                        f"svg references an external resource ({url[:80]!r}) in CSS",
                    )
    return SvgInfo(width=_intrinsic(root, "width", 2), height=_intrinsic(root, "height", 3))


def _intrinsic(root, attribute: str, viewbox_index: int) -> float | None:
    match = _LENGTH.match(root.get(attribute) or "")
    if match:
        return float(match.group(1))
    parts = re.split(r"[\s,]+", (root.get("viewBox") or "").strip())
    if len(parts) == 4:
        try:
            return float(parts[viewbox_index])
        except ValueError:
            return None
    return None


def _fetch_inline_only(url: str, resource_type: str) -> bytes:
    # Second line of defence behind inspect_svg: no file:, no http(s):, ever.
    if url.lower().startswith("data:"):
        return cairosvg.url.fetch(url, resource_type)
    raise RenderInputError("VALIDATION_FAILED", "svg references an external resource")


# --- glyph paths: drawn from a cache, not re-parsed ---------------------------------------
#
# cairosvg parses path data in Python, point by point: for a text-heavy card that was
# two thirds of the render. The text engine writes every glyph as `M x y` + a relative
# tail that is the same string wherever that glyph appears at that size, so each tail is
# parsed once into a cairo path and appended under a translation ever after. Any path
# data not of that shape (or with markers) goes to cairosvg's own parser, unchanged.
_GLYPH_PATH = re.compile(r"(?:M-?[\d.]+ -?[\d.]+[mlcqz\d .\-]*)+")
_GLYPH = re.compile(r"M(-?[\d.]+) (-?[\d.]+)([^M]*)")
_TAIL_TOKEN = re.compile(r"[mlcqz]|-?[\d.]+")
_MARKERS = ("marker", "marker-start", "marker-mid", "marker-end")


# ~8k distinct glyph-at-size tails (a few KB each) cover many templates and scripts.
@functools.lru_cache(maxsize=8192)
def _glyph_tail(tail: str):
    """A relative tail as a cairo path starting at (0, 0): (cdata, keep-alive)."""
    items: list[tuple[int, tuple[float, ...]]] = [(cairocffi.PATH_MOVE_TO, (0.0, 0.0))]
    tokens = _TAIL_TOKEN.findall(tail)
    x = y = start_x = start_y = 0.0
    i, command = 0, ""
    while i < len(tokens):
        if tokens[i] in "mlcqz":
            command = tokens[i]
            i += 1
            if command == "z":
                items.append((cairocffi.PATH_CLOSE_PATH, ()))
                x, y = start_x, start_y
                continue
        values = [float(v) for v in tokens[i : i + {"m": 2, "l": 2, "c": 6, "q": 4}[command]]]
        i += len(values)
        if command == "m":
            x, y = x + values[0], y + values[1]
            start_x, start_y = x, y
            items.append((cairocffi.PATH_MOVE_TO, (x, y)))
            command = "l"  # further pairs after a moveto are lines
        elif command == "l":
            x, y = x + values[0], y + values[1]
            items.append((cairocffi.PATH_LINE_TO, (x, y)))
        elif command == "c":
            points = (x + values[0], y + values[1], x + values[2], y + values[3])
            x, y = x + values[4], y + values[5]
            items.append((cairocffi.PATH_CURVE_TO, (*points, x, y)))
        else:  # quadratic → cubic: controls at 2/3 of the way to the quadratic control
            qx, qy = x + values[0], y + values[1]
            end_x, end_y = x + values[2], y + values[3]
            items.append(
                (
                    cairocffi.PATH_CURVE_TO,
                    (
                        x + 2 / 3 * (qx - x),
                        y + 2 / 3 * (qy - y),
                        end_x + 2 / 3 * (qx - end_x),
                        end_y + 2 / 3 * (qy - end_y),
                        end_x,
                        end_y,
                    ),
                )
            )
            x, y = end_x, end_y
    return _encode_path(items)


def _draw_path(surface, node) -> None:
    d = node.get("d", "")
    if any(node.get(name) for name in _MARKERS) or not _GLYPH_PATH.fullmatch(d):
        return _cairosvg_path(surface, node)
    node.vertices = deque()  # no markers to place
    context = surface.context
    pointer = context._pointer
    for x, y, tail in _GLYPH.findall(d):
        dx, dy = float(x), float(y)
        path, _ = _glyph_tail(tail)
        context.translate(dx, dy)
        cairocffi.cairo.cairo_append_path(pointer, path)
        context.translate(-dx, -dy)
    return None


_cairosvg_path = cairosvg.surface.TAGS["path"]
cairosvg.surface.TAGS["path"] = _draw_path


def render_spec_svg(svg: bytes, spec: CanvasSpec) -> RenderedImage:
    """Rasterise `svg` as `spec` asks (its size, dpr, format, quality, background)."""
    return render_svg(
        svg,
        format=spec.format,
        width=spec.width,
        height=spec.height,
        dpr=spec.dpr,
        quality=spec.quality or 90,
        background=spec.background,
    )


def render_svg(
    svg: bytes,
    *,
    format: str,
    width: int,
    height: int,
    dpr: float = 1,
    quality: int = 90,
    background: str | None = None,
) -> RenderedImage:
    """Rasterise `svg` to `width`×`height` CSS pixels at `dpr` in `format`.

    `background` is a CSS colour or None (transparent; JPEG then gets white, having no
    alpha). Raises RenderInputError for input the rasteriser rejects.
    """
    if format not in FORMATS:
        raise RenderInputError("VALIDATION_FAILED", f"format must be one of {', '.join(FORMATS)}")
    out_w, out_h = round(width * dpr), round(height * dpr)
    try:
        tree = cairosvg.parser.Tree(bytestring=svg, url_fetcher=_fetch_inline_only, unsafe=False)
        if format == "pdf":
            output = io.BytesIO()
            surface = cairosvg.surface.PDFSurface(
                tree,
                output,
                96,
                output_width=width,
                output_height=height,
                background_color=background,
            )
            surface.finish()
            return RenderedImage(output.getvalue(), "pdf", width, height)
        output = io.BytesIO()
        surface = cairosvg.surface.PNGSurface(
            tree,
            output,
            96,
            output_width=out_w,
            output_height=out_h,
            background_color=background,
        )
        image = _surface_to_pillow(surface.cairo)
    except RenderInputError:
        raise
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        ZeroDivisionError,
        cairocffi.CairoError,
        MemoryError,  # cairo: a corrupt embedded image ...
        OSError,  # ... or an unreadable one (the engine does no other I/O)
        Image.DecompressionBombError,
    ) as exc:
        # cairosvg's answer to SVG it cannot draw; retrying would fail the same way.
        raise RenderInputError("RENDER_FAILED", f"svg could not be rendered: {exc}") from None
    return _encode(image, format=format, quality=quality, width=out_w, height=out_h)


def _surface_to_pillow(cairo_surface) -> Image.Image:
    """cairo's ARGB32 (premultiplied B, G, R, A bytes) as a Pillow image: RGB when every
    pixel is opaque (most cards), else straight RGBA."""
    cairo_surface.flush()
    size = (cairo_surface.get_width(), cairo_surface.get_height())
    data, stride = cairo_surface.get_data(), cairo_surface.get_stride()
    # A zero-copy view just to read the alpha byte of every pixel.
    view = Image.frombuffer("RGBA", size, data, "raw", "RGBA", stride, 1)
    if view.getchannel(3).getextrema() == (255, 255):
        return Image.frombuffer("RGB", size, data, "raw", "BGRX", stride, 1)
    return Image.frombuffer("RGBA", size, data, "raw", "BGRa", stride, 1)


# zlib level of encode_png, measured on the gallery (docs/PERFORMANCE.md): 3 is ~2x
# faster than 6 for ~1.3x the bytes; 1-2 save little time over 3.
PNG_ZLIB_LEVEL = 3
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(image: Image.Image, *, level: int = PNG_ZLIB_LEVEL) -> bytes:
    """PNG without per-row filter search: zlib does the work, in C, without the GIL.

    Both cairo's and Pillow's encoders spend most of a card's render time choosing row
    filters; flat, anti-aliased card art compresses about as well without them. Opaque
    images arrive as RGB (a quarter less to compress than RGBA).
    """
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA")
    width, height = image.size
    channels = 3 if image.mode == "RGB" else 4
    stride = width * channels
    raw = image.tobytes()
    rows = b"".join(b"\x00" + raw[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 6, 0, 0, 0)
    return b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows, level)),
            _png_chunk(b"IEND", b""),
        )
    )


def _encode(
    image: Image.Image, *, format: str, quality: int, width: int, height: int
) -> RenderedImage:
    if format == "png":
        return RenderedImage(encode_png(image), "png", width, height)
    buffer = io.BytesIO()
    if format == "jpeg" and image.mode == "RGBA":
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        flat.save(buffer, "JPEG", quality=quality, optimize=False, progressive=False)
    elif format == "jpeg":
        image.save(buffer, "JPEG", quality=quality, optimize=False, progressive=False)
    else:
        image.save(buffer, "WEBP", quality=quality, method=4)
    return RenderedImage(buffer.getvalue(), format, width, height)

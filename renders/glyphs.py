"""Error glyphs: the small readable SVG images image routes answer errors with (SPEC §3),
so an <img> or og:image shows what went wrong instead of a broken-image icon.

One glyph per kind of failure (unauthorized, not found, expired, blocked, failed,
pending, bad request, limit), drawn with the text engine, deterministic and cached.
`image_error_response` picks the glyph or the JSON error body from the Accept header.
"""

from __future__ import annotations

import functools

from django.http import HttpRequest, HttpResponse

from config.errors import KilnError, error_response
from workers.text import layout_text

# Error code → glyph kind.
KIND_BY_CODE = {
    "UNAUTHORIZED": "unauthorized",
    "NOT_FOUND": "not-found",
    "GONE": "expired",
    "FORBIDDEN": "blocked",
    "HOST_NOT_ALLOWED": "blocked",
    "PROMPT_BLOCKED": "blocked",
    "RENDER_FAILED": "failed",
    "UPSTREAM_FAILED": "failed",
    "RENDER_TIMEOUT": "failed",
    "UNAVAILABLE": "failed",
    "VALIDATION_FAILED": "bad-request",
    "TOO_LARGE": "bad-request",
    "NOT_ACCEPTABLE": "bad-request",
    "METHOD_NOT_ALLOWED": "bad-request",
    "QUOTA_EXCEEDED": "limit",
    "TIER_LOCKED": "limit",
    "RATE_LIMITED": "limit",
}

# kind → (title, accent colour, icon drawn in a 100×100 box)
GLYPHS: dict[str, tuple[str, str, str]] = {
    "unauthorized": (
        "Unauthorized",
        "#d97706",
        '<rect x="22" y="46" width="56" height="42" rx="8"/>'
        '<path d="M34 46V34a16 16 0 0 1 32 0v12" fill="none" stroke-width="9"/>',
    ),
    "not-found": (
        "Not found",
        "#6b7280",
        '<circle cx="44" cy="44" r="24" fill="none" stroke-width="9"/>'
        '<path d="M62 62l20 20" stroke-width="11" stroke-linecap="round"/>',
    ),
    "expired": (
        "Link expired",
        "#7c3aed",
        '<circle cx="50" cy="50" r="36" fill="none" stroke-width="9"/>'
        '<path d="M50 28v24l14 10" fill="none" stroke-width="8" stroke-linecap="round"/>',
    ),
    "blocked": (
        "Blocked",
        "#dc2626",
        '<circle cx="50" cy="50" r="36" fill="none" stroke-width="9"/>'
        '<path d="M25 25l50 50" stroke-width="9"/>',
    ),
    "failed": (
        "Render failed",
        "#dc2626",
        '<path d="M50 12L90 84H10z" fill="none" stroke-width="8" stroke-linejoin="round"/>'
        '<path d="M50 38v22" stroke-width="9" stroke-linecap="round"/>'
        '<circle cx="50" cy="72" r="5" stroke="none"/>',
    ),
    "pending": (
        "Rendering…",
        "#2563eb",
        '<circle cx="22" cy="50" r="9" stroke="none"/><circle cx="50" cy="50" r="9" '
        'stroke="none" opacity="0.6"/><circle cx="78" cy="50" r="9" stroke="none" '
        'opacity="0.3"/>',
    ),
    "bad-request": (
        "Bad request",
        "#d97706",
        '<circle cx="50" cy="50" r="36" fill="none" stroke-width="9"/>'
        '<path d="M50 30v26" stroke-width="9" stroke-linecap="round"/>'
        '<circle cx="50" cy="70" r="5" stroke="none"/>',
    ),
    "limit": (
        "Limit reached",
        "#d97706",
        '<path d="M14 78a36 36 0 0 1 72 0" fill="none" stroke-width="9"/>'
        '<path d="M50 78l22-26" stroke-width="8" stroke-linecap="round"/>',
    ),
}
MAX_MESSAGE = 160


def glyph_kind(kind_or_code: str) -> str:
    """A glyph kind from a kind name or an error code (unknown → failed)."""
    if kind_or_code in GLYPHS:
        return kind_or_code
    return KIND_BY_CODE.get(kind_or_code, "failed")


@functools.lru_cache(maxsize=512)
def glyph_svg(
    kind_or_code: str, message: str | None = None, width: int = 1200, height: int = 630
) -> str:
    """The glyph as an SVG document, `width`×`height` (clamped to 16–4096)."""
    kind = glyph_kind(kind_or_code)
    title, accent, icon = GLYPHS[kind]
    width = min(max(int(width), 16), 4096)
    height = min(max(int(height), 16), 4096)
    # Everything is laid out on a 600-unit-wide card, scaled to the canvas.
    scale = min(width / 600, height / 315)
    box_w, box_h = 600 * scale, 315 * scale
    left, top = (width - box_w) / 2, (height - box_h) / 2
    heading = layout_text(
        title, x=0, y=0, width=520, size=34, min_size=20, weight=700, align="center",
        color="#111827",
    )  # fmt: skip
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<rect width="{width}" height="{height}" fill="#f3f4f6"/>',
        f'<g transform="translate({left:.2f} {top:.2f}) scale({scale:.4f})">',
        f'<g transform="translate(265 70) scale(0.7)" fill="{accent}" stroke="{accent}">{icon}</g>',
        f'<g transform="translate(40 160)">{heading.svg}</g>',
    ]
    if message:
        text = " ".join(str(message).split())[:MAX_MESSAGE]
        body = layout_text(
            text, x=0, y=0, width=520, max_lines=3, size=20, min_size=14, align="center",
            color="#4b5563",
        )  # fmt: skip
        parts.append(f'<g transform="translate(40 {170 + heading.height:.2f})">{body.svg}</g>')
    parts.append("</g></svg>")
    return "".join(parts)


def accepts_image(request: HttpRequest) -> bool:
    """True unless the client asks for JSON before any image type (an <img> sends
    image/…, curl sends */*, API clients send application/json)."""
    accept = request.headers.get("Accept", "").lower()
    if not accept:
        return True
    for item in accept.split(","):
        media = item.split(";")[0].strip()
        if media == "application/json" or media.endswith("+json"):
            return False
        if media.startswith("image/") or media in ("*/*", "image/*"):
            return True
    return False


def image_error_response(
    request: HttpRequest, error: KilnError, *, width: int = 1200, height: int = 630
) -> HttpResponse:
    """The error as a glyph for image clients, as the JSON error body for the others;
    the same status either way."""
    if not accepts_image(request):
        return error_response(error)
    response = HttpResponse(
        glyph_svg(error.code, error.message, width, height),
        status=error.status,
        content_type="image/svg+xml",
    )
    response["Cache-Control"] = "no-store"
    response["X-Kiln-Error"] = error.code
    for name, value in error.headers.items():
        response[name] = value
    return response

"""The bytes of AI images: where they are stored, the final PNG, and what is shown
before it exists (placeholder) or instead of it (glyphs). Plain Python, no models.

Storage follows the renders' path scheme (renders/cache.py: `<area>/<ab>/<cd>/<key>.<ext>`
under Django's default storage, local files or S3): an AI image lives at
`ai/<id[:2]>/<id[2:4]>/<id>.png`. The job id is itself derived from the submission, so,
like a render's cache key, one id always means the same bytes.
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageOps

from workers.rasterise import encode_png, render_svg


class OutputImageError(Exception):
    """The provider's output is not an image Kiln can use."""


def ai_storage_path(job_id: str) -> str:
    return f"ai/{job_id[:2]}/{job_id[2:4]}/{job_id}.png"


def final_png(data: bytes, *, width: int, height: int) -> bytes:
    """The provider's output as a PNG of exactly `width`×`height`: scaled to cover the
    box and centre-cropped (models produce their own sizes; the URL promises this one)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") else "RGB"
            converted = image.convert(mode)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise OutputImageError(f"the output is not a readable image: {exc}") from None
    if converted.size != (width, height):
        converted = ImageOps.fit(converted, (width, height), Image.Resampling.LANCZOS)
    return encode_png(converted)


@lru_cache(maxsize=64)
def placeholder_png(seed: str, width: int, height: int) -> bytes:
    """The seed placeholder of SPEC §7 (`/seed/{seed}/{w}x{h}`) as PNG; the job id is the
    seed, so each job has its own stable placeholder. Cached: pollers ask often."""
    from workers.placeholders import seed_svg

    svg = seed_svg(seed, width, height)
    return render_svg(svg.encode(), format="png", width=width, height=height).data


@lru_cache(maxsize=32)
def glyph_png(kind: str, message: str | None, width: int, height: int) -> bytes:
    """An error glyph (renders.glyphs) as PNG: the image route promises a PNG."""
    from renders.glyphs import glyph_svg

    svg = glyph_svg(kind, message=message, width=width, height=height)
    data = svg.encode() if isinstance(svg, str) else svg
    return render_svg(data, format="png", width=width, height=height).data

"""Taking the picture: viewport metrics, the region to capture, the capture, the image.

A job's page is sized over CDP (`set_metrics`), the region is the viewport, an element's
box or the whole page (`clip_region`, cut to `MAX_PIXELS`), and `take_shot` captures it
on the loop thread. `finish` then turns the `Shot` into a `RenderedImage` in the calling
thread.

PNG: Chromium's own PNG encoder is the slow part of a screenshot. Captures are taken with
CDP `Page.captureScreenshot` (`optimizeForSpeed`: cheap zlib, ~2× larger) and re-encoded
by `workers.rasterise.encode_png` in the calling thread (docs/PERFORMANCE.md, "Browser
pool", has the measurements behind this and the other choices).
"""

from __future__ import annotations

import base64
import io
import math
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image
from playwright.async_api import CDPSession, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from workers.rasterise import RenderedImage, encode_png
from workers.specs import RenderSpec

MAX_PIXELS = 40_000_000  # device pixels of one capture (full_page is cut to fit)
SELECTOR_WAIT_S = 5.0  # `selector` missing after this long: the full viewport instead
# Capture PNG fast and re-encode in Python, or let Chromium encode it (the baseline); the
# bench measures both (bench/browser.py).
PNG_REENCODE = True

# Document coordinates of an element, for a clip that may lie outside the viewport.
_ELEMENT_BOX = """el => {
  const r = el.getBoundingClientRect();
  return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width,
          height: r.height};
}"""


@dataclass(frozen=True)
class Shot:
    """What the loop thread hands back; the caller's thread decodes and encodes it."""

    format: str
    data: bytes | str  # bytes (pdf) or base64 from CDP
    css_width: int
    css_height: int


def ms_left(deadline: float) -> float:
    """Milliseconds to `deadline` (a `time.monotonic()`), at least 1."""
    return max(1.0, (deadline - time.monotonic()) * 1000)


async def set_metrics(cdp: CDPSession, width: int, height: int, dpr: float) -> None:
    """Viewport and device scale factor. Set on the session that captures: Chromium
    scales a session's screenshots by that session's own scale factor."""
    await cdp.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": dpr, "mobile": False},
    )


async def clip_region(
    page: Page,
    cdp: CDPSession,
    output: RenderSpec,
    selector: str | None,
    full_page: bool,
    deadline: float,
) -> dict[str, float] | None:
    """The region to capture in document coordinates, or None for the viewport."""
    if selector:
        try:
            element = await page.wait_for_selector(
                selector, state="visible", timeout=min(SELECTOR_WAIT_S * 1000, ms_left(deadline))
            )
        except PlaywrightTimeoutError:
            element = None  # not there in time: the spec says full viewport
        if element is not None:
            box = await element.evaluate(_ELEMENT_BOX)
            x, y = math.floor(box["x"]), math.floor(box["y"])
            w = math.ceil(box["x"] + box["width"]) - x
            h = math.ceil(box["y"] + box["height"]) - y
            if w > 0 and h > 0:
                return _fit({"x": max(0, x), "y": max(0, y), "width": w, "height": h}, output.dpr)
        return None
    if full_page:
        metrics = await cdp.send("Page.getLayoutMetrics")
        content_height = math.ceil(metrics["cssContentSize"]["height"])
        height = max(output.height, content_height)
        return _fit({"x": 0, "y": 0, "width": output.width, "height": height}, output.dpr)
    return None


def _fit(clip: dict[str, float], dpr: float) -> dict[str, float]:
    """Cut a clip's height so the capture stays within MAX_PIXELS device pixels."""
    max_height = max(1, int(MAX_PIXELS / (clip["width"] * dpr * dpr)))
    return {**clip, "height": min(clip["height"], max_height, 16384)}


async def take_shot(
    page: Page,
    cdp: CDPSession,
    output: RenderSpec,
    fallback_quality: int,
    *,
    clip: dict[str, float] | None = None,
) -> Shot:
    """Capture `output`'s format (the viewport, or `clip`); `fallback_quality` is the
    encoder's quality when the spec has none."""
    format, width, height = output.format, output.width, output.height
    if format == "pdf":
        pdf_height = f"{clip['height']}px" if clip else f"{height}px"
        data = await page.pdf(width=f"{width}px", height=pdf_height, print_background=True)
        return Shot("pdf", data, width, int(clip["height"]) if clip else height)
    params: dict[str, Any] = {"format": format, "fromSurface": True}
    if format == "png":
        if PNG_REENCODE:
            # Cheap zlib in Chromium; encode_png does the real compression (caller side).
            params["optimizeForSpeed"] = True
    else:
        params["quality"] = output.quality if output.quality is not None else fallback_quality
    if clip is not None:
        params["clip"] = {**clip, "scale": 1}
        params["captureBeyondViewport"] = True
    result = await cdp.send("Page.captureScreenshot", params)
    return Shot(format, result["data"], width, height)


def finish(shot: Shot) -> RenderedImage:
    """In the caller's thread: decode CDP's base64 and (PNG) re-encode."""
    if shot.format == "pdf":
        assert isinstance(shot.data, bytes)
        return RenderedImage(shot.data, "pdf", shot.css_width, shot.css_height)
    data = base64.b64decode(shot.data)
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    if shot.format == "png" and PNG_REENCODE:
        data = encode_png(image)
    return RenderedImage(data, shot.format, width, height)

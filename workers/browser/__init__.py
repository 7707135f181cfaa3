"""The Chromium pool of the `browser` queue: URL screenshots and inline HTML. Plain Python.

The public API: the two engine entry points, `screenshot` (a `ScreenshotSpec`) and
`render_html` (a document and its output `RenderSpec`), which take the spec whole and
return a `workers.rasterise.RenderedImage` or raise `BrowserRenderError` (a
`RenderInputError`, so `workers.jobs` records it as the job's failure with its code);
and the pool itself, for tests and the bench.

The package, by concern:

- `process`: finding Chromium, the settings (`BrowserConfig`), launch arguments, the
  /proc readings of its memory;
- `pool`: `BrowserPool`, one Chromium per process on a private event-loop thread:
  acquire/release, retire and recycle, the memory watch, crashes retried once;
- `pages`: the pages jobs render in. A URL screenshot gets a fresh BrowserContext of its
  own (cookies, storage, cache, permissions die with it); inline HTML a fresh sandboxed
  frame in a shell page no job's code can reach (an opaque origin: no cookies or
  storage, the frame removed after the job). HTML jobs may not open documents of a real
  origin (iframes, navigations) and get no cookies either way. The HTTP cache is off
  whenever requests are intercepted;
- `jobs`: what each kind of job does on its page (navigation hop by hop for URLs);
- `capture`: the region, the capture, and the `RenderedImage` made of it;
- `guard`: the page address guard, every request through the guarded fetcher;
- `errors`: `BrowserRenderError` and how Playwright's errors are read.

Time: the navigation timeout bounds each navigation, the render timeout the whole job
(each attempt), both settings.
"""

from __future__ import annotations

from functools import partial

from workers.address_guard import BlockedAddress, check_url, policy_from_settings
from workers.browser.capture import finish
from workers.browser.errors import VALIDATION_FAILED, BrowserRenderError, guard_error
from workers.browser.jobs import html_job, url_job
from workers.browser.pool import BrowserPool, get_pool
from workers.browser.process import (
    BrowserConfig,
    config_from_settings,
    find_chromium,
    process_tree_rss_mb,
)
from workers.rasterise import RenderedImage
from workers.specs import RenderSpec, ScreenshotSpec

__all__ = [
    "BrowserConfig",
    "BrowserPool",
    "BrowserRenderError",
    "config_from_settings",
    "find_chromium",
    "get_pool",
    "process_tree_rss_mb",
    "render_html",
    "screenshot",
]

FORMATS = ("png", "jpeg", "webp", "pdf")
MAX_DIMENSION = 8192  # CSS pixels; the plans cap lower, this only keeps Chromium sane


def _check_output(output: RenderSpec) -> None:
    """What the spec does not guarantee itself: a format the browser captures (a
    template spec may say svg) and a size Chromium stays sane at."""
    if output.format not in FORMATS:
        raise BrowserRenderError(VALIDATION_FAILED, f"format must be one of {', '.join(FORMATS)}")
    for name, value in (("width", output.width), ("height", output.height)):
        if not isinstance(value, int) or not 1 <= value <= MAX_DIMENSION:
            raise BrowserRenderError(VALIDATION_FAILED, f"{name} must be 1–{MAX_DIMENSION}")


def _cookie_list(cookies: list[dict[str, str]] | dict[str, str] | None) -> list[dict[str, str]]:
    """Cookies for the target only: name and value, scoped by the pool to the target URL
    (a caller cannot plant a cookie for another site)."""
    if not cookies:
        return []
    items = (
        cookies.items() if isinstance(cookies, dict) else ((c["name"], c["value"]) for c in cookies)
    )
    out = []
    for name, value in items:
        if not name or any(c in f"{name}{value}" for c in ";\r\n\0"):
            raise BrowserRenderError(VALIDATION_FAILED, f"invalid cookie {name!r}")
        out.append({"name": str(name), "value": str(value)})
    return out


def screenshot(
    spec: ScreenshotSpec,
    *,
    headers: dict[str, str] | None = None,
    cookies: list[dict[str, str]] | dict[str, str] | None = None,
) -> RenderedImage:
    """Screenshot `spec.url` (http/https only) through the page address guard.

    `spec.width`×`spec.height` is the viewport in CSS pixels, the image is `spec.dpr`
    times that (or the `spec.selector` element's box, or the whole page with
    `spec.full_page`). `headers` go only to the target's own origin, `cookies` ({name:
    value}, or a list of {"name", "value"}) are scoped to the target URL; they are never
    logged. Raises BrowserRenderError: VALIDATION_FAILED, HOST_NOT_ALLOWED,
    FORBIDDEN_ADDRESS, UNRESOLVABLE, UPSTREAM_FAILED (`details["status"]` when the target
    answered 5xx), TOO_LARGE, RENDER_TIMEOUT, RENDER_FAILED.
    """
    _check_output(spec)
    config = config_from_settings()
    if not 0 <= spec.delay_ms <= config.render_timeout * 1000:
        raise BrowserRenderError(VALIDATION_FAILED, "delay_ms must fit in the render timeout")
    policy = policy_from_settings()
    try:
        check_url(spec.url, policy)  # refuse before a browser is involved at all
    except BlockedAddress as exc:
        raise guard_error(exc) from None
    pool = get_pool()
    job = partial(
        url_job,
        pool,
        spec=spec,
        headers=dict(headers or {}),
        cookies=_cookie_list(cookies),
        policy=policy,
        config=config,
    )
    return finish(pool.run(job, config))


def render_html(html: str, output: RenderSpec, *, transparent: bool = False) -> RenderedImage:
    """Render an inline HTML document at `output.width`×`output.height` CSS pixels (×
    `output.dpr`), in `output.format`.

    The document has no origin (no cookies or storage); whatever it loads goes through
    the page address guard. `transparent` keeps the alpha of a page without a background
    (PNG/WebP). Raises BrowserRenderError as `screenshot` does.
    """
    _check_output(output)
    config = config_from_settings()
    policy = policy_from_settings()
    pool = get_pool()
    job = partial(
        html_job,
        pool,
        html=html,
        output=output,
        transparent=transparent,
        policy=policy,
        config=config,
    )
    return finish(pool.run(job, config))

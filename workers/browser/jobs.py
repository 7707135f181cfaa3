"""The two kinds of browser job, as they run on the pool's loop: inline HTML and a URL.

`html_job` writes the document into its page's sandboxed frame and captures it once it
has loaded; `url_job` navigates its fresh context to the target, hop by hop through the
page guard (`navigate`), waits as the spec says and captures. Each takes the pool, the
browser handle and the job's deadline (what `BrowserPool.run` passes, bound with
`functools.partial`), the spec whole, and the address policy and settings read once by
the entry point. A crash of the page or the browser under the job raises `Crashed`
(retried once by the pool); anything else is a `BrowserRenderError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from workers.address_guard import BlockedAddress, GuardPolicy, check_url
from workers.browser.capture import Shot, clip_region, ms_left, set_metrics, take_shot
from workers.browser.errors import (
    RENDER_FAILED,
    RENDER_TIMEOUT,
    VALIDATION_FAILED,
    BrowserRenderError,
    Crashed,
    first_line,
    guard_error,
    is_crash,
)
from workers.browser.guard import PageGuard, origin_of
from workers.browser.pages import (
    close_context,
    html_context,
    reset_html_page,
    take_html_page,
    take_url_tab,
)
from workers.browser.process import BrowserConfig
from workers.fetch import UPSTREAM_FAILED
from workers.specs import RenderSpec, ScreenshotSpec

if TYPE_CHECKING:
    from workers.browser.pool import BrowserHandle, BrowserPool

T = TypeVar("T")

MAX_REDIRECTS = 10
MAX_RESPONSE_BYTES = 15_000_000  # one response a page loads
MAX_PAGE_BYTES = 60_000_000  # everything one job's pages load
# The encoder's quality for a lossy format whose spec carries none.
URL_FALLBACK_QUALITY = 80
HTML_FALLBACK_QUALITY = 90

_FONTS_READY = "document.fonts.ready.then(() => true)"
# Settles when the document has loaded (subresources included) and its fonts are ready.
_LOADED = """(document.readyState === "complete"
  ? Promise.resolve()
  : new Promise(resolve => addEventListener("load", resolve, {once: true}))
).then(() => document.fonts.ready).then(() => true)"""


def _page_guard(
    pool: BrowserPool, policy: GuardPolicy, deadline: float, config: BrowserConfig, **kw: Any
) -> PageGuard:
    return PageGuard(
        policy=policy,
        executor=pool.fetchers,
        deadline=deadline,
        fetch_timeout=config.navigation_timeout,
        max_response_bytes=MAX_RESPONSE_BYTES,
        max_total_bytes=MAX_PAGE_BYTES,
        **kw,
    )


async def html_job(
    pool: BrowserPool,
    handle: BrowserHandle,
    deadline: float,
    *,
    html: str,
    output: RenderSpec,
    transparent: bool,
    policy: GuardPolicy,
    config: BrowserConfig,
) -> Shot:
    page = await take_html_page(pool, handle)
    page.uses += 1
    _, router = await html_context(handle)
    guard = _page_guard(pool, policy, deadline, config, allow_cookies=False, allow_documents=False)
    router.attach(page.page, guard)

    async def steps() -> Shot:
        metrics = (output.width, output.height, output.dpr)
        if page.metrics != metrics:
            await set_metrics(page.cdp, *metrics)
            page.metrics = metrics
        if page.transparent != transparent:
            await page.cdp.send(
                "Emulation.setDefaultBackgroundColorOverride",
                {"color": {"r": 0, "g": 0, "b": 0, "a": 0}} if transparent else {},
            )
            page.transparent = transparent
        # Straight over CDP: Playwright's set_content costs a utility world and
        # lifecycle round trips per document (measured ~15 ms of a ~50 ms render).
        await page.cdp.send("Page.setDocumentContent", {"frameId": page.frame_id, "html": html})
        await page.cdp.send(
            "Runtime.evaluate",
            {
                "expression": _LOADED,
                "contextId": page.world_id,
                "awaitPromise": True,
                "returnByValue": True,
            },
        )
        return await take_shot(page.page, page.cdp, output, HTML_FALLBACK_QUALITY)

    ok = False
    try:
        shot = await _unless_crashed(page.page, steps())
        ok = True
        return shot
    except PlaywrightTimeoutError:
        raise BrowserRenderError(
            RENDER_TIMEOUT, "the HTML did not finish loading in time"
        ) from None
    except PlaywrightError as exc:
        if page.crashed or is_crash(exc, handle.browser):
            raise Crashed(first_line(exc)) from None
        raise BrowserRenderError(RENDER_FAILED, f"render failed: {first_line(exc)}") from None
    finally:
        router.detach(page.page)
        pool.spawn(reset_html_page(handle, page, ok))


async def url_job(
    pool: BrowserPool,
    handle: BrowserHandle,
    deadline: float,
    *,
    spec: ScreenshotSpec,
    headers: dict[str, str],
    cookies: list[dict[str, str]],
    policy: GuardPolicy,
    config: BrowserConfig,
) -> Shot:
    url = spec.url.strip()
    scheme = spec.scheme or None  # "" is no preference
    tab = await take_url_tab(pool, handle)
    context, router, page, cdp = tab.context, tab.router, tab.page, tab.cdp
    try:
        if scheme:
            await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        if cookies:
            await context.add_cookies([{**c, "url": url} for c in cookies])  # type: ignore[misc]
        guard = _page_guard(
            pool,
            policy,
            deadline,
            config,
            extra_headers=headers,
            target_origin=origin_of(url),
            fail_status=400 if spec.fail_on_status else None,
        )
        router.attach(page, guard)

        async def steps() -> Shot:
            handle.url_metrics = (spec.width, spec.height, spec.dpr)
            if tab.metrics != handle.url_metrics:
                await set_metrics(cdp, *handle.url_metrics)
            await navigate(page, guard, url, policy, deadline, config)
            if page.url.split(":", 1)[0].lower() not in ("http", "https"):
                raise BrowserRenderError(VALIDATION_FAILED, "the page left http(s)")
            if spec.wait_for:
                try:
                    await page.wait_for_selector(
                        spec.wait_for, state="attached", timeout=ms_left(deadline)
                    )
                except PlaywrightTimeoutError:
                    raise BrowserRenderError(
                        RENDER_TIMEOUT, "wait_for: the selector did not appear in time"
                    ) from None
            if spec.delay_ms:
                await asyncio.sleep(spec.delay_ms / 1000)
            await cdp.send(
                "Runtime.evaluate",
                {"expression": _FONTS_READY, "awaitPromise": True, "returnByValue": True},
            )
            target = None if spec.format == "pdf" else spec.selector  # a PDF is the whole page
            clip = await clip_region(page, cdp, spec, target, spec.full_page, deadline)
            return await take_shot(page, cdp, spec, URL_FALLBACK_QUALITY, clip=clip)

        return await _unless_crashed(page, steps())
    except PlaywrightTimeoutError:
        raise BrowserRenderError(RENDER_TIMEOUT, "the page did not finish in time") from None
    except PlaywrightError as exc:
        if is_crash(exc, handle.browser):
            raise Crashed(first_line(exc)) from None
        if "selector" in str(exc).lower():
            raise BrowserRenderError(
                VALIDATION_FAILED, f"invalid selector: {first_line(exc)}"
            ) from None
        raise BrowserRenderError(RENDER_FAILED, f"render failed: {first_line(exc)}") from None
    finally:
        # Off the job's path: a closing context does not hold the answer back.
        pool.spawn(close_context(context))


async def _unless_crashed(page: Page, steps: Awaitable[T]) -> T:
    """Run a job's `steps`, unless its page crashes first: a crashed renderer answers no
    more CDP calls, so waiting on one would only end at the render timeout."""
    crashed = asyncio.get_running_loop().create_future()

    def on_crash(_: Page) -> None:
        if not crashed.done():
            crashed.set_result(None)

    page.on("crash", on_crash)
    task = asyncio.ensure_future(steps)
    try:
        await asyncio.wait({task, crashed}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        raise Crashed("the page crashed (out of memory?)")
    finally:
        page.remove_listener("crash", on_crash)
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def navigate(
    page: Page,
    guard: PageGuard,
    url: str,
    policy: GuardPolicy,
    deadline: float,
    config: BrowserConfig,
) -> None:
    """Load `url` in `page`, following redirects hop by hop: the guard stops each hop and
    the page is navigated to the next one, so the document's URL is its real address and
    every hop is checked before it is requested."""
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_url(url, policy)
        except BlockedAddress as exc:
            raise guard_error(exc) from None
        guard.first_navigation = True
        guard.redirect_to = None
        guard.main_error = None
        timeout_ms = min(config.navigation_timeout * 1000, ms_left(deadline))
        try:
            await page.goto(url, wait_until="load", timeout=timeout_ms)
            return
        except PlaywrightTimeoutError:
            raise BrowserRenderError(
                RENDER_TIMEOUT,
                f"the page did not finish loading within {timeout_ms / 1000:g}s",
                details={"timeout_s": round(timeout_ms / 1000, 3)},
            ) from None
        except PlaywrightError as exc:
            if guard.redirect_to:
                url = guard.redirect_to
                continue
            if guard.main_error is not None:
                raise guard_error(guard.main_error) from None
            if "interrupted by another navigation" in str(exc):
                # The page sent itself elsewhere (a script redirect): wait for that one.
                await page.wait_for_load_state("load", timeout=ms_left(deadline))
                return
            raise
    raise BrowserRenderError(UPSTREAM_FAILED, f"too many redirects (over {MAX_REDIRECTS})")

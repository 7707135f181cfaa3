"""The pages jobs render in: their contexts, frames, and the ones kept ready ahead.

An inline HTML job gets a fresh sandboxed frame (`sandbox="allow-scripts"`) in a shell
page no job's code can reach: a new document and JS realm with an opaque origin, so no
cookies or storage exist for it. All HTML pages of a browser share one context; a page
is reset off the job's path (a new frame) and reused, up to `HTML_PAGE_USES` jobs, and
`HTML_READY_PAGES` are kept ready. A URL job gets a fresh BrowserContext of its own
(`UrlTab`, closed after the job); one is opened ahead, in the background, for the next.

Every context routes all its requests through a `Router` (workers/browser/guard.py).
The functions here run on the pool's loop and take the pool (to spawn background work)
and/or the browser handle whose pages they manage.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from workers.browser.capture import set_metrics
from workers.browser.guard import Router, close_quietly

if TYPE_CHECKING:
    from workers.browser.pool import BrowserHandle, BrowserPool

HTML_PAGE_USES = 200  # an HTML page is replaced after this many jobs
HTML_READY_PAGES = 2  # pages kept reset and ready for HTML jobs

# The page HTML jobs render in: one full-size frame, nothing else. Kiln's code runs in
# this document; the job's HTML never does (it lives in the sandboxed frame, cross-origin).
_SHELL = """<!doctype html><style>
html, body { margin: 0; overflow: hidden; background: transparent; }
iframe { position: fixed; inset: 0; width: 100vw; height: 100vh; border: 0; }
</style>"""
# A fresh frame for the next job, replacing the last one (its document, JS realm, timers
# and requests die with it). `sandbox="allow-scripts"`: scripts run, but in an opaque
# origin (no cookies, no storage, no reaching this shell), and no popups, modals, forms
# or top-level navigation.
_NEW_FRAME = """(() => {
  for (const old of document.querySelectorAll("iframe")) old.remove();
  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "allow-scripts");
  document.body.appendChild(frame);
  return frame;
})()"""


@dataclass(eq=False)
class HtmlPage:
    """A shell page that renders HTML jobs, one at a time, each in a fresh frame."""

    page: Page
    cdp: CDPSession
    frame_id: str = ""  # the sandboxed frame the next job writes into
    world_id: int = 0  # Kiln's isolated JS world in that frame
    metrics: tuple[int, int, float] | None = None
    transparent: bool = False
    uses: int = 0
    crashed: bool = False


@dataclass(eq=False)
class UrlTab:
    """A fresh context with one page, made ready ahead of the URL job that will use it
    (and be the only one to: it is closed after that job)."""

    context: BrowserContext
    router: Router
    page: Page
    cdp: CDPSession
    metrics: tuple[int, int, float] | None = None


async def _new_context(handle: BrowserHandle) -> BrowserContext:
    return await handle.browser.new_context(
        no_viewport=True,  # each page's size and dpr are set over CDP, per job
        accept_downloads=False,
        service_workers="block",
        user_agent=handle.user_agent,
    )


async def _route(context: BrowserContext) -> Router:
    """Send every request of `context` through a new router."""
    router = Router()
    await context.route("**/*", router.handle)
    context.on("page", router.on_page)
    return router


async def close_context(context: BrowserContext) -> None:
    with contextlib.suppress(Exception):  # the browser may have gone away with it
        await asyncio.wait_for(context.close(), 10)


# --- HTML pages ----------------------------------------------------------------------------


async def html_context(handle: BrowserHandle) -> tuple[BrowserContext, Router]:
    """The context all HTML pages of a browser share (opened once, on first use)."""
    if handle.html_setup is None:
        handle.html_setup = asyncio.ensure_future(_open_html_context(handle))
    return await asyncio.shield(handle.html_setup)


async def _open_html_context(handle: BrowserHandle) -> tuple[BrowserContext, Router]:
    context = await _new_context(handle)
    router = await _route(context)
    handle.html_context, handle.html_router = context, router
    return context, router


async def _new_html_page(handle: BrowserHandle) -> HtmlPage:
    context, router = await html_context(handle)
    handle.html_pages += 1
    handle.html_creating += 1
    try:
        try:
            page = await context.new_page()
        finally:
            handle.html_creating -= 1
        router.owned.add(page)
        html_page = HtmlPage(page=page, cdp=await context.new_cdp_session(page))
        page.on("crash", lambda _: setattr(html_page, "crashed", True))
        tree = await html_page.cdp.send("Page.getFrameTree")
        shell = {"frameId": tree["frameTree"]["frame"]["id"], "html": _SHELL}
        await html_page.cdp.send("Page.setDocumentContent", shell)
        await _new_frame(html_page)
    except BaseException:
        handle.html_pages -= 1
        raise
    return html_page


async def _new_frame(page: HtmlPage) -> None:
    """Give `page` a fresh sandboxed frame (and a JS world of Kiln's in it) for its next
    job. No navigation: measured ~15 ms in the renderer, where navigating the page to a
    fresh about:blank cost ~30 ms of browser work that slowed the next job
    (docs/PERFORMANCE.md)."""
    created = await page.cdp.send(
        "Runtime.evaluate", {"expression": _NEW_FRAME, "objectGroup": "kiln-frame"}
    )
    node = await page.cdp.send("DOM.describeNode", {"objectId": created["result"]["objectId"]})
    await page.cdp.send("Runtime.releaseObjectGroup", {"objectGroup": "kiln-frame"})
    page.frame_id = node["node"]["frameId"]
    world = await page.cdp.send(
        "Page.createIsolatedWorld", {"frameId": page.frame_id, "worldName": "kiln"}
    )
    page.world_id = world["executionContextId"]


async def take_html_page(pool: BrowserPool, handle: BrowserHandle) -> HtmlPage:
    """A ready page for this HTML job (a new one when none is ready)."""
    while handle.html_ready:
        candidate = handle.html_ready.pop(0)
        if not candidate.page.is_closed() and not candidate.crashed:
            break
        handle.html_pages -= 1
    else:
        candidate = await _new_html_page(handle)
    if not handle.html_ready and handle.html_pages < HTML_READY_PAGES:
        # Warm a second page meanwhile, so the next job does not wait for this one's
        # new frame (sequential jobs alternate between the two).
        pool.spawn(_make_ready_page(handle))
    return candidate


async def _make_ready_page(handle: BrowserHandle) -> None:
    try:
        page = await _new_html_page(handle)
    except Exception:
        return
    handle.html_ready.append(page)


async def reset_html_page(handle: BrowserHandle, page: HtmlPage, ok: bool) -> None:
    """After a job, off its path: a fresh frame for the next one, or the page closed."""
    keep = (
        ok
        and handle.usable
        and not page.crashed
        and page.uses < HTML_PAGE_USES
        and len(handle.html_ready) < HTML_READY_PAGES
    )
    if keep:
        try:
            await _new_frame(page)
        except (PlaywrightError, KeyError):
            keep = False
    context, router = handle.html_context, handle.html_router
    if context is not None and router is not None and not handle.html_creating:
        # A page nobody opened on purpose (a popup without opener) goes now.
        await router.sweep(list(context.pages))
    if keep and handle.usable:
        handle.html_ready.append(page)
        return
    handle.html_pages -= 1
    if handle.html_router is not None:
        handle.html_router.owned.discard(page.page)
    await close_quietly(page.page)


# --- URL tabs ------------------------------------------------------------------------------


async def _new_url_tab(pool: BrowserPool, handle: BrowserHandle) -> UrlTab:
    context = await _new_context(handle)
    try:
        router = await _route(context)
        page = await context.new_page()
        router.owned.add(page)
        tab = UrlTab(context, router, page, await context.new_cdp_session(page))
        # The first metrics override of a page costs ~50 ms (measured): done here,
        # ahead, with the last job's size, so a job of the same size skips it.
        await set_metrics(tab.cdp, *handle.url_metrics)
        tab.metrics = handle.url_metrics
        return tab
    except BaseException:
        pool.spawn(close_context(context))
        raise


async def take_url_tab(pool: BrowserPool, handle: BrowserHandle) -> UrlTab:
    """A fresh context for this URL job. One is kept ready per browser: opening a
    context and its page is ~150 ms of the job otherwise (docs/PERFORMANCE.md)."""
    spare, handle.url_spare = handle.url_spare, None
    tab = None
    if spare is not None:
        with contextlib.suppress(Exception):  # a spare that failed: open one now
            tab = await spare
    if tab is None:
        tab = await _new_url_tab(pool, handle)
    if handle.usable:
        spare = asyncio.ensure_future(_new_url_tab(pool, handle))
        # Its browser may close before a job takes it: don't warn about its error then.
        spare.add_done_callback(lambda f: f.cancelled() or f.exception())
        handle.url_spare = spare
    return tab

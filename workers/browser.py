"""The Chromium pool of the `browser` queue: URL screenshots and inline HTML. Plain Python.

This module owns the browser's life in a worker process and the two engine entry points,
`screenshot_url` and `render_html`, which return a `workers.rasterise.RenderedImage` or
raise `BrowserRenderError` (a `RenderInputError`, so `workers.jobs` records it as the
job's failure with its code). The page address guard lives in `workers.browser_guard`.

The pool (one per process, created on first use, after any fork):

- one Chromium, launched lazily with Playwright, driven through Playwright's async API on
  a private event-loop thread behind this blocking interface. That gives the page guard
  concurrent fetches (a page's subresources are fetched in parallel by a thread pool,
  not one at a time on Playwright's dispatcher), lets any thread call in (the embedded
  default runs tasks in gunicorn threads), and leaves Celery's soft time limit landing in
  the waiting caller rather than inside Playwright's own machinery;
- isolation: a URL screenshot gets a fresh BrowserContext of its own (cookies, storage,
  cache, permissions die with it; one is opened ahead, in the background, for the next
  job). An inline HTML render gets a fresh sandboxed frame (`sandbox="allow-scripts"`)
  in a shell page that no job's code can reach: a new document and JS realm with an
  opaque origin, so no cookies or storage exist for it, and the frame is removed after
  the job (its timers and requests with it). HTML jobs may not open documents of a real
  origin (iframes, navigations) and get no cookies either way. The HTTP cache is off
  whenever requests are intercepted;
- recycling: after `KILN_BROWSER_MAX_RENDERS` renders, or when the resident memory of
  Chromium's process tree (anonymous + shared, read from /proc) passes
  `KILN_BROWSER_MAX_RSS_MB`, new jobs go to a new browser and the old one closes when its
  last job is done. While jobs run, a tree over the limit loses its biggest renderer at
  once (a page allocating without end). A browser that crashed or was killed is
  relaunched on the next job; a job it crashed under is retried once on a new browser,
  then fails with RENDER_FAILED;
- time: the navigation timeout bounds each navigation, the render timeout the whole job
  (each attempt), both settings.

PNG: Chromium's own PNG encoder is the slow part of a screenshot. Captures are taken with
CDP `Page.captureScreenshot` (`optimizeForSpeed`: cheap zlib, ~2× larger) and re-encoded
by `workers.rasterise.encode_png` in the calling thread (docs/PERFORMANCE.md, "Browser
pool", has the measurements behind this and the other choices).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import concurrent.futures
import contextlib
import io
import logging
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from PIL import Image
from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from workers.address_guard import BlockedAddress, GuardPolicy, check_url, policy_from_settings
from workers.browser_guard import PageGuard, Router, close_quietly, origin_of
from workers.fetch import UPSTREAM_FAILED, FetchError
from workers.rasterise import RenderedImage, RenderInputError, encode_png

logger = logging.getLogger(__name__)

T = TypeVar("T")

FORMATS = ("png", "jpeg", "webp", "pdf")
SCHEMES = ("light", "dark", "no-preference")
RENDER_FAILED = "RENDER_FAILED"
RENDER_TIMEOUT = "RENDER_TIMEOUT"
VALIDATION_FAILED = "VALIDATION_FAILED"

MAX_DIMENSION = 8192  # CSS pixels; the plans cap lower, this only keeps Chromium sane
MAX_PIXELS = 40_000_000  # device pixels of one capture (full_page is cut to fit)
MAX_REDIRECTS = 10
SELECTOR_WAIT_S = 5.0  # `selector` missing after this long: the full viewport instead
MAX_RESPONSE_BYTES = 15_000_000  # one response a page loads
MAX_PAGE_BYTES = 60_000_000  # everything one job's pages load
FETCH_THREADS = 16  # concurrent guarded fetches per process, all jobs together
HTML_PAGE_USES = 200  # an HTML page is replaced after this many jobs
HTML_READY_PAGES = 2  # pages kept reset and ready for HTML jobs
RSS_CHECK_EVERY = 5  # renders between two reads of the browser's RSS
MEMORY_WATCH_S = 0.25  # while jobs run, how often a runaway renderer is looked for
LAUNCH_TIMEOUT_S = 30.0
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Capture PNG fast and re-encode in Python, or let Chromium encode it (the baseline); the
# bench measures both (bench/browser.py).
PNG_REENCODE = True

# Chromium's own network stack is a backstop, never a path: nothing resolves, and what
# it would send goes to a proxy that does not exist (loopback included, `<-loopback>`).
# A request that escaped interception (a redirect Chromium followed itself, a WebSocket
# opened by a worker, a preconnect) fails here. WebRTC may only use that proxy, so no
# UDP leaves either. V8's heap is capped so a page that allocates without end crashes
# its renderer instead of the machine.
LAUNCH_ARGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://kiln-no-direct-network.invalid:9",
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--js-flags=--max-old-space-size=512",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
)
# Playwright turns Chromium's popup blocker off by default; pages must not open popups.
IGNORED_DEFAULT_ARGS = ("--disable-popup-blocking",)

_FONTS_READY = "document.fonts.ready.then(() => true)"
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
# Settles when the document has loaded (subresources included) and its fonts are ready.
_LOADED = """(document.readyState === "complete"
  ? Promise.resolve()
  : new Promise(resolve => addEventListener("load", resolve, {once: true}))
).then(() => document.fonts.ready).then(() => true)"""
# Document coordinates of an element, for a clip that may lie outside the viewport.
_ELEMENT_BOX = """el => {
  const r = el.getBoundingClientRect();
  return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width,
          height: r.height};
}"""


class BrowserRenderError(RenderInputError):
    """A browser render that failed; `code` is a SPEC §3 or address-guard code (the job
    machinery maps FORBIDDEN_ADDRESS/UNRESOLVABLE to public codes), `details` says more
    (the target's HTTP `status` for UPSTREAM_FAILED). Never retried by the job: the pool
    has already retried what was worth retrying."""

    def __init__(self, code: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(code, message)
        self.details = details or {}


class _Crashed(Exception):
    """The browser or the job's renderer died under the job: worth one more try."""


# --- settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class BrowserConfig:
    """The pool's settings, read per call so tests can override them."""

    chromium_path: str | None = None
    sandbox: bool = False
    max_renders: int = 1000
    max_rss_mb: int = 1024
    navigation_timeout: float = 15.0
    render_timeout: float = 30.0


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def config_from_settings() -> BrowserConfig:
    """KILN_CHROMIUM_PATH, KILN_BROWSER_SANDBOX, KILN_BROWSER_MAX_RENDERS,
    KILN_BROWSER_MAX_RSS_MB, KILN_BROWSER_NAVIGATION_TIMEOUT, KILN_BROWSER_RENDER_TIMEOUT
    (README, "Settings"). Without Django settings: the defaults."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    defaults = BrowserConfig(sandbox=os.geteuid() != 0)
    try:
        get = partial(getattr, settings)
        return BrowserConfig(
            chromium_path=get("KILN_CHROMIUM_PATH", "") or find_chromium(),
            sandbox=bool(get("KILN_BROWSER_SANDBOX", defaults.sandbox)),
            max_renders=int(get("KILN_BROWSER_MAX_RENDERS", defaults.max_renders)),
            max_rss_mb=int(get("KILN_BROWSER_MAX_RSS_MB", defaults.max_rss_mb)),
            navigation_timeout=float(
                get("KILN_BROWSER_NAVIGATION_TIMEOUT", defaults.navigation_timeout)
            ),
            render_timeout=float(get("KILN_BROWSER_RENDER_TIMEOUT", defaults.render_timeout)),
        )
    except ImproperlyConfigured:
        return BrowserConfig(chromium_path=find_chromium(), sandbox=defaults.sandbox)


# --- memory ---------------------------------------------------------------------------


def _process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, ()))
    return tree


def _resident_mb(pid: int) -> float:
    """Resident memory of one process that is its own: anonymous + shared memory (RssAnon
    + RssShmem), leaving out file-backed pages. Chromium's ~10 processes all map the same
    200 MB binary; summing plain RSS counted it ten times (measured: 1160 MB of "RSS" for
    360 MB of memory), which would drown a renderer that really grows."""
    total_kb = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith((b"RssAnon:", b"RssShmem:")):
                    total_kb += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return total_kb / 1024


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants in MB (0 when it is gone), as
    `_resident_mb` counts it."""
    return sum(_resident_mb(p) for p in _process_tree(pid))


def _runaway_renderer(pid: int, limit_mb: float) -> int | None:
    """When the browser's tree is over `limit_mb`: its biggest renderer (the page that
    allocates without end), or the browser itself when no renderer stands out."""
    sizes = {p: _resident_mb(p) for p in _process_tree(pid)}
    if sum(sizes.values()) <= limit_mb:
        return None
    renderers = []
    for p, size in sizes.items():
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if b"--type=renderer" in f.read():
                    renderers.append((size, p))
        except OSError:
            continue
    return max(renderers)[1] if renderers else pid


# --- one launched browser ---------------------------------------------------------------


@dataclass(eq=False)
class _HtmlPage:
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
class _UrlTab:
    """A fresh context with one page, made ready ahead of the URL job that will use it
    (and be the only one to: it is closed after that job)."""

    context: BrowserContext
    router: Router
    page: Page
    cdp: CDPSession
    metrics: tuple[int, int, float] | None = None


@dataclass(eq=False)
class _Browser:
    browser: Browser
    pid: int
    user_agent: str
    renders: int = 0
    active: int = 0
    retired: bool = False
    dead: bool = False
    rss_checked_at: int = 0
    html_context: BrowserContext | None = None
    html_router: Router | None = None
    html_setup: asyncio.Future[tuple[BrowserContext, Router]] | None = None
    html_ready: list[_HtmlPage] = field(default_factory=list)
    html_pages: int = 0  # open HTML pages, ready or in use or resetting
    html_creating: int = 0  # pages being opened (not yet known to the router)
    url_spare: asyncio.Future[_UrlTab] | None = None  # the next URL job's fresh context
    url_metrics: tuple[int, int, float] = (1440, 788, 2)  # the last URL job's, for spares

    @property
    def usable(self) -> bool:
        return not self.dead and not self.retired and self.browser.is_connected()


@dataclass(frozen=True)
class _Shot:
    """What the loop thread hands back; the caller's thread decodes and encodes it."""

    format: str
    data: bytes | str  # bytes (pdf) or base64 from CDP
    css_width: int
    css_height: int


# --- the pool ----------------------------------------------------------------------------


class BrowserPool:
    """One Chromium per process and the event loop that drives it. Use `get_pool()`."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.closed = False
        self.launches = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kiln-browser-loop", daemon=True
        )
        self._thread.start()
        self._fetchers = concurrent.futures.ThreadPoolExecutor(
            max_workers=FETCH_THREADS, thread_name_prefix="kiln-page-fetch"
        )
        self._playwright: Playwright | None = None
        self._current: _Browser | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._live: set[_Browser] = set()  # launched and not yet closed
        self._watcher: asyncio.Task[None] | None = None
        self._memory_limit_mb: float = BrowserConfig().max_rss_mb

    # -- calling in from any thread --

    def call(self, coro: Awaitable[T], timeout: float) -> T:
        """Run `coro` on the pool's loop and wait for it, at most `timeout` seconds."""
        if self.closed:
            raise BrowserRenderError(RENDER_FAILED, "the browser pool is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BrowserRenderError(
                RENDER_TIMEOUT, f"the render did not finish within {timeout:g}s"
            ) from None
        except BaseException:
            # Celery's SoftTimeLimitExceeded lands here: stop the job on the loop too.
            future.cancel()
            raise

    def run(self, job: Callable[[_Browser, float], Awaitable[T]], config: BrowserConfig) -> T:
        # Room for two attempts and a relaunch; each attempt has its own deadline inside.
        return self.call(self._run(job, config), 2 * config.render_timeout + 2 * LAUNCH_TIMEOUT_S)

    def browser_pid(self) -> int | None:
        """The pid of the current Chromium (for tests and the bench), or None."""
        current = self._current
        return current.pid if current is not None and current.usable else None

    def rss_mb(self) -> float:
        """RSS of this process and everything it started (Playwright's driver, Chromium)."""
        return process_tree_rss_mb(os.getpid())

    def close(self) -> None:
        if self.closed:
            return
        if self.pid == os.getpid() and self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(15)
            except Exception:  # shutting down: nothing useful to do about it
                logger.warning("the browser pool did not shut down cleanly", exc_info=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self.closed = True
        self._fetchers.shutdown(wait=False, cancel_futures=True)

    # -- on the loop --

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> None:
        self._current = None
        for handle in list(self._live):
            await self._close_browser(handle)
        if self._playwright is not None:
            with contextlib.suppress(Exception):  # shutting down; the driver may be gone
                await self._playwright.stop()
            self._playwright = None

    async def _run(
        self, job: Callable[[_Browser, float], Awaitable[T]], config: BrowserConfig
    ) -> T:
        for attempt in (1, 2):
            handle = await self._acquire(config)
            ok = False
            try:
                deadline = time.monotonic() + config.render_timeout
                result = await asyncio.wait_for(job(handle, deadline), config.render_timeout)
                ok = True
                return result
            except TimeoutError:
                raise BrowserRenderError(
                    RENDER_TIMEOUT,
                    f"the render did not finish within {config.render_timeout:g}s",
                    details={"timeout_s": config.render_timeout},
                ) from None
            except (_Crashed, PlaywrightError) as exc:
                if isinstance(exc, PlaywrightError) and not _is_crash(exc, handle):
                    raise BrowserRenderError(
                        RENDER_FAILED, f"render failed: {_first_line(exc)}"
                    ) from None
                self._discard(handle)
                if attempt == 2:
                    raise BrowserRenderError(
                        RENDER_FAILED, f"the browser crashed twice ({_first_line(exc)})"
                    ) from None
                logger.warning("the browser crashed under a render (%s); retrying", exc)
            finally:
                self._release(handle, ok)
        raise AssertionError("unreachable")

    async def _acquire(self, config: BrowserConfig) -> _Browser:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            current = self._current
            if current is not None and not current.usable:
                self._discard(current)
                current = None
            if current is not None and current.renders >= config.max_renders:
                logger.info("recycling the browser after %d renders", current.renders)
                self._retire(current)
                current = None
            if current is not None and current.renders >= current.rss_checked_at + RSS_CHECK_EVERY:
                current.rss_checked_at = current.renders
                rss = await asyncio.get_running_loop().run_in_executor(
                    None, process_tree_rss_mb, current.pid
                )
                if rss > config.max_rss_mb:
                    logger.info(
                        "recycling the browser at %.0f MB RSS (limit %d)", rss, config.max_rss_mb
                    )
                    self._retire(current)
                    current = None
            if current is None:
                current = await self._launch(config)
                self._current = current
            current.active += 1
            self._memory_limit_mb = config.max_rss_mb
            if self._watcher is None or self._watcher.done():
                self._watcher = asyncio.ensure_future(self._watch_memory())
            return current

    async def _watch_memory(self) -> None:
        """While jobs run: a browser over its memory limit loses its biggest renderer at
        once (the job on it fails as a crash: retried once, then RENDER_FAILED), instead
        of a page growing until the render timeout or the kernel's OOM killer. Between
        jobs, `_acquire` recycles a browser that stays over the limit."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(MEMORY_WATCH_S)
            busy = [handle for handle in self._live if handle.active and not handle.dead]
            if not busy:
                return
            for handle in busy:
                victim = await loop.run_in_executor(
                    None, _runaway_renderer, handle.pid, self._memory_limit_mb
                )
                if victim is not None:
                    logger.warning(
                        "browser over %d MB: killing process %d", self._memory_limit_mb, victim
                    )
                    with contextlib.suppress(OSError):
                        os.kill(victim, signal.SIGKILL)

    def _release(self, handle: _Browser, ok: bool) -> None:
        handle.active -= 1
        if ok:
            handle.renders += 1
        if (handle.retired or handle.dead) and handle.active == 0:
            self._spawn(self._close_browser(handle))

    def _retire(self, handle: _Browser) -> None:
        handle.retired = True
        if self._current is handle:
            self._current = None
        if handle.active == 0:
            self._spawn(self._close_browser(handle))

    def _discard(self, handle: _Browser) -> None:
        handle.dead = True
        self._retire(handle)

    async def _close_browser(self, handle: _Browser) -> None:
        self._live.discard(handle)
        if not handle.browser.is_connected():
            return  # gone already (crashed, killed); Playwright's driver reaped it
        try:
            await asyncio.wait_for(handle.browser.close(), 10)
        except Exception:
            # Hung: make sure it is gone. It was connected a moment ago, so the pid is
            # still its own and not some reused number.
            with contextlib.suppress(OSError):
                os.kill(handle.pid, signal.SIGKILL)

    async def _start_playwright(self) -> Playwright:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        return self._playwright

    async def _launch(self, config: BrowserConfig) -> _Browser:
        if not config.chromium_path:
            raise BrowserRenderError(
                RENDER_FAILED, "no Chromium found: install `chromium` or set KILN_CHROMIUM_PATH"
            )
        started = time.monotonic()
        for attempt in (1, 2):
            playwright = await self._start_playwright()
            try:
                browser = await playwright.chromium.launch(
                    executable_path=config.chromium_path,
                    headless=True,
                    args=list(LAUNCH_ARGS),
                    ignore_default_args=list(IGNORED_DEFAULT_ARGS),
                    chromium_sandbox=config.sandbox,
                    timeout=LAUNCH_TIMEOUT_S * 1000,
                )
                break
            except PlaywrightError as exc:
                # Playwright's driver may be what died: start a new one and try again.
                with contextlib.suppress(Exception):
                    await playwright.stop()
                self._playwright = None
                if attempt == 2:
                    raise BrowserRenderError(
                        RENDER_FAILED, f"could not launch Chromium: {_first_line(exc)}"
                    ) from None
        session = await browser.new_browser_cdp_session()
        info = await session.send("SystemInfo.getProcessInfo")
        await session.detach()
        pid = next(p["id"] for p in info["processInfo"] if p["type"] == "browser")
        major = browser.version.split(".", 1)[0]
        # Headless Chromium says "HeadlessChrome" in its user agent, which many sites
        # answer with a block page; present as the Chrome it is.
        user_agent = (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36"
        )
        handle = _Browser(browser=browser, pid=pid, user_agent=user_agent)
        browser.on("disconnected", lambda _: setattr(handle, "dead", True))
        self._live.add(handle)
        self.launches += 1
        logger.info(
            "launched Chromium %s (pid %d) in %d ms",
            browser.version,
            pid,
            (time.monotonic() - started) * 1000,
        )
        return handle

    # -- HTML pages --

    async def _html_context(self, handle: _Browser) -> tuple[BrowserContext, Router]:
        """The context all HTML pages of a browser share (opened once, on first use)."""
        if handle.html_setup is None:
            handle.html_setup = asyncio.ensure_future(self._open_html_context(handle))
        return await asyncio.shield(handle.html_setup)

    async def _open_html_context(self, handle: _Browser) -> tuple[BrowserContext, Router]:
        context = await handle.browser.new_context(
            no_viewport=True,  # each page's size is set over CDP, per job
            accept_downloads=False,
            service_workers="block",
            user_agent=handle.user_agent,
        )
        router = Router()
        await context.route("**/*", router.handle)
        context.on("page", router.on_page)
        handle.html_context, handle.html_router = context, router
        return context, router

    async def _new_html_page(self, handle: _Browser) -> _HtmlPage:
        context, router = await self._html_context(handle)
        handle.html_pages += 1
        handle.html_creating += 1
        try:
            try:
                page = await context.new_page()
            finally:
                handle.html_creating -= 1
            router.owned.add(page)
            html_page = _HtmlPage(page=page, cdp=await context.new_cdp_session(page))
            page.on("crash", lambda _: setattr(html_page, "crashed", True))
            tree = await html_page.cdp.send("Page.getFrameTree")
            shell = {"frameId": tree["frameTree"]["frame"]["id"], "html": _SHELL}
            await html_page.cdp.send("Page.setDocumentContent", shell)
            await self._new_frame(html_page)
        except BaseException:
            handle.html_pages -= 1
            raise
        return html_page

    async def _new_frame(self, page: _HtmlPage) -> None:
        """Give `page` a fresh sandboxed frame (and a JS world of Kiln's in it) for its
        next job. No navigation: measured ~15 ms in the renderer, where navigating the
        page to a fresh about:blank cost ~30 ms of browser work that slowed the next job
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

    async def _take_html_page(self, handle: _Browser) -> _HtmlPage:
        while handle.html_ready:
            candidate = handle.html_ready.pop(0)
            if not candidate.page.is_closed() and not candidate.crashed:
                break
            handle.html_pages -= 1
        else:
            candidate = await self._new_html_page(handle)
        if not handle.html_ready and handle.html_pages < HTML_READY_PAGES:
            # Warm a second page meanwhile, so the next job does not wait for this one's
            # new frame (sequential jobs alternate between the two).
            self._spawn(self._make_ready_page(handle))
        return candidate

    async def _make_ready_page(self, handle: _Browser) -> None:
        try:
            page = await self._new_html_page(handle)
        except Exception:
            return
        handle.html_ready.append(page)

    async def _reset_html_page(self, handle: _Browser, page: _HtmlPage, ok: bool) -> None:
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
                await self._new_frame(page)
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

    # -- jobs --

    def _guard(self, policy: GuardPolicy, deadline: float, config: BrowserConfig, **kw: Any):
        return PageGuard(
            policy=policy,
            executor=self._fetchers,
            deadline=deadline,
            fetch_timeout=config.navigation_timeout,
            max_response_bytes=MAX_RESPONSE_BYTES,
            max_total_bytes=MAX_PAGE_BYTES,
            **kw,
        )

    async def _new_url_tab(self, handle: _Browser) -> _UrlTab:
        context = await handle.browser.new_context(
            no_viewport=True,  # size and dpr are set over CDP, as for HTML pages
            accept_downloads=False,
            service_workers="block",
            user_agent=handle.user_agent,
        )
        try:
            router = Router()
            await context.route("**/*", router.handle)
            context.on("page", router.on_page)
            page = await context.new_page()
            router.owned.add(page)
            tab = _UrlTab(context, router, page, await context.new_cdp_session(page))
            # The first metrics override of a page costs ~50 ms (measured): done here,
            # ahead, with the last job's size, so a job of the same size skips it.
            await _set_metrics(tab.cdp, *handle.url_metrics)
            tab.metrics = handle.url_metrics
            return tab
        except BaseException:
            self._spawn(_close_context(context))
            raise

    async def _take_url_tab(self, handle: _Browser) -> _UrlTab:
        """A fresh context for this URL job. One is kept ready per browser: opening a
        context and its page is ~150 ms of the job otherwise (docs/PERFORMANCE.md)."""
        spare, handle.url_spare = handle.url_spare, None
        tab = None
        if spare is not None:
            with contextlib.suppress(Exception):  # a spare that failed: open one now
                tab = await spare
        if tab is None:
            tab = await self._new_url_tab(handle)
        if handle.usable:
            spare = asyncio.ensure_future(self._new_url_tab(handle))
            # Its browser may close before a job takes it: don't warn about its error then.
            spare.add_done_callback(lambda f: f.cancelled() or f.exception())
            handle.url_spare = spare
        return tab

    async def html_job(
        self,
        handle: _Browser,
        deadline: float,
        *,
        html: str,
        width: int,
        height: int,
        dpr: float,
        format: str,
        quality: int,
        transparent: bool,
        policy: GuardPolicy,
        config: BrowserConfig,
    ) -> _Shot:
        page = await self._take_html_page(handle)
        page.uses += 1
        _, router = await self._html_context(handle)
        guard = self._guard(policy, deadline, config, allow_cookies=False, allow_documents=False)
        router.attach(page.page, guard)

        async def steps() -> _Shot:
            metrics = (width, height, dpr)
            if page.metrics != metrics:
                await _set_metrics(page.cdp, width, height, dpr)
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
            return await _capture(page.page, page.cdp, format, quality, width, height)

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
            if page.crashed or _is_crash(exc, handle):
                raise _Crashed(_first_line(exc)) from None
            raise BrowserRenderError(RENDER_FAILED, f"render failed: {_first_line(exc)}") from None
        finally:
            router.detach(page.page)
            self._spawn(self._reset_html_page(handle, page, ok))

    async def url_job(
        self,
        handle: _Browser,
        deadline: float,
        *,
        url: str,
        width: int,
        height: int,
        dpr: float,
        format: str,
        quality: int,
        selector: str | None,
        full_page: bool,
        wait_for: str | None,
        delay_ms: int,
        scheme: str | None,
        headers: dict[str, str],
        cookies: list[dict[str, str]],
        policy: GuardPolicy,
        config: BrowserConfig,
    ) -> _Shot:
        tab = await self._take_url_tab(handle)
        context, router, page, cdp = tab.context, tab.router, tab.page, tab.cdp
        try:
            if scheme:
                await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            if cookies:
                await context.add_cookies([{**c, "url": url} for c in cookies])  # type: ignore[misc]
            guard = self._guard(
                policy,
                deadline,
                config,
                extra_headers=headers,
                target_origin=origin_of(url),
            )
            router.attach(page, guard)

            async def steps() -> _Shot:
                handle.url_metrics = (width, height, dpr)
                if tab.metrics != handle.url_metrics:
                    await _set_metrics(cdp, width, height, dpr)
                await _navigate(page, guard, url, policy, deadline, config)
                if page.url.split(":", 1)[0].lower() not in ("http", "https"):
                    raise BrowserRenderError(VALIDATION_FAILED, "the page left http(s)")
                if wait_for:
                    try:
                        await page.wait_for_selector(
                            wait_for, state="attached", timeout=_ms_left(deadline)
                        )
                    except PlaywrightTimeoutError:
                        raise BrowserRenderError(
                            RENDER_TIMEOUT, "wait_for: the selector did not appear in time"
                        ) from None
                if delay_ms:
                    await asyncio.sleep(delay_ms / 1000)
                await cdp.send(
                    "Runtime.evaluate",
                    {"expression": _FONTS_READY, "awaitPromise": True, "returnByValue": True},
                )
                target = None if format == "pdf" else selector  # a PDF is the whole page
                clip = await _clip(page, cdp, target, full_page, width, height, dpr, deadline)
                return await _capture(page, cdp, format, quality, width, height, clip=clip)

            return await _unless_crashed(page, steps())
        except PlaywrightTimeoutError:
            raise BrowserRenderError(RENDER_TIMEOUT, "the page did not finish in time") from None
        except PlaywrightError as exc:
            if _is_crash(exc, handle):
                raise _Crashed(_first_line(exc)) from None
            if "selector" in str(exc).lower():
                raise BrowserRenderError(
                    VALIDATION_FAILED, f"invalid selector: {_first_line(exc)}"
                ) from None
            raise BrowserRenderError(RENDER_FAILED, f"render failed: {_first_line(exc)}") from None
        finally:
            # Off the job's path: a closing context does not hold the answer back.
            self._spawn(_close_context(context))


async def _set_metrics(cdp: CDPSession, width: int, height: int, dpr: float) -> None:
    """Viewport and device scale factor. Set on the session that captures: Chromium
    scales a session's screenshots by that session's own scale factor."""
    await cdp.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": dpr, "mobile": False},
    )


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
        raise _Crashed("the page crashed (out of memory?)")
    finally:
        page.remove_listener("crash", on_crash)
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _close_context(context: BrowserContext) -> None:
    with contextlib.suppress(Exception):  # the browser may have gone away with it
        await asyncio.wait_for(context.close(), 10)


def _is_crash(exc: PlaywrightError, handle: _Browser) -> bool:
    """Did the browser or a renderer die under this error (worth one more try)?"""
    return not handle.browser.is_connected() or "crash" in str(exc).lower()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ms_left(deadline: float) -> float:
    return max(1.0, (deadline - time.monotonic()) * 1000)


def _guard_error(exc: Exception) -> BrowserRenderError:
    """The guard's or the fetcher's refusal of the job's own navigation, as a job error."""
    if isinstance(exc, BlockedAddress):
        return BrowserRenderError(exc.code, exc.message, details={"host": exc.host})
    if isinstance(exc, FetchError):
        details = {"status": exc.status} if exc.status is not None else {}
        return BrowserRenderError(exc.code, exc.message, details=details)
    return BrowserRenderError(VALIDATION_FAILED, str(exc))


async def _navigate(
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
            raise _guard_error(exc) from None
        guard.first_navigation = True
        guard.redirect_to = None
        guard.main_error = None
        timeout_ms = min(config.navigation_timeout * 1000, _ms_left(deadline))
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
                raise _guard_error(guard.main_error) from None
            if "interrupted by another navigation" in str(exc):
                # The page sent itself elsewhere (a script redirect): wait for that one.
                await page.wait_for_load_state("load", timeout=_ms_left(deadline))
                return
            raise
    raise BrowserRenderError(UPSTREAM_FAILED, f"too many redirects (over {MAX_REDIRECTS})")


async def _clip(
    page: Page,
    cdp: CDPSession,
    selector: str | None,
    full_page: bool,
    width: int,
    height: int,
    dpr: float,
    deadline: float,
) -> dict[str, float] | None:
    """The region to capture in document coordinates, or None for the viewport."""
    if selector:
        try:
            element = await page.wait_for_selector(
                selector, state="visible", timeout=min(SELECTOR_WAIT_S * 1000, _ms_left(deadline))
            )
        except PlaywrightTimeoutError:
            element = None  # not there in time: the spec says full viewport
        if element is not None:
            box = await element.evaluate(_ELEMENT_BOX)
            x, y = math.floor(box["x"]), math.floor(box["y"])
            w = math.ceil(box["x"] + box["width"]) - x
            h = math.ceil(box["y"] + box["height"]) - y
            if w > 0 and h > 0:
                return _fit({"x": max(0, x), "y": max(0, y), "width": w, "height": h}, dpr)
        return None
    if full_page:
        metrics = await cdp.send("Page.getLayoutMetrics")
        content_height = math.ceil(metrics["cssContentSize"]["height"])
        return _fit({"x": 0, "y": 0, "width": width, "height": max(height, content_height)}, dpr)
    return None


def _fit(clip: dict[str, float], dpr: float) -> dict[str, float]:
    """Cut a clip's height so the capture stays within MAX_PIXELS device pixels."""
    max_height = max(1, int(MAX_PIXELS / (clip["width"] * dpr * dpr)))
    return {**clip, "height": min(clip["height"], max_height, 16384)}


async def _capture(
    page: Page,
    cdp: CDPSession,
    format: str,
    quality: int,
    width: int,
    height: int,
    *,
    clip: dict[str, float] | None = None,
) -> _Shot:
    if format == "pdf":
        pdf_height = f"{clip['height']}px" if clip else f"{height}px"
        data = await page.pdf(width=f"{width}px", height=pdf_height, print_background=True)
        return _Shot("pdf", data, width, int(clip["height"]) if clip else height)
    params: dict[str, Any] = {"format": format, "fromSurface": True}
    if format == "png":
        if PNG_REENCODE:
            # Cheap zlib in Chromium; encode_png does the real compression (caller side).
            params["optimizeForSpeed"] = True
    else:
        params["quality"] = quality
    if clip is not None:
        params["clip"] = {**clip, "scale": 1}
        params["captureBeyondViewport"] = True
    result = await cdp.send("Page.captureScreenshot", params)
    return _Shot(format, result["data"], width, height)


def _finish(shot: _Shot) -> RenderedImage:
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


# --- the process's pool --------------------------------------------------------------------

_pool: BrowserPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> BrowserPool:
    """This process's pool, created on first use. A forked child (Celery prefork) never
    uses its parent's: the loop thread and the browser did not come along."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.closed or _pool.pid != os.getpid():
            _pool = BrowserPool()
        return _pool


def _forget_pool_after_fork() -> None:
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()  # the parent's may have been held at fork time


os.register_at_fork(after_in_child=_forget_pool_after_fork)


@atexit.register
def _close_pool() -> None:
    pool = _pool
    if pool is not None and pool.pid == os.getpid():
        pool.close()


# --- the engine's entry points --------------------------------------------------------------


def _check_common(width: int, height: int, dpr: float, format: str, quality: int) -> None:
    if format not in FORMATS:
        raise BrowserRenderError(VALIDATION_FAILED, f"format must be one of {', '.join(FORMATS)}")
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or not 1 <= value <= MAX_DIMENSION:
            raise BrowserRenderError(VALIDATION_FAILED, f"{name} must be 1–{MAX_DIMENSION}")
    if not 1 <= dpr <= 3:
        raise BrowserRenderError(VALIDATION_FAILED, "dpr must be 1–3")
    if not 1 <= quality <= 100:
        raise BrowserRenderError(VALIDATION_FAILED, "quality must be 1–100")


def _cookie_list(cookies: dict[str, str] | list[dict[str, str]] | None) -> list[dict[str, str]]:
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


def screenshot_url(
    url: str,
    *,
    width: int = 1440,
    height: int = 788,
    dpr: float = 2,
    format: str = "jpeg",
    quality: int = 80,
    selector: str | None = None,
    full_page: bool = False,
    wait_for: str | None = None,
    delay_ms: int = 0,
    scheme: str | None = None,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | list[dict[str, str]] | None = None,
) -> RenderedImage:
    """Screenshot `url` (http/https only) through the page address guard.

    `width`×`height` is the viewport in CSS pixels, the image is `dpr` times that (or the
    `selector` element's box, or the whole page with `full_page`). `headers` go only to
    the target's own origin, `cookies` ({name: value}) are scoped to the target URL; they
    are never logged. Raises BrowserRenderError: VALIDATION_FAILED, HOST_NOT_ALLOWED,
    FORBIDDEN_ADDRESS, UNRESOLVABLE, UPSTREAM_FAILED (`details["status"]` when the target
    answered 5xx), TOO_LARGE, RENDER_TIMEOUT, RENDER_FAILED.
    """
    _check_common(width, height, dpr, format, quality)
    if scheme is not None and scheme not in SCHEMES:
        raise BrowserRenderError(VALIDATION_FAILED, f"scheme must be one of {', '.join(SCHEMES)}")
    config = config_from_settings()
    if not 0 <= delay_ms <= config.render_timeout * 1000:
        raise BrowserRenderError(VALIDATION_FAILED, "delay_ms must fit in the render timeout")
    policy = policy_from_settings()
    try:
        check_url(url, policy)  # refuse before a browser is involved at all
    except BlockedAddress as exc:
        raise _guard_error(exc) from None
    pool = get_pool()
    job = partial(
        pool.url_job,
        url=url.strip(),
        width=width,
        height=height,
        dpr=dpr,
        format=format,
        quality=quality,
        selector=selector or None,
        full_page=full_page,
        wait_for=wait_for or None,
        delay_ms=delay_ms,
        scheme=scheme,
        headers=dict(headers or {}),
        cookies=_cookie_list(cookies),
        policy=policy,
        config=config,
    )
    return _finish(pool.run(job, config))


def render_html(
    html: str,
    *,
    width: int,
    height: int,
    dpr: float = 1,
    format: str = "png",
    quality: int = 90,
    transparent: bool = False,
) -> RenderedImage:
    """Render an inline HTML document at `width`×`height` CSS pixels (× `dpr`).

    The document has no origin (no cookies or storage); whatever it loads goes through
    the page address guard. `transparent` keeps the alpha of a page without a background
    (PNG/WebP). Raises BrowserRenderError as `screenshot_url` does.
    """
    _check_common(width, height, dpr, format, quality)
    config = config_from_settings()
    policy = policy_from_settings()
    pool = get_pool()
    job = partial(
        pool.html_job,
        html=html,
        width=width,
        height=height,
        dpr=dpr,
        format=format,
        quality=quality,
        transparent=transparent,
        policy=policy,
        config=config,
    )
    return _finish(pool.run(job, config))

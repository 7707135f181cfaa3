"""The browser pool: one Chromium per worker process, driven from a private event loop.

`BrowserPool` owns the browser's life: the loop thread every call runs on (`call`,
`run`), launching, acquiring and releasing a browser for a job, retiring and recycling
it, and the memory watch. `get_pool()` gives the process's pool, created on first use
and never carried across a fork; it is closed at exit. What a job does on its browser
lives in workers/browser/jobs.py, the pages it does it in in workers/browser/pages.py.

- One Chromium, launched lazily with Playwright, driven through Playwright's async API
  on the loop thread behind this blocking interface. That gives the page guard
  concurrent fetches (a page's subresources are fetched in parallel by a thread pool,
  not one at a time on Playwright's dispatcher), lets any thread call in (the embedded
  default runs tasks in gunicorn threads), and leaves Celery's soft time limit landing in
  the waiting caller rather than inside Playwright's own machinery.
- Recycling: after `KILN_BROWSER_MAX_RENDERS` renders, or when the resident memory of
  Chromium's process tree passes `KILN_BROWSER_MAX_RSS_MB`, new jobs go to a new browser
  and the old one closes when its last job is done. While jobs run, a tree over the
  limit loses its biggest renderer at once (a page allocating without end). A browser
  that crashed or was killed is relaunched on the next job; a job it crashed under is
  retried once on a new browser, then fails with RENDER_FAILED.
- Time: the render timeout bounds each attempt of a job (the navigation timeout, each
  navigation: workers/browser/jobs.py).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from workers.browser.errors import (
    RENDER_FAILED,
    RENDER_TIMEOUT,
    BrowserRenderError,
    Crashed,
    first_line,
    is_crash,
)
from workers.browser.process import (
    LAUNCH_TIMEOUT_S,
    BrowserConfig,
    identify,
    launch,
    process_tree_rss_mb,
    runaway_renderer,
)
from workers.specs import ScreenshotSpec

if TYPE_CHECKING:
    from workers.browser.guard import Router
    from workers.browser.pages import HtmlPage, UrlTab

logger = logging.getLogger(__name__)

T = TypeVar("T")

FETCH_THREADS = 16  # concurrent guarded fetches per process, all jobs together
RSS_CHECK_EVERY = 5  # renders between two reads of the browser's RSS
MEMORY_WATCH_S = 0.25  # while jobs run, how often a runaway renderer is looked for


def _screenshot_metrics() -> tuple[int, int, float]:
    """A default screenshot's viewport and dpr: what a new browser's first spare URL tab
    is sized for."""
    defaults = ScreenshotSpec.defaults()
    return defaults["width"], defaults["height"], defaults["dpr"]


@dataclass(eq=False)
class BrowserHandle:
    """One launched browser, its jobs, and the pages it keeps ready (workers/browser/pages.py)."""

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
    html_ready: list[HtmlPage] = field(default_factory=list)
    html_pages: int = 0  # open HTML pages, ready or in use or resetting
    html_creating: int = 0  # pages being opened (not yet known to the router)
    url_spare: asyncio.Future[UrlTab] | None = None  # the next URL job's fresh context
    # The last URL job's metrics, for spares.
    url_metrics: tuple[int, int, float] = field(default_factory=_screenshot_metrics)

    @property
    def usable(self) -> bool:
        return not self.dead and not self.retired and self.browser.is_connected()


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
        # Where the page guards of all jobs fetch (workers/browser/guard.py).
        self.fetchers = concurrent.futures.ThreadPoolExecutor(
            max_workers=FETCH_THREADS, thread_name_prefix="kiln-page-fetch"
        )
        self._playwright: Playwright | None = None
        self._current: BrowserHandle | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._live: set[BrowserHandle] = set()  # launched and not yet closed
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

    def run(self, job: Callable[[BrowserHandle, float], Awaitable[T]], config: BrowserConfig) -> T:
        """Run `job(handle, deadline)` on a browser, retried once on a new browser if the
        first crashed under it."""
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
        self.fetchers.shutdown(wait=False, cancel_futures=True)

    # -- on the loop --

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run `coro` in the background on the loop (off the job's path)."""
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
        self, job: Callable[[BrowserHandle, float], Awaitable[T]], config: BrowserConfig
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
            except (Crashed, PlaywrightError) as exc:
                if isinstance(exc, PlaywrightError) and not is_crash(exc, handle.browser):
                    raise BrowserRenderError(
                        RENDER_FAILED, f"render failed: {first_line(exc)}"
                    ) from None
                self._discard(handle)
                if attempt == 2:
                    raise BrowserRenderError(
                        RENDER_FAILED, f"the browser crashed twice ({first_line(exc)})"
                    ) from None
                logger.warning("the browser crashed under a render (%s); retrying", exc)
            finally:
                self._release(handle, ok)
        raise AssertionError("unreachable")

    async def _acquire(self, config: BrowserConfig) -> BrowserHandle:
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
                    None, runaway_renderer, handle.pid, self._memory_limit_mb
                )
                if victim is not None:
                    logger.warning(
                        "browser over %d MB: killing process %d", self._memory_limit_mb, victim
                    )
                    with contextlib.suppress(OSError):
                        os.kill(victim, signal.SIGKILL)

    def _release(self, handle: BrowserHandle, ok: bool) -> None:
        handle.active -= 1
        if ok:
            handle.renders += 1
        if (handle.retired or handle.dead) and handle.active == 0:
            self.spawn(self._close_browser(handle))

    def _retire(self, handle: BrowserHandle) -> None:
        handle.retired = True
        if self._current is handle:
            self._current = None
        if handle.active == 0:
            self.spawn(self._close_browser(handle))

    def _discard(self, handle: BrowserHandle) -> None:
        handle.dead = True
        self._retire(handle)

    async def _close_browser(self, handle: BrowserHandle) -> None:
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

    async def _launch(self, config: BrowserConfig) -> BrowserHandle:
        if not config.chromium_path:
            raise BrowserRenderError(
                RENDER_FAILED, "no Chromium found: install `chromium` or set KILN_CHROMIUM_PATH"
            )
        started = time.monotonic()
        for attempt in (1, 2):
            playwright = await self._start_playwright()
            try:
                browser = await launch(playwright, config)
                break
            except PlaywrightError as exc:
                # Playwright's driver may be what died: start a new one and try again.
                with contextlib.suppress(Exception):
                    await playwright.stop()
                self._playwright = None
                if attempt == 2:
                    raise BrowserRenderError(
                        RENDER_FAILED, f"could not launch Chromium: {first_line(exc)}"
                    ) from None
        pid, user_agent = await identify(browser)
        handle = BrowserHandle(browser=browser, pid=pid, user_agent=user_agent)
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

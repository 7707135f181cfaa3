"""The page address guard of the browser pool: no page reaches anything Kiln would not fetch.

Chromium itself never talks to the network. Every request a page makes (navigations,
redirect hops, subresources, fetch/XHR, iframes, workers, beacons) is intercepted with
`context.route("**/*")`, fetched by Kiln's one guarded fetcher (`workers.fetch`, which
checks each hop with `workers.address_guard` and connects to exactly the address it
checked, so DNS rebinding has no window) and fulfilled into the page. What the guard
refuses is aborted and recorded on the job's guard (`PageGuard.refused`, logged by host
and code); a refusal of the job's own navigation becomes the job's error.

Redirects are never fulfilled into a page: Chromium follows a fulfilled 3xx with its own
network stack, outside interception (measured: it reached a private address). The
fetcher follows them instead, every hop guarded; the job's first navigation is the
exception, handled hop by hop by the pool so relative URLs resolve against the final
address.

WebSockets cannot be intercepted and fulfilled like requests, so there are none: the
browser is launched with a resolver that resolves nothing and a proxy that does not
exist (`workers.browser.process.LAUNCH_ARGS`), and every WebSocket, or anything else
that would leave through Chromium's own network stack (a preconnect, WebRTC), fails
there.
(Playwright's `route_web_socket` would only wrap the page's `WebSocket` in script, which
a worker gets around, and cost ~15 ms per document.) Downloads are refused, and requests
of pages no job owns (popups) are aborted.

Request and response headers and bodies are never logged: they can carry the caller's
cookies and tokens. Refusals are logged by host and code only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urljoin, urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Route

from workers.address_guard import (
    DEFAULT_PORTS,
    VALIDATION_FAILED,
    BlockedAddress,
    GuardPolicy,
    normalise_host,
)
from workers.fetch import (
    REDIRECT_STATUSES,
    TOO_LARGE,
    UPSTREAM_FAILED,
    FetchError,
    FetchResult,
    guarded_fetch,
)

logger = logging.getLogger(__name__)

# The codes a refusal carries besides the guard's and the fetcher's own.
DOWNLOAD_REFUSED = "DOWNLOAD_REFUSED"
DOCUMENT_REFUSED = "DOCUMENT_REFUSED"
POPUP_REFUSED = "POPUP_REFUSED"
NO_TIME_LEFT = "NO_TIME_LEFT"

# Framing is the fetcher's business; accept-encoding is dropped so servers answer
# uncompressed (the fetcher does not decode, and Chromium must get the bytes as they are).
_DROP_REQUEST_HEADERS = frozenset(
    {
        "accept-encoding",
        "connection",
        "content-length",
        "host",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Hop-by-hop and encoding headers describe the fetcher's connection, not the body the
# page gets; Playwright sets the length itself.
_DROP_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "keep-alive",
        "proxy-authenticate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "alt-svc",
    }
)


@dataclass(frozen=True)
class Refusal:
    """A request the guard did not let through: for the job's error and for tests."""

    host: str
    code: str
    resource_type: str
    main: bool  # the job's own navigation (its failure is the job's failure)
    status: int | None = None


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, normalised host, port) of an http(s) URL, or None."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return scheme, normalise_host(parts.hostname), parts.port or DEFAULT_PORTS[scheme]
    except (ValueError, BlockedAddress):
        return None


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


@dataclass
class PageGuard:
    """The guard of one job: its policy, deadline and byte budget, what it refused.

    `first_navigation` is set by the pool right before it navigates the job's page; the
    next main-frame document request is that navigation, fetched without following
    redirects so the pool can navigate to each hop itself (`redirect_to`).
    """

    policy: GuardPolicy
    executor: Executor
    deadline: float  # time.monotonic() by which everything must be done
    fetch_timeout: float
    max_response_bytes: int
    max_total_bytes: int
    # HTML jobs: no cookies in or out (the document has no origin to own them), and no
    # other documents (navigations, iframes): a document from a real origin could write
    # cookies or storage into the context every later HTML job shares.
    allow_cookies: bool = True
    allow_documents: bool = True
    # The caller's headers, sent only to `target_origin`, never to third parties.
    extra_headers: dict[str, str] = field(default_factory=dict)
    target_origin: tuple[str, str, int] | None = None
    # The lowest status of the target's own answer that fails the job (UPSTREAM_FAILED
    # naming it); None shoots whatever came back. Error answers of the pages it loads are
    # the page's business.
    fail_status: int | None = 500
    page: Page | None = None
    first_navigation: bool = False
    redirect_to: str | None = None
    main_error: Exception | None = None
    main_status: int | None = None
    refused: list[Refusal] = field(default_factory=list)
    bytes_used: int = 0

    def _is_main_navigation(self, route: Route) -> bool:
        request = route.request
        if not request.is_navigation_request() or self.page is None:
            return False
        try:
            return request.frame == self.page.main_frame
        except PlaywrightError:
            return False

    def _refuse(self, route: Route, code: str, *, main: bool, status: int | None = None) -> Refusal:
        refusal = Refusal(
            _host_of(route.request.url), code, route.request.resource_type, main, status
        )
        self.refused.append(refusal)
        logger.info(
            "page request refused",
            extra={"host": refusal.host, "code": code, "resource": refusal.resource_type},
        )
        return refusal

    def _request_headers(self, route: Route) -> dict[str, str]:
        headers = {
            name: value
            for name, value in route.request.headers.items()
            if name.lower() not in _DROP_REQUEST_HEADERS
            and not name.startswith(":")
            and (self.allow_cookies or name.lower() != "cookie")
        }
        if self.extra_headers and origin_of(route.request.url) == self.target_origin:
            headers.update(self.extra_headers)
        return headers

    def _response_headers(self, result: FetchResult) -> dict[str, str]:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in result.raw_headers or tuple(result.headers.items()):
            if name in _DROP_RESPONSE_HEADERS:
                continue
            if name == "set-cookie":
                cookies.append(value)
            elif name in headers:
                headers[name] = f"{headers[name]}, {value}"
            else:
                headers[name] = value
        if cookies and self.allow_cookies:
            # Playwright splits Set-Cookie on newlines: one cookie per line.
            headers["set-cookie"] = "\n".join(cookies)
        return headers

    async def handle(self, route: Route) -> None:
        """The route handler: fetch through the guard and fulfil, or abort."""
        request = route.request
        main = self._is_main_navigation(route)
        if not self.allow_documents and request.is_navigation_request():
            self._refuse(route, DOCUMENT_REFUSED, main=main)
            await _abort(route, "blockedbyclient")
            return
        first = main and self.first_navigation
        if first:
            self.first_navigation = False
        remaining = self.deadline - time.monotonic()
        budget = min(self.max_response_bytes, self.max_total_bytes - self.bytes_used)
        if remaining <= 0.05:
            self._refuse(route, NO_TIME_LEFT, main=main)
            await _abort(route, "timedout")
            return
        if budget <= 0:
            self._refuse(route, TOO_LARGE, main=main)
            if first:
                self.main_error = FetchError(TOO_LARGE, "the page is over its byte budget")
            await _abort(route, "blockedbyclient")
            return
        fetch = partial(
            guarded_fetch,
            request.url,
            method=request.method,
            body=request.post_data_buffer,
            headers=self._request_headers(route),
            max_bytes=budget,
            timeout=min(self.fetch_timeout, remaining),
            policy=self.policy,
            follow_redirects=not first,
            raise_for_status=False,
        )
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.executor, fetch)
        except (BlockedAddress, FetchError) as exc:
            status = getattr(exc, "status", None)
            self._refuse(route, exc.code, main=main, status=status)
            if first:
                self.main_error = exc
            await _abort(route, "blockedbyclient" if isinstance(exc, BlockedAddress) else "failed")
            return
        except ValueError as exc:  # an HTTP method the fetcher will not send
            self._refuse(route, VALIDATION_FAILED, main=main)
            if first:
                self.main_error = exc
            await _abort(route, "blockedbyclient")
            return
        self.bytes_used += len(result.content)
        if first:
            self.main_status = result.status
            if result.status in REDIRECT_STATUSES and result.headers.get("location"):
                # The pool navigates to the next hop itself (and checks it first).
                self.redirect_to = urljoin(result.url, result.headers["location"].strip())
                await _abort(route, "aborted")
                return
            if self.fail_status is not None and result.status >= self.fail_status:
                # Fail now rather than render the error page and wait for its load.
                self.main_error = FetchError(
                    UPSTREAM_FAILED,
                    f"the target answered HTTP {result.status}",
                    status=result.status,
                )
                await _abort(route, "failed")
                return
        disposition = result.headers.get("content-disposition", "").strip().lower()
        if disposition.startswith("attachment"):
            self._refuse(route, DOWNLOAD_REFUSED, main=main, status=result.status)
            if first:
                self.main_error = BlockedAddress(
                    VALIDATION_FAILED, "the target is a download, not a page"
                )
            await _abort(route, "blockedbyclient")
            return
        # The page may have gone away meanwhile; then nothing waits for this response.
        with contextlib.suppress(PlaywrightError):
            await route.fulfill(
                status=result.status, headers=self._response_headers(result), body=result.content
            )


async def _abort(route: Route, code: str) -> None:
    with contextlib.suppress(PlaywrightError):  # the page or context closed first
        await route.abort(code)


class Router:
    """One context's route handler: hands each request to the guard of the job that owns
    its page. A request no job owns (a popup, a page a job left behind) is aborted."""

    def __init__(self) -> None:
        self.guards: dict[Page, PageGuard] = {}
        # Pages the pool opened; anything else in the context is a popup.
        self.owned: set[Page] = set()

    def attach(self, page: Page, guard: PageGuard) -> None:
        guard.page = page
        self.guards[page] = guard

    def detach(self, page: Page) -> None:
        self.guards.pop(page, None)

    async def handle(self, route: Route) -> None:
        try:
            page: Page | None = route.request.frame.page
        except PlaywrightError:
            # Playwright has no frame for a popup's first navigation (nor for service
            # worker requests, which are blocked anyway).
            page = None
        guard = self.guards.get(page) if page is not None else None
        if guard is None:
            logger.info("request of a page no job owns refused", extra={"code": POPUP_REFUSED})
            await _abort(route, "blockedbyclient")
            return
        await guard.handle(route)

    async def on_page(self, page: Page) -> None:
        """`context.on("page")`: a popup (a page with an opener) is closed at once. Its
        requests are refused by `handle` whatever happens here; a popup opened with
        `noopener` has no opener to tell it by and is closed by `sweep` after the job."""
        try:
            opener = await page.opener()
        except PlaywrightError:
            return
        if opener is None:
            return
        guard = self.guards.get(opener)
        if guard is not None:
            guard.refused.append(Refusal("", POPUP_REFUSED, "document", False))
        await close_quietly(page)

    async def sweep(self, pages: list[Page]) -> None:
        """Close every page of the context the pool did not open."""
        for page in pages:
            if page not in self.owned:
                await close_quietly(page)


async def close_quietly(page: Page) -> None:
    with contextlib.suppress(PlaywrightError):
        await page.close()

"""How a browser job fails, and how Playwright's and the guard's exceptions are read.

`BrowserRenderError` is what a job ends with (a `RenderInputError`, so `workers.jobs`
records it as the job's failure with its code); `Crashed` means the browser or the job's
renderer died under it, which the pool retries once on a new browser.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser
from playwright.async_api import Error as PlaywrightError

from workers.address_guard import BlockedAddress
from workers.fetch import FetchError
from workers.rasterise import RenderInputError

RENDER_FAILED = "RENDER_FAILED"
RENDER_TIMEOUT = "RENDER_TIMEOUT"
VALIDATION_FAILED = "VALIDATION_FAILED"


class BrowserRenderError(RenderInputError):
    """A browser render that failed; `code` is a SPEC §3 or address-guard code (the job
    machinery maps FORBIDDEN_ADDRESS/UNRESOLVABLE to public codes), `details` says more
    (the target's HTTP `status` for UPSTREAM_FAILED). Never retried by the job: the pool
    has already retried what was worth retrying."""

    def __init__(self, code: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(code, message)
        self.details = details or {}


class Crashed(Exception):
    """The browser or the job's renderer died under the job: worth one more try."""


def is_crash(exc: PlaywrightError, browser: Browser) -> bool:
    """Did the browser or a renderer die under this error (worth one more try)?"""
    return not browser.is_connected() or "crash" in str(exc).lower()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def guard_error(exc: Exception) -> BrowserRenderError:
    """The guard's or the fetcher's refusal of the job's own navigation, as a job error."""
    if isinstance(exc, BlockedAddress):
        return BrowserRenderError(exc.code, exc.message, details={"host": exc.host})
    if isinstance(exc, FetchError):
        details = {"status": exc.status} if exc.status is not None else {}
        return BrowserRenderError(exc.code, exc.message, details=details)
    return BrowserRenderError(VALIDATION_FAILED, str(exc))

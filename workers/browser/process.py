"""Chromium as a process: finding it, its settings, how it is launched, its memory.

Owns `BrowserConfig` (the pool's settings, `config_from_settings`), the launch arguments
that keep Chromium's own network stack a backstop rather than a path, and the /proc
readings behind recycling: the resident memory of Chromium's process tree and the
runaway renderer the pool kills while jobs run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import partial

from playwright.async_api import Browser, Playwright

LAUNCH_TIMEOUT_S = 30.0
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

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


# --- launching ----------------------------------------------------------------------------


async def launch(playwright: Playwright, config: BrowserConfig) -> Browser:
    """One headless Chromium with the launch arguments above (one attempt)."""
    return await playwright.chromium.launch(
        executable_path=config.chromium_path,
        headless=True,
        args=list(LAUNCH_ARGS),
        ignore_default_args=list(IGNORED_DEFAULT_ARGS),
        chromium_sandbox=config.sandbox,
        timeout=LAUNCH_TIMEOUT_S * 1000,
    )


async def identify(browser: Browser) -> tuple[int, str]:
    """The launched browser's pid and the user agent its pages present."""
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
    return pid, user_agent


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


def runaway_renderer(pid: int, limit_mb: float) -> int | None:
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

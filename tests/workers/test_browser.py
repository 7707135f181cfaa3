"""The browser pool and the page address guard, on real Chromium and local fixture servers.

How loopback is let through for the tests, and only there: the address guard refuses
every loopback address by default. A test names its fixture server's exact endpoint in
`KILN_GUARD_TEST_ENDPOINTS` (`127.0.0.1:<port>`; a setting config/settings.py never
reads from the environment), which exempts that one address *and port* from the address
policy. Three servers then tell allowed from refused by their own access logs:

- `site`      127.0.0.1:A, exempt: the page under test;
- `neighbour` 127.0.0.1:B, NOT exempt: same address, another port. The loopback
  spellings a page may try (`0x7f000001`, `2130706433`, `0x7f.1`, `127.1`,
  `[::ffff:127.0.0.1]`, `localhost`) all name it; none may reach it;
- `other`     127.0.0.2:C, NOT exempt: another loopback address.

`third` (127.0.0.3:D, exempt) is a second allowed site, for what may go to third
parties (headers may not). 10.0.0.1 and 169.254.169.254 have no server here; for them the
guard's own log is the proof, and the page reports whether any load succeeded.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from tests.support.fixture_http import FixtureServer, Hit, Reply
from workers import browser
from workers.address_guard import GuardPolicy, check_url, resolve_and_check
from workers.browser import BrowserRenderError, get_pool, render_html, screenshot
from workers.browser import capture as browser_capture
from workers.browser import pool as browser_pool
from workers.fetch import guarded_fetch
from workers.specs import RenderSpec, ScreenshotSpec

RED, LIME, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


@pytest.fixture(scope="module")
def servers():
    started = {
        "site": FixtureServer("127.0.0.1").start(),
        "neighbour": FixtureServer("127.0.0.1").start(),
        "other": FixtureServer("127.0.0.2").start(),
        "third": FixtureServer("127.0.0.3").start(),
    }
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module", autouse=True)
def pool():
    yield get_pool()
    get_pool().close()  # no Chromium outlives this module


@pytest.fixture(autouse=True)
def browser_settings(settings, servers):
    for server in servers.values():
        server.hits.clear()
        server.routes.clear()
    settings.KILN_GUARD_TEST_ENDPOINTS = [servers["site"].endpoint, servers["third"].endpoint]
    settings.KILN_ALLOWED_HOSTS = []
    settings.KILN_ALLOW_PRIVATE_TARGETS = False
    settings.KILN_BROWSER_NAVIGATION_TIMEOUT = 5.0
    settings.KILN_BROWSER_RENDER_TIMEOUT = 10.0
    settings.KILN_BROWSER_MAX_RENDERS = 1000
    settings.KILN_BROWSER_MAX_RSS_MB = 100_000
    return settings


@pytest.fixture
def site(servers) -> FixtureServer:
    return servers["site"]


def pixel(image, x: int, y: int):
    return Image.open(io.BytesIO(image.data)).convert("RGB").getpixel((x, y))


def solid(colour: str, extra: str = "") -> str:
    return f"<!doctype html><body style='margin:0;background:{colour}'>{extra}</body>"


# --- screenshots ---------------------------------------------------------------------------

BOXES = """<!doctype html><body style="margin:0;background:#ff0000;height:3000px">
<div id="box" style="position:absolute;left:100px;top:50px;width:200px;height:100px;
background:#00ff00"></div>
<div id="low" style="position:absolute;left:40px;top:2000px;width:50px;height:60px;
background:#0000ff"></div></body>"""


def test_a_screenshot_has_the_viewport_size_and_the_page_pixels(site):
    url = site.add("/boxes", BOXES)
    image = screenshot(ScreenshotSpec(url=url, width=800, height=600, dpr=1, format="png"))
    assert (image.width, image.height, image.content_type) == (800, 600, "image/png")
    assert pixel(image, 10, 10) == RED
    assert pixel(image, 150, 100) == LIME


def test_dpr_2_doubles_the_pixels_and_jpeg_is_the_default(site):
    url = site.add("/boxes", BOXES)
    image = screenshot(ScreenshotSpec(url=url, width=400, height=300))
    assert (image.width, image.height, image.format) == (800, 600, "jpeg")
    assert image.data[:3] == b"\xff\xd8\xff"
    r, g, b = pixel(image, 300, 200)  # the box at 2×: (200..600, 100..300)
    assert g > 240 and r < 16 and b < 16


def test_the_selector_clips_to_the_element_even_below_the_fold(site):
    url = site.add("/boxes", BOXES)
    box = screenshot(
        ScreenshotSpec(url=url, width=800, height=600, dpr=2, format="png", selector="#box")
    )
    assert (box.width, box.height) == (400, 200)
    assert {pixel(box, 1, 1), pixel(box, 398, 198)} == {LIME}
    low = screenshot(
        ScreenshotSpec(url=url, width=800, height=600, dpr=1, format="png", selector="#low")
    )
    assert (low.width, low.height) == (50, 60)
    assert pixel(low, 25, 30) == BLUE


def test_a_selector_that_never_appears_gives_the_full_viewport(site, monkeypatch):
    monkeypatch.setattr(browser_capture, "SELECTOR_WAIT_S", 0.3)
    url = site.add("/boxes", BOXES)
    image = screenshot(
        ScreenshotSpec(url=url, width=640, height=480, dpr=1, format="png", selector="#nope")
    )
    assert (image.width, image.height) == (640, 480)


def test_full_page_captures_the_whole_document(site):
    url = site.add("/boxes", BOXES)
    image = screenshot(
        ScreenshotSpec(url=url, width=800, height=600, dpr=1, format="png", full_page=True)
    )
    assert (image.width, image.height) == (800, 3000)
    assert pixel(image, 60, 2030) == BLUE


def test_pdf_and_webp(site):
    url = site.add("/boxes", BOXES)
    pdf = screenshot(ScreenshotSpec(url=url, width=800, height=600, format="pdf"))
    assert pdf.data.startswith(b"%PDF-") and b"%%EOF" in pdf.data[-1024:]
    assert pdf.content_type == "application/pdf"
    webp = screenshot(
        ScreenshotSpec(url=url, width=800, height=600, dpr=1, format="webp", quality=90)
    )
    assert webp.data[:4] == b"RIFF" and webp.data[8:12] == b"WEBP"
    assert (webp.width, webp.height) == (800, 600)


def test_the_query_string_reaches_the_target_and_wait_for_waits(site):
    page = solid(
        "#ff0000",
        "<script>setTimeout(() => { document.body.style.background = '#00ff00';"
        " document.body.id = 'ready' }, 300)</script>",
    )
    site.add("/late", page)
    image = screenshot(
        ScreenshotSpec(
            url=site.url("/late?a=1&b=two%20words"),
            width=200,
            height=100,
            dpr=1,
            format="png",
            wait_for="#ready",
        )
    )
    assert pixel(image, 100, 50) == LIME
    assert site.paths() == ["/late?a=1&b=two%20words"]


def test_headers_and_cookies_go_to_the_target_only(servers):
    site, third = servers["site"], servers["third"]
    third.add("/pixel.png", Reply(b"", content_type="image/png"))
    site.add("/auth", solid("#fff", f"<img src='{third.url('/pixel.png')}'>"))
    screenshot(
        ScreenshotSpec(url=site.url("/auth"), width=200, height=100, format="png"),
        headers={"Authorization": "Bearer sekrit"},
        cookies={"session": "abc123"},
    )
    [page] = site.hits
    assert page.headers.get("authorization") == "Bearer sekrit"
    assert page.headers.get("cookie") == "session=abc123"
    [pixel_hit] = third.hits
    assert "authorization" not in pixel_hit.headers and "cookie" not in pixel_hit.headers


def test_render_html_has_its_size_pixels_and_alpha():
    html = solid("transparent", "<div style='width:100px;height:100px;background:#00f'></div>")
    image = render_html(html, RenderSpec(width=300, height=200))
    assert (image.width, image.height, image.format) == (300, 200, "png")
    assert pixel(image, 10, 10) == BLUE and pixel(image, 200, 150) == (255, 255, 255)
    doubled = render_html(html, RenderSpec(width=300, height=200, dpr=2), transparent=True)
    assert (doubled.width, doubled.height) == (600, 400)
    rgba = Image.open(io.BytesIO(doubled.data))
    assert rgba.mode == "RGBA" and rgba.getpixel((500, 300))[3] == 0
    assert rgba.getpixel((10, 10)) == (*BLUE, 255)


def test_renders_from_many_threads_at_once_each_get_their_own_page():
    # The embedded default runs tasks in gunicorn threads: the pool is shared by them.
    colours = ["#ff0000", "#00ff00", "#0000ff", "#ffff00", "#00ffff", "#ff00ff"]
    with ThreadPoolExecutor(max_workers=len(colours)) as threads:
        images = list(
            threads.map(lambda c: render_html(solid(c), RenderSpec(width=40, height=30)), colours)
        )
    for colour, image in zip(colours, images, strict=True):
        expected = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert pixel(image, 20, 15) == expected


# --- isolation -------------------------------------------------------------------------------


def test_cookies_and_storage_of_one_job_are_not_visible_to_the_next(site):
    site.add(
        "/set",
        Reply(
            solid(
                "#fff",
                "<script>document.cookie = 'js=1; max-age=3600'; localStorage.k = 'v';"
                " sessionStorage.k = 'v'</script>",
            ),
            headers={"Set-Cookie": ["server=1; Max-Age=3600", "other=2; Max-Age=3600"]},
        ),
    )
    check = (
        "<script>const seen = document.cookie || localStorage.k || sessionStorage.k;"
        "document.body.style.background = seen ? '#ff0000' : '#00ff00';"
        "fetch('/probe')</script>"
    )
    site.add("/check", solid("#fff", check))
    site.add("/probe", Reply("ok", content_type="text/plain"))
    screenshot(ScreenshotSpec(url=site.url("/set"), width=100, height=100, format="png"))
    # The first job's own requests did carry its cookies: they exist within a job.
    screenshot(ScreenshotSpec(url=site.url("/set"), width=100, height=100, format="png"))
    image = screenshot(ScreenshotSpec(url=site.url("/check"), width=100, height=100, format="png"))
    assert pixel(image, 50, 50) == LIME
    later = [hit for hit in site.hits if hit.path in ("/check", "/probe")]
    assert len(later) == 2 and all("cookie" not in hit.headers for hit in later)


def test_html_jobs_do_not_share_a_js_realm():
    render_html(
        "<script>window.leak = 1; window.name = 'secret';"
        " setInterval(() => document.body.style.background = '#ff0000', 1)</script>",
        RenderSpec(width=50, height=50),
    )
    for _ in range(3):  # both warm pages, and a reused one
        image = render_html(
            "<body style='margin:0'><script>document.body.style.background ="
            " (window.leak || window.name) ? '#ff0000' : '#00ff00'</script></body>",
            RenderSpec(width=50, height=50),
        )
        assert pixel(image, 25, 25) == LIME


# --- the page address guard ---------------------------------------------------------------


def test_the_default_settings_refuse_the_fixture_server_in_every_spelling(site, settings):
    settings.KILN_GUARD_TEST_ENDPOINTS = []
    site.add("/", solid("#fff"))
    port = site.port
    for host in (
        "127.0.0.1",
        "localhost",
        "[::1]",
        "2130706433",
        "0x7f.1",
        "0x7f000001",
        "127.1",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "10.0.0.1",
    ):
        with pytest.raises(BrowserRenderError) as refused:
            screenshot(ScreenshotSpec(url=f"http://{host}:{port}/", format="png"))
        assert refused.value.code == "FORBIDDEN_ADDRESS", host
    assert site.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "chrome://version",
        "view-source:http://127.0.0.1/",
        "data:text/html,<h1>hi</h1>",
        "javascript:alert(1)",
        "ftp://example.com/",
    ],
)
def test_only_http_and_https_targets(url):
    with pytest.raises(BrowserRenderError) as refused:
        screenshot(ScreenshotSpec(url=url))
    assert refused.value.code == "VALIDATION_FAILED"


def probe_page(servers, *, websocket: bool = True) -> str:
    """A page on the allowed site that tries every kind of load against every refused
    target, and paints itself red if any of them succeeded."""
    neighbour, other, site = servers["neighbour"], servers["other"], servers["site"]
    b, c = neighbour.port, other.port
    targets = [
        f"http://127.0.0.2:{c}/secret",
        f"http://0x7f000001:{b}/secret",
        f"http://2130706433:{b}/secret",
        f"http://0x7f.1:{b}/secret",
        f"http://127.1:{b}/secret",
        f"http://[::ffff:127.0.0.1]:{b}/secret",
        f"http://localhost:{b}/secret",
        f"http://[::1]:{b}/secret",
        "http://10.0.0.1/secret",
        "http://169.254.169.254/latest/meta-data/",
        site.url(f"/redirect?to=http://127.0.0.2:{c}/redirected"),
        "file:///etc/passwd",
    ]
    sockets = [f"ws://127.0.0.2:{c}/ws", f"ws://{site.host}:{site.port}/ws"] if websocket else []
    return f"""<!doctype html><body style="margin:0;background:#fff"><script>
const targets = {targets!r};
const sockets = {sockets!r};
let leaked = 0;
const tries = [];
const attempt = (promise) => tries.push(promise.then(ok => {{ if (ok) leaked++; }}));
for (const url of targets) {{
  attempt(fetch(url, {{mode: "no-cors"}}).then(() => true, () => false));
  attempt(new Promise(done => {{
    const img = new Image(); img.onload = () => done(true); img.onerror = () => done(false);
    img.src = url + "#img";
  }}));
  const frame = document.createElement("iframe"); frame.src = url + "#frame";
  frame.style.display = "none";
  document.body.appendChild(frame);
  const script = document.createElement("script"); script.src = url + "#script";
  document.body.appendChild(script);
}}
const worker = new Worker(URL.createObjectURL(new Blob([`
  const urls = ${{JSON.stringify(targets)}}, socks = ${{JSON.stringify(sockets)}};
  Promise.all([
    ...urls.map(u => fetch(u, {{mode: "no-cors"}}).then(() => 1, () => 0)),
    ...socks.map(u => new Promise(done => {{
      const ws = new WebSocket(u); ws.onopen = () => done(1); ws.onerror = () => done(0);
    }})),
  ]).then(r => postMessage(r.reduce((a, b) => a + b, 0)));
`], {{type: "text/javascript"}})));
attempt(new Promise(done => {{ worker.onmessage = e => done(e.data > 0); }}));
for (const url of sockets) {{
  attempt(new Promise(done => {{
    const ws = new WebSocket(url); ws.onopen = () => done(true); ws.onerror = () => done(false);
  }}));
}}
Promise.all(tries).then(() => {{
  document.body.style.background = leaked ? "#ff0000" : "#00ff00";
  document.body.id = "done";
}});
</script></body>"""


def redirect_handler(hit: Hit) -> Reply:
    target = hit.path.split("to=", 1)[1]
    return Reply(b"", status=302, headers={"Location": target})


def test_a_page_cannot_reach_refused_addresses_by_any_route(servers, caplog):
    caplog.set_level(logging.INFO, logger="workers.browser.guard")
    site = servers["site"]
    site.add("/redirect", redirect_handler)
    site.add("/probe", probe_page(servers))
    for server in ("neighbour", "other"):
        servers[server].add("/secret", "leaked")
        servers[server].add("/redirected", "leaked")
    image = screenshot(
        ScreenshotSpec(
            url=site.url("/probe"), width=200, height=100, dpr=1, format="png", wait_for="#done"
        )
    )
    assert pixel(image, 5, 5) == LIME  # no fetch, image, worker fetch or socket succeeded
    assert servers["neighbour"].hits == []
    assert servers["other"].hits == []
    assert not site.requested("/ws")
    refused = {(r.host, r.code) for r in caplog.records if getattr(r, "code", None)}
    assert ("10.0.0.1", "FORBIDDEN_ADDRESS") in refused
    assert ("169.254.169.254", "FORBIDDEN_ADDRESS") in refused
    assert site.requested("/redirect")  # the allowed first hop was fetched; not the second


def test_a_redirect_of_the_target_to_a_private_address_is_refused(servers):
    site, other = servers["site"], servers["other"]
    site.add("/redirect", redirect_handler)
    other.add("/landing", solid("#f00"))
    with pytest.raises(BrowserRenderError) as refused:
        screenshot(
            ScreenshotSpec(url=site.url(f"/redirect?to={other.url('/landing')}"), format="png")
        )
    assert refused.value.code == "FORBIDDEN_ADDRESS"
    with pytest.raises(BrowserRenderError) as refused:
        screenshot(ScreenshotSpec(url=site.url("/redirect?to=file:///etc/passwd"), format="png"))
    assert refused.value.code == "VALIDATION_FAILED"
    assert other.hits == []


def test_redirects_of_the_target_are_followed_hop_by_hop(site):
    site.add("/start", Reply(b"", status=301, headers={"Location": "/dir/"}))
    site.add("/dir/", Reply(b"", status=302, headers={"Location": "page"}))
    site.add("/dir/page", solid("#0f0", "<img src='pic.png'>"))  # relative to /dir/page
    site.add("/dir/pic.png", Reply(b"", content_type="image/png"))
    image = screenshot(
        ScreenshotSpec(url=site.url("/start"), width=100, height=100, dpr=1, format="png")
    )
    assert pixel(image, 90, 90) == LIME
    assert site.paths() == ["/start", "/dir/", "/dir/page", "/dir/pic.png"]


def test_a_host_off_the_allow_list_is_refused_by_name(servers, settings, caplog):
    caplog.set_level(logging.INFO, logger="workers.browser.guard")
    site, other = servers["site"], servers["other"]
    settings.KILN_ALLOWED_HOSTS = ["images.example.com"]
    with pytest.raises(BrowserRenderError) as refused:
        screenshot(ScreenshotSpec(url=site.url("/"), format="png"))
    assert (refused.value.code, refused.value.message) == (
        "HOST_NOT_ALLOWED",
        "host_not_allowed:127.0.0.1",
    )
    settings.KILN_ALLOWED_HOSTS = ["127.0.0.1"]
    other.add("/img.png", Reply(b"", content_type="image/png"))
    site.add("/page", solid("#fff", f"<img src='{other.url('/img.png')}'>"))
    screenshot(ScreenshotSpec(url=site.url("/page"), width=100, height=100, format="png"))
    assert other.hits == []
    assert any(getattr(r, "code", None) == "HOST_NOT_ALLOWED" for r in caplog.records)


def test_popups_are_refused(site):
    site.add("/popup", solid("#f00"))
    opener = (
        "<a id='a' href='/popup?link' target='_blank'>x</a><script>"
        "const w = window.open('/popup?open'); document.getElementById('a').click();"
        "</script>"
    )
    site.add("/opener", solid("#0f0", opener))
    image = screenshot(
        ScreenshotSpec(url=site.url("/opener"), width=100, height=100, dpr=1, format="png")
    )
    time.sleep(0.3)  # give a popup that slipped through time to load
    assert pixel(image, 90, 90) == LIME
    assert not site.requested("/popup")


def test_downloads_are_refused(site, caplog):
    caplog.set_level(logging.INFO, logger="workers.browser.guard")
    attachment = Reply(
        b"MZ-not-a-page",
        content_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="x.exe"'},
    )
    site.add("/download", attachment)
    with pytest.raises(BrowserRenderError) as refused:
        screenshot(ScreenshotSpec(url=site.url("/download"), format="png"))
    assert refused.value.code == "VALIDATION_FAILED"
    site.add(
        "/page",
        solid(
            "#0f0",
            "<iframe src='/download'></iframe><a href='/download' download id=d></a>"
            "<script>d.click()</script>",
        ),
    )
    image = screenshot(
        ScreenshotSpec(url=site.url("/page"), width=400, height=300, dpr=1, format="png")
    )
    assert pixel(image, 390, 290) == LIME
    assert any(getattr(r, "code", None) == "DOWNLOAD_REFUSED" for r in caplog.records)


def test_inline_html_goes_through_the_guard_too(servers):
    other, site = servers["other"], servers["site"]
    other.add("/font.woff2", Reply(b"", content_type="font/woff2"))
    other.add("/img.png", Reply(b"", content_type="image/png"))
    site.add("/img.png", Reply(b"", content_type="image/png"))
    html = solid(
        "#fff",
        f"<style>@font-face {{ font-family: x; src: url({other.url('/font.woff2')}) }}"
        f" body {{ font-family: x }}</style><img src='{other.url('/img.png')}'>text"
        # A URL of its own: HTML jobs share a context, whose cache may hold /img.png.
        f"<img src='{site.url('/img.png')}?{uuid.uuid4().hex}'>",
    )
    render_html(html, RenderSpec(width=100, height=100))
    assert other.hits == []
    assert [p.split("?")[0] for p in site.paths()] == ["/img.png"]  # an allowed one loads


def test_inline_html_cannot_open_documents_of_a_real_origin(site):
    # A document from a real origin could leave cookies or storage in the context all
    # HTML jobs share: inline HTML gets subresources only, no iframes or navigations.
    site.add("/frame", solid("#f00", "<script>localStorage.k = 1</script>"))
    html = solid("#0f0", f"<iframe src='{site.url('/frame')}'></iframe>")
    render_html(html, RenderSpec(width=400, height=300))
    nav = f"<script>location.href = {site.url('/frame')!r}</script>"
    image = render_html(solid("#0f0", nav), RenderSpec(width=50, height=50))
    assert not site.requested("/frame")
    assert image.width == 50


# --- failures ------------------------------------------------------------------------------


def test_an_upstream_5xx_is_upstream_failed_with_its_status(site):
    site.add("/boom", Reply("down", status=503))
    with pytest.raises(BrowserRenderError) as failed:
        screenshot(ScreenshotSpec(url=site.url("/boom"), format="png"))
    assert failed.value.code == "UPSTREAM_FAILED"
    assert failed.value.details == {"status": 503}


def test_an_unreachable_target_is_upstream_failed(settings):
    closed = FixtureServer("127.0.0.1")
    endpoint, url = closed.endpoint, closed.url("/")
    closed.server.server_close()  # the port is free again: nothing listens
    settings.KILN_GUARD_TEST_ENDPOINTS = [endpoint]
    with pytest.raises(BrowserRenderError) as failed:
        screenshot(ScreenshotSpec(url=url, format="png"))
    assert failed.value.code == "UPSTREAM_FAILED"


def test_a_page_that_never_finishes_loading_times_out_within_the_limit(site, settings):
    settings.KILN_BROWSER_NAVIGATION_TIMEOUT = 1.5
    site.add("/hang", Reply(hang=True))
    site.add("/slow-parts", solid("#fff", "<img src='/hang'>"))
    for path in ("/hang", "/slow-parts"):
        started = time.monotonic()
        with pytest.raises(BrowserRenderError) as failed:
            screenshot(ScreenshotSpec(url=site.url(path), format="png"))
        assert failed.value.code == "RENDER_TIMEOUT"
        assert time.monotonic() - started < 3.5


def test_the_render_timeout_bounds_the_whole_job(site, settings):
    settings.KILN_BROWSER_RENDER_TIMEOUT = 1.5
    site.add("/never", solid("#fff"))
    started = time.monotonic()
    with pytest.raises(BrowserRenderError) as failed:
        screenshot(ScreenshotSpec(url=site.url("/never"), format="png", wait_for="#never-there"))
    assert failed.value.code == "RENDER_TIMEOUT"
    assert time.monotonic() - started < 3.5


# --- the pool -------------------------------------------------------------------------------


def test_the_browser_is_recycled_after_max_renders(settings, pool):
    settings.KILN_BROWSER_MAX_RENDERS = 2
    render_html(solid("#fff"), RenderSpec(width=10, height=10))
    launches, pid = pool.launches, pool.browser_pid()
    for _ in range(3):
        render_html(solid("#fff"), RenderSpec(width=10, height=10))
    assert pool.launches > launches and pool.browser_pid() != pid


def test_the_browser_is_recycled_when_its_memory_passes_the_limit(pool, monkeypatch):
    render_html(solid("#fff"), RenderSpec(width=10, height=10))
    measured = browser.process_tree_rss_mb(pool.browser_pid())
    assert 20 < measured < 2000  # a real reading of the Chromium tree
    launches = pool.launches
    # Over the limit between jobs (a slow leak): the next job gets a new browser. Faked
    # reading, because a real tree over the limit would also trip the watch during a job.
    monkeypatch.setattr(browser_pool, "process_tree_rss_mb", lambda pid: 10.0**6)
    for _ in range(browser_pool.RSS_CHECK_EVERY + 1):
        render_html(solid("#fff"), RenderSpec(width=10, height=10))
    assert pool.launches > launches


def test_a_killed_chromium_is_relaunched_for_the_next_render(pool):
    render_html(solid("#fff"), RenderSpec(width=10, height=10))
    pid = pool.browser_pid()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    image = render_html(solid("#00ff00"), RenderSpec(width=10, height=10))
    assert pixel(image, 5, 5) == LIME
    assert pool.browser_pid() not in (None, pid)


def test_a_job_whose_chromium_is_killed_mid_render_is_retried_and_succeeds(site, pool):
    site.add("/slow.png", Reply(b"", content_type="image/png", delay=1.0))
    site.add("/slow-page", solid("#0f0", "<img src='/slow.png'>"))
    warm = ScreenshotSpec(url=site.url("/slow-page"), width=100, height=100, format="png")
    screenshot(warm)
    site.hits.clear()
    outcome: dict[str, object] = {}

    def render() -> None:
        try:
            outcome["image"] = screenshot(
                ScreenshotSpec(
                    url=site.url("/slow-page"), width=100, height=100, dpr=1, format="png"
                )
            )
        except Exception as exc:  # reported below
            outcome["error"] = exc

    worker = threading.Thread(target=render)
    worker.start()
    assert site.wait_for("/slow.png")
    pid = pool.browser_pid()
    os.kill(pid, signal.SIGKILL)
    worker.join(20)
    assert "error" not in outcome, outcome.get("error")
    assert pixel(outcome["image"], 50, 50) == LIME
    assert pool.browser_pid() not in (None, pid)
    assert site.paths().count("/slow-page") == 2  # the retry loaded it again


def test_a_page_that_allocates_without_end_fails_cleanly_and_the_pool_survives(settings, pool):
    render_html(solid("#fff"), RenderSpec(width=10, height=10))
    # ArrayBuffers live outside V8's heap cap: only the pool's memory watch stops them.
    settings.KILN_BROWSER_MAX_RSS_MB = browser.process_tree_rss_mb(pool.browser_pid()) + 300
    hog = "<script>const keep = []; for (;;) keep.push(new Uint8Array(32 << 20).fill(7));</script>"
    started = time.monotonic()
    with pytest.raises(BrowserRenderError) as failed:
        render_html(hog, RenderSpec(width=10, height=10))
    assert failed.value.code == "RENDER_FAILED"
    assert time.monotonic() - started < 8
    image = render_html(solid("#00ff00"), RenderSpec(width=10, height=10))
    assert pixel(image, 5, 5) == LIME


# --- the guard's test exemption and the fetcher's options ------------------------------------


def test_an_exempt_endpoint_is_exactly_one_address_and_port():
    policy = GuardPolicy(exempt_endpoints=frozenset({"127.0.0.1:8080", ("::1", 9090)}))
    assert check_url("http://127.0.0.1:8080/", policy) == ("http", "127.0.0.1", 8080)
    assert check_url("http://0x7f000001:8080/", policy)[1] == "127.0.0.1"  # same endpoint
    assert check_url("http://[::1]:9090/", policy)[2] == 9090
    assert resolve_and_check("127.0.0.1", 8080, policy) == ["127.0.0.1"]
    for url in (
        "http://127.0.0.1:8081/",
        "http://127.0.0.2:8080/",
        "http://[::ffff:127.0.0.1]:8080/",
        "http://localhost:8080/",
    ):
        with pytest.raises(Exception) as refused:
            check_url(url, policy)
        assert refused.value.code == "FORBIDDEN_ADDRESS", url


def test_cloud_metadata_is_never_exempt():
    policy = GuardPolicy(exempt_endpoints=frozenset({"169.254.169.254:80"}))
    with pytest.raises(Exception) as refused:
        check_url("http://169.254.169.254/", policy)
    assert refused.value.code == "FORBIDDEN_ADDRESS"


def test_the_fetcher_can_hand_back_redirects_error_statuses_and_repeated_headers(site):
    policy = GuardPolicy(exempt_endpoints=frozenset({site.endpoint}))
    site.add("/moved", Reply(b"", status=302, headers={"Location": "http://10.0.0.1/"}))
    site.add("/missing", Reply("nope", status=404, headers={"Set-Cookie": ["a=1", "b=2"]}))
    moved = guarded_fetch(site.url("/moved"), policy=policy, follow_redirects=False)
    assert (moved.status, moved.headers["location"]) == (302, "http://10.0.0.1/")
    missing = guarded_fetch(site.url("/missing"), policy=policy, raise_for_status=False)
    assert (missing.status, missing.content) == (404, b"nope")
    assert [v for k, v in missing.raw_headers if k == "set-cookie"] == ["a=1", "b=2"]

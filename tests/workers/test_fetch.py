"""The guarded fetcher against local fixture servers on 127.0.0.1 (never the internet).

The fixture servers are loopback, so most tests pass `GuardPolicy(allow_private=True)`;
the tests of the default policy prove the same requests are refused without it.
"""

from __future__ import annotations

import datetime
import io
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from workers.address_guard import (
    FORBIDDEN_ADDRESS,
    HOST_NOT_ALLOWED,
    BlockedAddress,
    GuardPolicy,
)
from workers.fetch import (
    TOO_LARGE,
    UPSTREAM_FAILED,
    VALIDATION_FAILED,
    FetchError,
    _Deadline,
    _fetch_pinned,
    fetch_image,
    guarded_fetch,
    sniff_image_type,
)

ALLOW_PRIVATE = GuardPolicy(allow_private=True)


def make_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def make_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (30, 200, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


PNG = make_png()
JPEG = make_jpeg()
HTML = b"<!doctype html><html><body><svg></svg><p>not an image</p></body></html>"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'


@dataclass
class Seen:
    method: str
    path: str
    host: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FixtureServer:
    server: ThreadingHTTPServer
    requests: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fixture: FixtureServer  # set on a per-server subclass

    def log_message(self, format, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def send(self, status: int, content_type: str | None, body: bytes, **headers: str):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def route(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.fixture.requests.append(
            Seen(self.command, parts.path, self.headers.get("Host", ""), dict(self.headers), body)
        )
        path = parts.path
        if path == "/png":
            self.send(200, "image/png", PNG)
        elif path == "/jpeg-as-png":
            self.send(200, "image/png", JPEG)
        elif path == "/svg":
            self.send(200, "image/svg+xml; charset=utf-8", SVG)
        elif path == "/svg-as-png":
            self.send(200, "image/png", SVG)
        elif path == "/page.html":
            self.send(200, "text/html; charset=utf-8", HTML)
        elif path == "/lying":
            self.send(200, "image/png", HTML)
        elif path == "/echo":
            seen = {"method": self.command, "host": self.headers.get("Host"), "body": body.hex()}
            seen["headers"] = {k.lower(): v for k, v in self.headers.items()}
            self.send(200, "application/json", json.dumps(seen).encode())
        elif path.startswith("/status/"):
            self.send(int(path.rsplit("/", 1)[1]), "text/plain", b"upstream says no")
        elif path == "/redirect":
            status = int(query.get("status", ["302"])[0])
            self.send(status, None, b"", Location=query["to"][0])
        elif path == "/loop":
            self.send(302, None, b"", Location="/loop")
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self.send(302, None, b"", Location=f"/chain/{left - 1}" if left > 1 else "/png")
        elif path == "/huge":
            self.stream_forever()
        elif path == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "50000000")
            self.end_headers()
            self.quietly(lambda: self.wfile.write(PNG))
        elif path == "/slow":
            self.fixture.stop.wait(5)
            self.quietly(lambda: self.send(200, "image/png", PNG))
        elif path == "/drip":
            self.drip()
        elif path == "/drip-headers":
            self.drip(head=b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"a" * 500 + b"\r\n\r\n")
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG) + 100))
            self.end_headers()
            self.wfile.write(PNG)
            self.close_connection = True
        else:
            self.send(404, "text/plain", b"no such fixture")

    def quietly(self, action):
        try:
            action()
        except OSError:  # the client hung up, as the tests intend
            self.close_connection = True

    def stream_forever(self):
        """Chunked, no Content-Length, ~20 MB unless the client hangs up first."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"\x89PNG\r\n\x1a\n" + b"\0" * (64 * 1024 - 8)

        def write():
            for _ in range(320):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

        self.quietly(write)

    def drip(self, head: bytes | None = None):
        """A byte every 0.1 s: each recv is quick, the total is not. Without `head`, the
        headers come at once and the body drips; with it, `head` itself drips."""
        if head is None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1000")
            self.end_headers()
        payload = head or (PNG * 100)[:1000]

        def write():
            for byte in payload:
                if self.fixture.stop.wait(0.1):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

        self.quietly(write)


def start_server(tls: ssl.SSLContext | None = None) -> FixtureServer:
    handler = type("BoundHandler", (Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False
    fixture = FixtureServer(server)
    handler.fixture = fixture
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: fixture.sni.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return fixture


def stop_server(fixture: FixtureServer) -> None:
    fixture.stop.set()
    fixture.server.shutdown()
    fixture.server.server_close()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FixtureServer, FixtureServer]]:
    first, second = start_server(), start_server()
    yield first, second
    stop_server(first)
    stop_server(second)


@pytest.fixture
def server(servers) -> FixtureServer:
    servers[0].requests.clear()
    return servers[0]


@pytest.fixture
def other_server(servers) -> FixtureServer:
    servers[1].requests.clear()
    return servers[1]


# --- the happy path ---------------------------------------------------------------------


def test_fetches_an_image_and_reports_its_type_and_headers(server):
    result = fetch_image(server.url("/png"), policy=ALLOW_PRIVATE)
    assert result.status == 200
    assert result.content == PNG
    assert result.content_type == "image/png"
    assert result.headers["content-type"] == "image/png"
    assert result.url == server.url("/png")


def test_sends_the_host_header_of_the_url_and_its_own_user_agent(server):
    result = guarded_fetch(server.url("/echo?x=1"), policy=ALLOW_PRIVATE)
    seen = json.loads(result.content)
    assert seen["host"] == f"127.0.0.1:{server.port}"
    assert seen["headers"]["user-agent"].startswith("Kiln/")
    assert seen["headers"]["connection"] == "close"
    assert result.content_type == "application/json"


def test_a_caller_cannot_choose_the_host_header(server):
    result = guarded_fetch(
        server.url("/echo"), headers={"Host": "internal.example", "X-Ok": "1"}, policy=ALLOW_PRIVATE
    )
    seen = json.loads(result.content)
    assert seen["host"] == f"127.0.0.1:{server.port}"
    assert seen["headers"]["x-ok"] == "1"


def test_header_values_with_line_breaks_are_refused_before_connecting(server):
    with pytest.raises(FetchError) as caught:
        guarded_fetch(server.url("/echo"), headers={"X-Evil": "a\r\nHost: x"}, policy=ALLOW_PRIVATE)
    assert caught.value.code == VALIDATION_FAILED
    assert "a\r\n" not in caught.value.message  # values may be secrets: never echoed
    assert server.requests == []


def test_posts_a_body(server):
    result = guarded_fetch(
        server.url("/echo"),
        method="POST",
        body=b'{"event":"render.completed"}',
        headers={"Content-Type": "application/json"},
        policy=ALLOW_PRIVATE,
    )
    seen = json.loads(result.content)
    assert seen["method"] == "POST"
    assert bytes.fromhex(seen["body"]) == b'{"event":"render.completed"}'


# --- the default policy -----------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]"]
)
def test_the_default_policy_refuses_the_fixture_server_in_every_spelling(server, host):
    with pytest.raises(BlockedAddress) as caught:
        guarded_fetch(f"http://{host}:{server.port}/png", policy=GuardPolicy())
    assert caught.value.code == FORBIDDEN_ADDRESS
    assert server.requests == []


def test_without_a_policy_the_settings_defaults_refuse_loopback(server, settings):
    for name in ("KILN_ALLOW_PRIVATE_TARGETS", "KILN_ALLOWED_HOSTS"):
        if hasattr(settings, name):
            delattr(settings, name)
    with pytest.raises(BlockedAddress) as caught:
        fetch_image(server.url("/png"))
    assert caught.value.code == FORBIDDEN_ADDRESS
    assert server.requests == []


def test_without_a_policy_the_operator_settings_apply(server, settings):
    settings.KILN_ALLOW_PRIVATE_TARGETS = True
    settings.KILN_ALLOWED_HOSTS = []
    assert fetch_image(server.url("/png")).content == PNG


def test_a_host_off_the_allow_list_is_refused_by_name(server):
    policy = GuardPolicy(allow_private=True, allowed_hosts=frozenset({"images.example.com"}))
    with pytest.raises(BlockedAddress) as caught:
        fetch_image(server.url("/png"), policy=policy)
    assert caught.value.code == HOST_NOT_ALLOWED
    assert caught.value.message == "host_not_allowed:127.0.0.1"
    allowed = GuardPolicy(allow_private=True, allowed_hosts=frozenset({"127.0.0.1"}))
    assert fetch_image(server.url("/png"), policy=allowed).content == PNG


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/", "data:image/png;base64,AAAA", "chrome://gpu"]
)
def test_only_http_and_https_are_fetched(url):
    with pytest.raises(BlockedAddress) as caught:
        guarded_fetch(url, policy=ALLOW_PRIVATE)
    assert caught.value.code == VALIDATION_FAILED


# --- DNS rebinding: the connection goes to the address that was checked ---------------


def test_the_connection_goes_to_the_checked_address_not_a_new_lookup(server):
    # "rebind.invalid" resolves nowhere; the request still reaches the fixture server
    # because the fetcher connects to the address it was handed and never resolves again.
    hop = _fetch_pinned(
        "http",
        "rebind.invalid",
        server.port,
        ["127.0.0.1"],
        method="GET",
        target="/echo",
        headers={"Connection": "close"},
        body=None,
        max_bytes=10_000,
        deadline=_Deadline(5),
    )
    assert hop.status == 200
    assert json.loads(hop.content)["host"] == f"rebind.invalid:{server.port}"
    assert server.requests[-1].host == f"rebind.invalid:{server.port}"


def test_a_name_is_resolved_once_per_hop_so_a_changed_answer_cannot_be_used(server, monkeypatch):
    # A rebinding resolver: the first answer is the one that gets checked; any later
    # lookup would get an unroutable address and fail.
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != "rebind.test":
            return real(host, port, family, type, proto, flags)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "192.0.2.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    result = guarded_fetch(f"http://rebind.test:{server.port}/echo", policy=ALLOW_PRIVATE)
    assert json.loads(result.content)["host"] == f"rebind.test:{server.port}"
    assert lookups == ["rebind.test"]


# --- redirects --------------------------------------------------------------------------


def test_follows_a_redirect_to_another_path(server):
    result = fetch_image(server.url("/redirect?to=/png"), policy=ALLOW_PRIVATE)
    assert result.content == PNG
    assert result.url == server.url("/png")
    assert [r.path for r in server.requests] == ["/redirect", "/png"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_followed(server, status):
    result = fetch_image(server.url(f"/redirect?status={status}&to=/png"), policy=ALLOW_PRIVATE)
    assert result.content == PNG


def test_a_redirect_to_cloud_metadata_is_refused_at_the_hop(server):
    with pytest.raises(BlockedAddress) as caught:
        fetch_image(
            server.url("/redirect?to=http://169.254.169.254/latest/meta-data/"),
            policy=ALLOW_PRIVATE,
        )
    assert caught.value.code == FORBIDDEN_ADDRESS
    assert [r.path for r in server.requests] == ["/redirect"]


def test_a_redirect_to_a_private_address_is_refused_under_the_default_policy(monkeypatch):
    # The first hop is a public name (faked DNS answer, so nothing leaves the machine);
    # the guard stops the second hop before any connection to 10.0.0.1.
    from workers import fetch

    def first_hop(*args, **kwargs):
        return fetch._Hop(302, {}, b"", "http://10.0.0.1/admin")

    monkeypatch.setattr(fetch, "_resolve", lambda *args: ["93.184.216.34"])
    monkeypatch.setattr(fetch, "_fetch_pinned", first_hop)
    with pytest.raises(BlockedAddress) as caught:
        guarded_fetch("http://images.example.com/logo.png", policy=GuardPolicy())
    assert caught.value.code == FORBIDDEN_ADDRESS


def test_a_redirect_to_a_file_url_is_refused(server):
    with pytest.raises(BlockedAddress) as caught:
        guarded_fetch(server.url("/redirect?to=file:///etc/passwd"), policy=ALLOW_PRIVATE)
    assert caught.value.code == VALIDATION_FAILED


def test_a_redirect_loop_stops_at_the_limit(server):
    with pytest.raises(FetchError) as caught:
        guarded_fetch(server.url("/loop"), max_redirects=3, policy=ALLOW_PRIVATE)
    assert caught.value.code == UPSTREAM_FAILED
    assert "redirects" in caught.value.message
    assert len(server.requests) == 4  # the first request and three followed redirects


def test_exactly_max_redirects_is_allowed(server):
    assert fetch_image(server.url("/chain/5"), policy=ALLOW_PRIVATE).content == PNG
    with pytest.raises(FetchError):
        guarded_fetch(server.url("/chain/6"), policy=ALLOW_PRIVATE)
    with pytest.raises(FetchError):
        guarded_fetch(server.url("/chain/1"), max_redirects=0, policy=ALLOW_PRIVATE)


def test_303_turns_a_post_into_a_get_without_the_body(server):
    result = guarded_fetch(
        server.url("/redirect?status=303&to=/echo"),
        method="POST",
        body=b"secret payload",
        policy=ALLOW_PRIVATE,
    )
    seen = json.loads(result.content)
    assert seen["method"] == "GET"
    assert seen["body"] == ""


def test_307_keeps_the_method_and_body(server):
    result = guarded_fetch(
        server.url("/redirect?status=307&to=/echo"),
        method="POST",
        body=b"payload",
        policy=ALLOW_PRIVATE,
    )
    seen = json.loads(result.content)
    assert (seen["method"], bytes.fromhex(seen["body"])) == ("POST", b"payload")


def test_credentials_do_not_follow_a_redirect_to_another_origin(server, other_server):
    credentials = {"Authorization": "Bearer sk_live_x", "Cookie": "session=1", "X-Trace": "t"}
    elsewhere = other_server.url("/echo")
    result = guarded_fetch(
        server.url(f"/redirect?to={elsewhere}"), headers=credentials, policy=ALLOW_PRIVATE
    )
    seen = json.loads(result.content)["headers"]
    assert "authorization" not in seen
    assert "cookie" not in seen
    assert seen["x-trace"] == "t"
    same_origin = guarded_fetch(
        server.url("/redirect?to=/echo"), headers=credentials, policy=ALLOW_PRIVATE
    )
    assert json.loads(same_origin.content)["headers"]["authorization"] == "Bearer sk_live_x"


# --- limits -----------------------------------------------------------------------------


def test_a_declared_oversized_body_is_refused_before_reading_it(server):
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/huge-declared"), max_bytes=1_000_000, policy=ALLOW_PRIVATE)
    assert caught.value.code == TOO_LARGE
    assert time.monotonic() - started < 2


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(server):
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/huge"), max_bytes=200_000, policy=ALLOW_PRIVATE)
    assert caught.value.code == TOO_LARGE


def test_a_body_exactly_at_the_limit_is_accepted(server):
    assert fetch_image(server.url("/png"), max_bytes=len(PNG), policy=ALLOW_PRIVATE).content
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/png"), max_bytes=len(PNG) - 1, policy=ALLOW_PRIVATE)
    assert caught.value.code == TOO_LARGE


def test_a_slow_server_hits_the_deadline(server):
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/slow"), timeout=0.5, policy=ALLOW_PRIVATE)
    assert caught.value.code == UPSTREAM_FAILED
    assert "timed out" in caught.value.message
    assert time.monotonic() - started < 2


def test_the_deadline_covers_the_whole_body_not_each_read(server):
    # Every byte arrives well within any per-read timeout; the total does not.
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/drip"), timeout=0.6, policy=ALLOW_PRIVATE)
    assert "timed out" in caught.value.message
    assert time.monotonic() - started < 1.6


def test_the_deadline_covers_headers_that_trickle_in(server):
    # http.client reads header lines with many recv() calls; only the watchdog bounds them.
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        guarded_fetch(server.url("/drip-headers"), timeout=0.6, policy=ALLOW_PRIVATE)
    assert "timed out" in caught.value.message
    assert time.monotonic() - started < 1.6


def test_the_deadline_covers_every_redirect_hop(server):
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/redirect?to=/slow"), timeout=0.5, policy=ALLOW_PRIVATE)
    assert "timed out" in caught.value.message
    assert time.monotonic() - started < 2


# --- upstream failures ------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 404, 403])
def test_an_error_status_is_an_upstream_failure_carrying_the_status(server, status):
    with pytest.raises(FetchError) as caught:
        guarded_fetch(server.url(f"/status/{status}"), policy=ALLOW_PRIVATE)
    assert caught.value.code == UPSTREAM_FAILED
    assert caught.value.status == status
    assert "upstream says no" not in caught.value.message  # bodies are never echoed


def test_a_body_shorter_than_its_content_length_is_an_upstream_failure(server):
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/truncated"), policy=ALLOW_PRIVATE)
    assert caught.value.code == UPSTREAM_FAILED
    assert "early" in caught.value.message


def test_a_closed_port_is_an_upstream_failure():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError) as caught:
        guarded_fetch(f"http://127.0.0.1:{port}/", timeout=2, policy=ALLOW_PRIVATE)
    assert caught.value.code == UPSTREAM_FAILED
    assert caught.value.status is None


# --- content types ----------------------------------------------------------------------


def test_a_lying_content_type_cannot_pass_html_off_as_an_image(server):
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/lying"), policy=ALLOW_PRIVATE)
    assert caught.value.code == VALIDATION_FAILED


def test_a_non_image_content_type_is_refused(server):
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/page.html"), policy=ALLOW_PRIVATE)
    assert caught.value.code == VALIDATION_FAILED
    assert "text/html" in caught.value.message


def test_svg_is_accepted_only_when_declared_as_svg(server):
    assert fetch_image(server.url("/svg"), policy=ALLOW_PRIVATE).content_type == "image/svg+xml"
    with pytest.raises(FetchError) as caught:
        fetch_image(server.url("/svg-as-png"), policy=ALLOW_PRIVATE)
    assert caught.value.code == VALIDATION_FAILED


def test_a_raster_image_under_the_wrong_raster_type_reports_what_it_is(server):
    result = fetch_image(server.url("/jpeg-as-png"), policy=ALLOW_PRIVATE)
    assert result.content_type == "image/jpeg"
    assert result.headers["content-type"] == "image/png"


def test_allowed_types_are_content_type_prefixes(server):
    page = guarded_fetch(
        server.url("/page.html"), allowed_types=("text/html",), policy=ALLOW_PRIVATE
    )
    assert page.content_type == "text/html"
    with pytest.raises(FetchError):
        guarded_fetch(
            server.url("/page.html"), allowed_types=("application/json",), policy=ALLOW_PRIVATE
        )


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "image/avif"),
        (b"\x00\x00\x01\x00\x01\x00", "image/x-icon"),
        (SVG, "image/svg+xml"),
        (b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (b"<!-- logo --><!DOCTYPE svg><svg>", "image/svg+xml"),
        (HTML, None),
        (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><svg/>', None),
        (b"<svgx>", None),
        (b"", None),
        (b"%PDF-1.7", None),
    ],
)
def test_image_sniffing_trusts_bytes_not_labels(head, expected):
    assert sniff_image_type(head) == expected


# --- HTTPS: SNI and certificate checks use the host name, not the pinned address -------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kiln test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiln.test")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("kiln.test")]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (directory / "leaf.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory


@pytest.fixture(scope="module")
def tls_server(tls_files) -> Iterator[FixtureServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files / "leaf.pem", tls_files / "leaf.key")
    fixture = start_server(tls=context)
    yield fixture
    stop_server(fixture)


def fetch_over_tls(tls_server: FixtureServer, tls_files, host: str):
    client = ssl.create_default_context(cafile=str(tls_files / "ca.pem"))
    return _fetch_pinned(
        "https",
        host,
        tls_server.port,
        ["127.0.0.1"],
        method="GET",
        target="/echo",
        headers={"Connection": "close"},
        body=None,
        max_bytes=10_000,
        deadline=_Deadline(5),
        tls_context=client,
    )


def test_https_to_a_pinned_address_uses_the_host_name_for_sni_and_certificate(
    tls_server, tls_files
):
    tls_server.sni.clear()
    hop = fetch_over_tls(tls_server, tls_files, "kiln.test")
    assert hop.status == 200
    assert json.loads(hop.content)["host"] == f"kiln.test:{tls_server.port}"
    assert tls_server.sni == ["kiln.test"]


def test_https_refuses_a_certificate_for_another_name(tls_server, tls_files):
    with pytest.raises(FetchError) as caught:
        fetch_over_tls(tls_server, tls_files, "other.test")
    assert caught.value.code == UPSTREAM_FAILED
    assert "tls" in caught.value.message


def test_https_verifies_against_the_system_trust_store_by_default(tls_server):
    # The real fetcher's context does not know the test CA: refused, not silently trusted.
    with pytest.raises(FetchError) as caught:
        guarded_fetch(tls_server.url("/echo", scheme="https"), policy=ALLOW_PRIVATE)
    assert caught.value.code == UPSTREAM_FAILED

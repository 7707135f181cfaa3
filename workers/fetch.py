"""Kiln's one guarded HTTP client: every outbound fetch Kiln makes itself goes through here.

`guarded_fetch` checks each URL with `workers.address_guard`, resolves the host once,
and connects to exactly the address that was checked (the `Host` header, TLS SNI and
certificate verification still use the original name), so a DNS answer that changes
between check and connect (rebinding) cannot redirect the request. Redirects are
followed by hand and every hop goes through the guard again. One deadline bounds DNS,
connect, every hop and the body; the body is streamed and cut off at `max_bytes` (an
error, or with `truncate=True` the first `max_bytes` kept: a webhook's answer excerpt);
`allowed_types` checks the Content-Type, and images are also sniffed so a lying header
cannot pass HTML off as a PNG.

Errors:

- `BlockedAddress` (from `workers.address_guard`, propagated unchanged; codes
  VALIDATION_FAILED / HOST_NOT_ALLOWED / FORBIDDEN_ADDRESS / UNRESOLVABLE) when the
  first URL or any redirect hop may not be fetched;
- `FetchError` with `code`:
  - `UPSTREAM_FAILED`  unreachable, TLS failure, timed out, malformed response, too
    many redirects, or an HTTP status ≥ 400 (then `.status` holds it) → 502;
  - `TOO_LARGE`        the body is over `max_bytes` (declared or streamed) → 413;
  - `VALIDATION_FAILED` the Content-Type is not allowed or the bytes are not the image
    they claim to be → 400.

Request/response headers and bodies are never logged or put in error messages: they can
carry credentials (screenshot cookies, webhook signatures).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import string
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from workers.address_guard import (
    BlockedAddress,
    GuardPolicy,
    check_url,
    policy_from_settings,
    resolve_and_check,
)

__all__ = [
    "TOO_LARGE",
    "UPSTREAM_FAILED",
    "VALIDATION_FAILED",
    "BlockedAddress",  # re-exported: callers catch (BlockedAddress, FetchError) from here
    "FetchError",
    "FetchResult",
    "fetch_image",
    "guarded_fetch",
    "sniff_image_type",
]

UPSTREAM_FAILED = "UPSTREAM_FAILED"
TOO_LARGE = "TOO_LARGE"
VALIDATION_FAILED = "VALIDATION_FAILED"

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Kiln/0.1 (guarded fetcher)"
CHUNK_SIZE = 64 * 1024
SNIFF_BYTES = 4096

# Headers the fetcher owns: framing and routing are ours to set, never the caller's (a
# caller's Host would address a different virtual host than the one checked).
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "trailer"}
)
# Credentials that must not follow a redirect to another origin (what browsers and
# requests do too).
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_METHOD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ-")
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
# Characters left alone when re-encoding a path/query: RFC 3986 reserved + unreserved and
# "%" so existing escapes survive; spaces and non-ASCII become %XX as a browser sends them.
_SAFE_TARGET_CHARS = "/?#[]@!$&'()*+,;=:-._~%"


class FetchError(Exception):
    """A guarded fetch that reached (or tried to reach) an allowed target and failed."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The target's HTTP status when it answered with an error, else None.
        self.status = status

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class FetchResult:
    """The final response. `url` is after redirects; `headers` has lowercase names
    (repeated headers joined with ", "); `content_type` is the media type without
    parameters, lowercase; for sniffed images it is the sniffed type, not the claim."""

    url: str
    status: int
    content_type: str
    content: bytes
    headers: dict[str, str]
    # Every header line as received (lowercase names, repeats kept): Set-Cookie cannot be
    # joined with ", " like the others, and the browser pool hands cookies on to a page.
    raw_headers: tuple[tuple[str, str], ...] = ()


# --- deadline -------------------------------------------------------------------------


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def expired_error(self) -> FetchError:
        return FetchError(UPSTREAM_FAILED, f"timed out after {self.seconds:g}s")

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise self.expired_error()
        return left


class _Watchdog:
    """Shuts a socket down when the deadline passes.

    Socket timeouts bound each recv(), not the total: a server dripping one byte a second
    would keep a reader alive forever. shutdown() from another thread wakes any blocked
    recv/send/TLS handshake at once. It works on the file descriptor because the TLS
    wrapper takes the descriptor over from the plain socket mid-handshake; the lock makes
    sure the descriptor is never shut after `disarm()`, when it may have been closed and
    reused by another connection.
    """

    def __init__(self, deadline: _Deadline) -> None:
        self._deadline = deadline
        self._lock = threading.Lock()
        self._fd = -1
        self._timer: threading.Timer | None = None
        self.fired = False

    def arm(self, sock: socket.socket) -> None:
        with self._lock:
            self._fd = sock.fileno()
        timer = threading.Timer(self._deadline.remaining(), self._fire)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._fd < 0:
                return
            self.fired = True
            try:
                borrowed = socket.socket(fileno=self._fd)
                try:
                    borrowed.shutdown(socket.SHUT_RDWR)
                finally:
                    borrowed.detach()  # the connection still owns the descriptor
            except OSError:
                pass

    def disarm(self) -> None:
        with self._lock:
            self._fd = -1
        if self._timer is not None:
            self._timer.cancel()


# --- connections pinned to a checked address ------------------------------------------


def _connect_socket(address: str, port: int, timeout: float) -> socket.socket:
    # AI_NUMERICHOST: the address is already an IP; make sure nothing resolves again.
    family, type_, proto, _canon, sockaddr = socket.getaddrinfo(
        address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
    )[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose `host` names the site (Host header) while the socket goes
    to `address`, the IP the guard checked."""

    def __init__(
        self, host: str, port: int, *, address: str, timeout: float, watchdog: _Watchdog
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned_address = address
        self.watchdog = watchdog
        self.raw_sock: socket.socket | None = None

    def _open(self) -> socket.socket:
        sock = _connect_socket(self.pinned_address, self.port, self.timeout)
        try:
            self.watchdog.arm(sock)
        except BaseException:
            sock.close()
            raise
        self.raw_sock = sock
        return sock

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """TLS to the pinned address, with SNI and certificate verification for `host`."""

    # Omit ":443" from the Host header, as http.client.HTTPSConnection does.
    default_port = http.client.HTTPS_PORT

    def __init__(self, *args, context: ssl.SSLContext, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    def connect(self) -> None:
        sock = self._open()
        # server_hostname drives both SNI and check_hostname; for an IP-literal host the
        # ssl module matches the certificate's IP SANs instead.
        self.sock = self.context.wrap_socket(sock, server_hostname=self.host)
        # The TLS wrapper now owns the descriptor; later timeouts are set on it.
        self.raw_sock = self.sock


_TLS_CONTEXT: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _TLS_CONTEXT
    if _TLS_CONTEXT is None:
        _TLS_CONTEXT = ssl.create_default_context()
    return _TLS_CONTEXT


@dataclass
class _Hop:
    status: int
    headers: dict[str, str]
    content: bytes
    location: str | None
    raw_headers: tuple[tuple[str, str], ...] = ()


def _request_target(url: str) -> str:
    parts = urlsplit(url)
    target = quote(parts.path or "/", safe=_SAFE_TARGET_CHARS)
    if parts.query:
        target += "?" + quote(parts.query, safe=_SAFE_TARGET_CHARS)
    return target


def _collect_headers(response: http.client.HTTPResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _read_body(
    response: http.client.HTTPResponse,
    sock: socket.socket,
    max_bytes: int,
    deadline: _Deadline,
    truncate: bool = False,
) -> tuple[bytes, bool]:
    """(body, truncated). Over `max_bytes` is TOO_LARGE, unless `truncate`: then the first
    `max_bytes` are kept and the rest is never read."""
    declared = response.getheader("content-length")
    if not truncate and declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise FetchError(TOO_LARGE, f"response is {int(declared)} bytes, over {max_bytes}")
    chunks: list[bytes] = []
    total = 0
    while True:
        sock.settimeout(deadline.remaining())
        # read1: at most one recv, so the deadline is re-checked between them.
        chunk = response.read1(min(CHUNK_SIZE, max_bytes + 1 - total))
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            if truncate:
                chunks.append(chunk)
                return b"".join(chunks)[:max_bytes], True
            raise FetchError(TOO_LARGE, f"response is over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks), False


def _fetch_pinned(
    scheme: str,
    host: str,
    port: int,
    addresses: list[str],
    *,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | None,
    max_bytes: int,
    deadline: _Deadline,
    tls_context: ssl.SSLContext | None = None,
    truncate: bool = False,
) -> _Hop:
    """One request for `host` to one of `addresses` (already checked by the guard), tried
    in order until one accepts the connection. Nothing is resolved here: this is where
    DNS rebinding is shut out."""
    last_error = "no address"
    for address in addresses:
        watchdog = _Watchdog(deadline)
        conn: _PinnedHTTPConnection
        if scheme == "https":
            conn = _PinnedHTTPSConnection(
                host,
                port,
                address=address,
                timeout=deadline.remaining(),
                watchdog=watchdog,
                context=tls_context or _tls_context(),
            )
        else:
            conn = _PinnedHTTPConnection(
                host, port, address=address, timeout=deadline.remaining(), watchdog=watchdog
            )
        response: http.client.HTTPResponse | None = None
        try:
            try:
                conn.connect()
            except OSError as exc:
                # The connect timeout is the whole remaining deadline.
                if watchdog.fired or isinstance(exc, TimeoutError):
                    raise deadline.expired_error() from None
                if isinstance(exc, ssl.SSLError):
                    # A TLS failure is the site's answer, not a bad address: don't retry.
                    raise FetchError(UPSTREAM_FAILED, f"tls failed for {host}") from None
                last_error = type(exc).__name__
                continue
            assert conn.raw_sock is not None
            try:
                conn.request(method, target, body=body, headers=headers)
                conn.raw_sock.settimeout(deadline.remaining())
                response = conn.getresponse()
                response_headers = _collect_headers(response)
                location = response.getheader("location")
                if response.status in REDIRECT_STATUSES and location:
                    content = b""  # a redirect's body is never used; don't wait for it
                else:
                    content, truncated = _read_body(
                        response, conn.raw_sock, max_bytes, deadline, truncate
                    )
                    # The watchdog's shutdown reads as a clean end of stream, and
                    # http.client's read1 does not flag a body shorter than its
                    # Content-Length: both would pass a truncated body off as complete.
                    if watchdog.fired:
                        raise deadline.expired_error()
                    if response.length and not truncated:
                        raise FetchError(UPSTREAM_FAILED, f"{host} ended the response early")
                raw_headers = tuple((k.lower(), v) for k, v in response.getheaders())
                return _Hop(response.status, response_headers, content, location, raw_headers)
            except (OSError, http.client.HTTPException) as exc:
                if watchdog.fired or isinstance(exc, TimeoutError):
                    raise deadline.expired_error() from None
                # The exception type only: its text could quote response bytes.
                raise FetchError(UPSTREAM_FAILED, f"{host} failed: {type(exc).__name__}") from None
        finally:
            # Disarm before closing: once closed, the descriptor number can be reused.
            watchdog.disarm()
            if response is not None:
                response.close()
            conn.close()
    raise FetchError(UPSTREAM_FAILED, f"could not connect to {host}: {last_error}")


def _resolve(host: str, port: int, policy: GuardPolicy, deadline: _Deadline) -> list[str]:
    """resolve_and_check within the deadline. getaddrinfo has no timeout of its own, so it
    runs in a daemon thread that is abandoned (and finishes on its own) if DNS hangs."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["addresses"] = resolve_and_check(host, port, policy)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="kiln-resolve", daemon=True)
    worker.start()
    worker.join(deadline.remaining())
    if worker.is_alive():
        raise FetchError(UPSTREAM_FAILED, f"timed out resolving {host}")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["addresses"]  # type: ignore[return-value]


def _prepare_headers(headers: dict[str, str] | None) -> dict[str, str]:
    prepared = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for name, value in (headers or {}).items():
        # Checked here so a bad header is the caller's VALIDATION_FAILED, not a crash deep
        # in http.client. Only the name is quoted: values may be secrets.
        if not name or any(c not in _TOKEN_CHARS for c in name):
            raise FetchError(VALIDATION_FAILED, f"invalid header name {name!r}")
        if any(c in value for c in "\r\n\0"):
            raise FetchError(VALIDATION_FAILED, f"invalid value for header {name}")
        if name.lower() in _RESERVED_HEADERS:
            continue
        for key in [k for k in prepared if k.lower() == name.lower()]:
            del prepared[key]
        prepared[name] = value
    # One request per connection: nothing is pooled across users or hops.
    prepared["Connection"] = "close"
    return prepared


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _skip_markup_prolog(text: str) -> str:
    """Drop a BOM, whitespace, `<?…?>`, comments and a DOCTYPE from the front."""
    text = text.lstrip("\ufeff")
    while True:
        text = text.lstrip()
        if text.startswith("<?"):
            closer = "?>"
        elif text.startswith("<!--"):
            closer = "-->"
        elif text[:9].lower() == "<!doctype":
            closer = ">"
        else:
            return text
        end = text.find(closer)
        if end < 0:
            return ""
        text = text[end + len(closer) :]


def sniff_image_type(head: bytes) -> str | None:
    """The image type the first bytes prove, or None. SVG counts only when its first
    element (after the XML prolog, comments and DOCTYPE) is `<svg`."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "image/avif"
    if head[:4] == b"\x00\x00\x01\x00":
        return "image/x-icon"
    text = head[:SNIFF_BYTES].decode("utf-8", errors="replace")
    rest = _skip_markup_prolog(text)
    if rest[:4].lower() == "<svg" and (len(rest) == 4 or rest[4] in " \t\r\n>/"):
        return "image/svg+xml"
    return None


def _check_type(hop: _Hop, allowed_types: tuple[str, ...] | None) -> str:
    declared = _media_type(hop.headers.get("content-type", ""))
    if allowed_types is None:
        return declared
    if not any(declared.startswith(prefix.lower()) for prefix in allowed_types):
        raise FetchError(
            VALIDATION_FAILED,
            f"content type {declared or '(none)'} is not one of {', '.join(allowed_types)}",
        )
    if not declared.startswith("image/"):
        return declared
    sniffed = sniff_image_type(hop.content[:SNIFF_BYTES])
    if sniffed is None:
        raise FetchError(VALIDATION_FAILED, f"response claims {declared} but is not an image")
    # SVG is a document that can carry script: accept it only when the server says so,
    # never hidden behind a raster type. Raster-for-raster mismatches (a JPEG served as
    # image/png) are common misconfigurations and harmless; the sniffed type is reported.
    if (sniffed == "image/svg+xml") != (declared == "image/svg+xml"):
        raise FetchError(VALIDATION_FAILED, f"response claims {declared} but is {sniffed}")
    return sniffed


def guarded_fetch(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int = 5_000_000,
    timeout: float = 10.0,
    allowed_types: tuple[str, ...] | None = None,
    max_redirects: int = 5,
    policy: GuardPolicy | None = None,
    follow_redirects: bool = True,
    raise_for_status: bool = True,
    truncate: bool = False,
) -> FetchResult:
    """Fetch `url` through the address guard. See the module docstring for the errors.

    `timeout` is one deadline for everything (DNS, connect, TLS, every redirect hop and
    the body). Redirects 301/302/303/307/308 are followed up to `max_redirects`; 303 (and
    301/302 after a POST) continue as GET without the body; credentials (Authorization,
    Cookie) are dropped when a redirect leaves the origin. `allowed_types` are
    Content-Type prefixes such as `("image/",)`; image responses are also sniffed.

    For a client that handles responses itself (the browser pool): `follow_redirects=False`
    returns a redirect as the result (its `location` header unchecked: the caller must
    guard it), and `raise_for_status=False` returns error statuses instead of raising.
    `truncate=True` keeps the first `max_bytes` of a longer body instead of failing
    TOO_LARGE (webhook deliveries record an excerpt of any answer).
    """
    method = method.upper()
    if not method or any(c not in _METHOD_CHARS for c in method):
        raise ValueError(f"invalid HTTP method {method!r}")
    if policy is None:
        policy = policy_from_settings()
    deadline = _Deadline(timeout)
    request_headers = _prepare_headers(headers)
    current_url = url.strip() if isinstance(url, str) else url
    origin: tuple[str, str, int] | None = None
    redirects = 0
    while True:
        scheme, host, port = check_url(current_url, policy)
        if origin is not None and origin != (scheme, host, port):
            request_headers = {
                k: v for k, v in request_headers.items() if k.lower() not in _CREDENTIAL_HEADERS
            }
        origin = (scheme, host, port)
        addresses = _resolve(host, port, policy, deadline)
        hop = _fetch_pinned(
            scheme,
            host,
            port,
            addresses,
            method=method,
            target=_request_target(current_url),
            headers=request_headers,
            body=body,
            max_bytes=max_bytes,
            deadline=deadline,
            truncate=truncate,
        )
        is_redirect = hop.status in REDIRECT_STATUSES and bool(hop.location)
        if is_redirect and not follow_redirects:
            return FetchResult(
                url=current_url,
                status=hop.status,
                content_type=_media_type(hop.headers.get("content-type", "")),
                content=hop.content,
                headers=hop.headers,
                raw_headers=hop.raw_headers,
            )
        if is_redirect:
            redirects += 1
            if redirects > max_redirects:
                raise FetchError(
                    UPSTREAM_FAILED, f"too many redirects (over {max_redirects})", status=hop.status
                )
            current_url = urljoin(current_url, hop.location.strip())
            if hop.status == 303 or (hop.status in (301, 302) and method == "POST"):
                if method != "HEAD":
                    method = "GET"
                body = None
                request_headers = {
                    k: v for k, v in request_headers.items() if k.lower() != "content-type"
                }
            continue
        if raise_for_status and not (200 <= hop.status < 300 or hop.status == 304):
            raise FetchError(
                UPSTREAM_FAILED, f"{host} answered HTTP {hop.status}", status=hop.status
            )
        content_type = _check_type(hop, allowed_types)
        return FetchResult(
            url=current_url,
            status=hop.status,
            content_type=content_type,
            content=hop.content,
            headers=hop.headers,
            raw_headers=hop.raw_headers,
        )


def fetch_image(
    url: str,
    *,
    max_bytes: int = 5_000_000,
    timeout: float = 10.0,
    policy: GuardPolicy | None = None,
) -> FetchResult:
    """A template's logo or background image: image/* only, sniffed, size-limited."""
    return guarded_fetch(
        url, max_bytes=max_bytes, timeout=timeout, allowed_types=("image/",), policy=policy
    )

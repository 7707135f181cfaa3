"""Local HTTP fixture servers with their own access logs (for the browser pool's tests).

Each server listens on one loopback address (127.0.0.1, 127.0.0.2, ...) on a free port,
serves the routes a test registers, and records every request it receives, so a test
can prove a request never arrived. Nothing here touches the internet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Hit:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # lowercase names
    body: bytes


@dataclass
class Reply:
    body: bytes | str = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str | list[str]] = field(default_factory=dict)  # a list: repeated
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # never answer (until the server stops)


Handler = Callable[[Hit], Reply]


class FixtureServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.hits: list[Hit] = []
        self.routes: dict[str, Reply | Handler] = {}
        self.stopping = threading.Event()
        self.arrived = threading.Condition()
        fixture = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # quiet test output
                pass

            def do_GET(self):
                fixture._serve(self)

            do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

        # port 0: a free one; a given port brings a stopped server back where it was.
        self.server = ThreadingHTTPServer((host, port), RequestHandler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- setup --

    def start(self) -> FixtureServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def endpoint(self) -> str:
        """`address:port`, as the address guard's test exemption takes it."""
        return f"{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def add(self, path: str, reply: Reply | Handler | bytes | str, **kw) -> str:
        """Serve `reply` at `path` (an exact path, query ignored); returns its URL."""
        self.routes[path] = reply if isinstance(reply, Reply | Callable) else Reply(reply, **kw)
        return self.url(path)

    # -- inspection --

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]

    def requested(self, path: str) -> bool:
        return any(urlsplit(p).path == path for p in self.paths())

    def wait_for(self, path: str, timeout: float = 10.0) -> bool:
        """Block until `path` has been requested (True) or `timeout` passes (False)."""
        end = time.monotonic() + timeout
        with self.arrived:
            while not self.requested(path):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.arrived.wait(left)
        return True

    # -- serving --

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in handler.headers.items()}
        hit = Hit(handler.command, handler.path, headers, body)
        with self.arrived:
            self.hits.append(hit)
            self.arrived.notify_all()
        route = self.routes.get(urlsplit(handler.path).path)
        if route is None:
            reply = Reply(b"no such fixture", status=404, content_type="text/plain")
        elif isinstance(route, Reply):
            reply = route
        else:
            reply = route(hit)
        if reply.hang:
            self.stopping.wait(60)
            return
        if reply.delay:
            self.stopping.wait(reply.delay)
        data = reply.body.encode() if isinstance(reply.body, str) else reply.body
        try:
            handler.send_response(reply.status)
            if reply.content_type:
                handler.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                for one in value if isinstance(value, list) else [value]:
                    handler.send_header(name, one)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timed-out render): fine

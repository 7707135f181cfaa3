"""A local stand-in for Replicate: the part of its HTTP API Kiln uses, over real HTTP.

It answers what the real `replicate` client sends (pointed at it with `base_url`):

- `POST /v1/models/{owner}/{name}/predictions`  create a prediction (201)
- `GET  /v1/predictions/{id}`                    a prediction
- `GET  /v1/webhooks/default/secret`             the account's `whsec_` signing secret
- `GET  /files/{name}`                           output files (the prediction's `output`)

and, like Replicate, runs each prediction on its own (starting → processing →
succeeded/failed) and POSTs signed webhooks (Standard Webhooks: `webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`) to the prediction's
`webhook` for the events in `webhook_events_filter`.

Tests steer a prediction with markers in its prompt:

    [nsfw]        fails like flux's safety checker
    [fail]        fails with a model error
    [no-webhook]  completes but never calls back (the poller must notice)
    [reverse]     sends "completed" before "start"
    [duplicate]   sends "completed" twice, same webhook-id
    [slow]        takes ~3.5 s instead of ~0.3 s
    [huge]        outputs a file over any sane size limit
    [html]        outputs an HTML page that claims to be a PNG
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

MODELS = {
    "black-forest-labs/flux-schnell",
    "black-forest-labs/flux-dev",
    "black-forest-labs/flux-1.1-pro",
}
NSFW_ERROR = "NSFW content detected. Try running it again, or try a different prompt."
MODEL_ERROR = "CUDA error: out of memory while sampling"


@dataclass
class SentWebhook:
    url: str
    event: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None


@dataclass
class FakeReplicate:
    token: str = "r8_fake_token"
    start_after: float = 0.1
    run_time: float = 0.2
    slow_run_time: float = 3.5
    secret: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(os.urandom(32)).decode()
    )
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    creates: list[dict[str, Any]] = field(default_factory=list)
    downloads: Counter = field(default_factory=Counter)
    secret_requests: int = 0
    secret_status: int = 200  # another status: the secret endpoint fails with it
    webhooks: list[SentWebhook] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._get(self)

            def do_POST(self) -> None:
                fake._post(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeReplicate:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def creates_for(self, marker: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.creates if marker in c["body"]["input"]["prompt"]]

    def prediction_for(self, marker: str) -> dict[str, Any]:
        with self.lock:
            found = [p for p in self.predictions.values() if marker in p["input"]["prompt"]]
        assert len(found) == 1, f"{len(found)} predictions for {marker!r}"
        return found[0]

    def webhooks_for(self, prediction_id: str) -> list[SentWebhook]:
        with self.lock:
            return [w for w in self.webhooks if json.loads(w.body)["id"] == prediction_id]

    # --- signing and delivery -------------------------------------------------------------

    def sign(
        self,
        body: bytes,
        *,
        message_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        """Standard Webhooks headers for `body`, as Replicate sends them."""
        message_id = message_id or "msg_" + os.urandom(12).hex()
        timestamp = int(time.time()) if timestamp is None else timestamp
        key = base64.b64decode((secret or self.secret).split("_", 1)[1])
        signed = f"{message_id}.{timestamp}.".encode() + body
        signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{signature}",
            "content-type": "application/json",
        }

    def deliver(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def _send(self, prediction: dict[str, Any], event: str, *, message_id: str | None = None):
        url = prediction.get("webhook")
        if not url or event not in prediction.get("webhook_events_filter", []):
            return None
        body = json.dumps(_public(prediction)).encode()
        headers = self.sign(body, message_id=message_id)
        sent = SentWebhook(url, event, headers, body)
        with self.lock:
            self.webhooks.append(sent)
        sent.status = self.deliver(url, body, headers)
        return sent

    # --- the prediction's life --------------------------------------------------------------

    def _run(self, prediction_id: str) -> None:
        prediction = self.predictions[prediction_id]
        prompt = prediction["input"]["prompt"]
        time.sleep(self.start_after)
        with self.lock:
            prediction.update(status="processing", started_at=_now())
        if "[reverse]" not in prompt and "[no-webhook]" not in prompt:
            self._send(prediction, "start")
        time.sleep(self.slow_run_time if "[slow]" in prompt else self.run_time)
        with self.lock:
            if "[nsfw]" in prompt:
                prediction.update(status="failed", error=NSFW_ERROR)
            elif "[fail]" in prompt:
                prediction.update(status="failed", error=MODEL_ERROR)
            else:
                name = "huge.png" if "[huge]" in prompt else f"{prediction_id}.png"
                if "[html]" in prompt:
                    name = "page.png"
                prediction.update(status="succeeded", output=[f"{self.url}/files/{name}"])
            prediction.update(completed_at=_now(), metrics={"predict_time": self.run_time})
        if "[no-webhook]" in prompt:
            return
        sent = self._send(prediction, "completed")
        if "[duplicate]" in prompt and sent is not None:
            self._send(prediction, "completed", message_id=sent.headers["webhook-id"])
        if "[reverse]" in prompt:
            self._send(prediction, "start")

    # --- HTTP ----------------------------------------------------------------------------------

    def _authorised(self, handler: BaseHTTPRequestHandler) -> bool:
        if handler.headers.get("Authorization") == f"Bearer {self.token}":
            return True
        _json(handler, 401, {"title": "Unauthenticated", "detail": "Invalid token.", "status": 401})
        return False

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        match = re.fullmatch(r"/v1/models/([^/]+)/([^/]+)/predictions", handler.path)
        if match is None:
            _json(handler, 404, {"detail": "Not found."})
            return
        if not self._authorised(handler):
            return
        model = f"{match[1]}/{match[2]}"
        if model not in MODELS:
            _json(handler, 404, {"title": "Model not found", "detail": model, "status": 404})
            return
        prediction_id = os.urandom(13).hex()[:26]
        prediction = {
            "id": prediction_id,
            "model": model,
            "version": "hidden",
            "status": "starting",
            "input": body.get("input", {}),
            "output": None,
            "logs": "",
            "error": None,
            "metrics": {},
            "data_removed": False,
            "created_at": _now(),
            "started_at": None,
            "completed_at": None,
            "urls": {
                "get": f"{self.url}/v1/predictions/{prediction_id}",
                "cancel": f"{self.url}/v1/predictions/{prediction_id}/cancel",
            },
            # Kept for the fake's own use; not part of the public object.
            "webhook": body.get("webhook"),
            "webhook_events_filter": body.get("webhook_events_filter") or ["completed"],
        }
        with self.lock:
            self.predictions[prediction_id] = prediction
            self.creates.append({"model": model, "body": body})
        _json(handler, 201, _public(prediction))
        threading.Thread(target=self._run, args=(prediction_id,), daemon=True).start()

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        if path.startswith("/files/"):
            self._file(handler, path.removeprefix("/files/"))
            return
        if not self._authorised(handler):
            return
        if path == "/v1/webhooks/default/secret":
            with self.lock:
                self.secret_requests += 1
            if self.secret_status != 200:
                _json(handler, self.secret_status, {"detail": "unavailable"})
                return
            _json(handler, 200, {"key": self.secret})
            return
        match = re.fullmatch(r"/v1/predictions/([a-z0-9]+)", path)
        prediction = self.predictions.get(match[1]) if match else None
        if prediction is None:
            _json(handler, 404, {"detail": "Not found.", "status": 404})
            return
        with self.lock:
            body = _public(prediction)
        _json(handler, 200, body)

    def _file(self, handler: BaseHTTPRequestHandler, name: str) -> None:
        with self.lock:
            self.downloads[name] += 1
        if name == "huge.png":
            data = output_png(1024, 1024, seed="huge", noisy=True)  # ~3 MB
            content_type = "image/png"
        elif name == "page.png":
            data = b"<!doctype html><html><body>Sign in to continue</body></html>"
            content_type = "image/png"
        else:
            prediction = self.predictions.get(name.removesuffix(".png"))
            if prediction is None:
                handler.send_error(404)
                return
            width, height = _output_size(prediction["input"])
            data = output_png(width, height, seed=name)
            content_type = "image/png"
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def output_png(width: int, height: int, *, seed: str, noisy: bool = False) -> bytes:
    """A model's "generation": a colour from the seed (noise makes it big)."""
    digest = hashlib.sha256(seed.encode()).digest()
    if noisy:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (digest[0], digest[1], digest[2]))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _output_size(model_input: dict[str, Any]) -> tuple[int, int]:
    if model_input.get("aspect_ratio") == "custom":
        return int(model_input["width"]), int(model_input["height"])
    w, h = (int(n) for n in model_input.get("aspect_ratio", "1:1").split(":"))
    scale = 320 / max(w, h)
    return round(w * scale), round(h * scale)


def _public(prediction: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prediction.items() if k not in ("webhook", "webhook_events_filter")}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)

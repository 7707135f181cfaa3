"""Replicate (https://replicate.com) through the official `replicate` client.

Predictions are created for a model (`POST /v1/models/{owner}/{name}/predictions`) with
a webhook; Replicate signs its webhooks with the Standard Webhooks scheme, verified here
against the `whsec_` secret from settings or, when none is set, the account's default
secret fetched once per process from `GET /v1/webhooks/default/secret`.

Replicate's vocabulary stops here: its statuses, output shapes and safety-filter errors
become a `ProviderPrediction`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import threading
import time
from typing import Any

import httpx
import replicate
from replicate.exceptions import ReplicateError

from ai_jobs.providers.base import (
    GenerationRequest,
    ModelSpec,
    ProviderError,
    ProviderPrediction,
    WebhookRejected,
)

# Models whose input takes an aspect ratio (Kiln crops their output to the exact size)
# and those that take width/height ("custom" aspect ratio, multiples of 32).
ASPECT_RATIO_MODELS = {
    "black-forest-labs/flux-schnell": ModelSpec(
        "black-forest-labs/flux-schnell", "standard", 64, 1440, 16
    ),
    "black-forest-labs/flux-dev": ModelSpec("black-forest-labs/flux-dev", "pro", 64, 1440, 16),
}
CUSTOM_SIZE_MODELS = {
    "black-forest-labs/flux-1.1-pro": ModelSpec(
        "black-forest-labs/flux-1.1-pro", "pro", 256, 1440, 32
    ),
}
MODELS = {**ASPECT_RATIO_MODELS, **CUSTOM_SIZE_MODELS}
ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")

# How Replicate's models and API say "the safety filter refused this": flux's checker
# ("NSFW content detected"), the API's E005 ("flagged as sensitive").
_BLOCKED = re.compile(
    r"nsfw|safety (?:checker|filter)|flagged as sensitive|\bE005\b|content moderation",
    re.IGNORECASE,
)


def nearest_aspect_ratio(width: int, height: int) -> str:
    wanted = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(int(w) / int(h)) - wanted)

    return min(ASPECT_RATIOS, key=distance)


def model_input(request: GenerationRequest) -> dict[str, Any]:
    """The prediction input for `request.model` (PNG output, one image)."""
    data: dict[str, Any] = {"prompt": request.prompt, "output_format": "png"}
    if request.seed is not None:
        data["seed"] = request.seed
    if request.model in CUSTOM_SIZE_MODELS:
        data.update(aspect_ratio="custom", width=request.width, height=request.height)
    else:
        data.update(
            aspect_ratio=nearest_aspect_ratio(request.width, request.height),
            num_outputs=1,
            # Small images need not pay for a megapixel.
            megapixels="0.25" if request.width * request.height <= 512 * 512 else "1",
        )
    return data


def is_blocked_message(message: str | None) -> bool:
    return bool(message) and bool(_BLOCKED.search(message or ""))


def prediction_from_json(data: dict[str, Any]) -> ProviderPrediction:
    """A Replicate prediction object (API answer or webhook body) in Kiln's terms."""
    prediction_id = data.get("id")
    status = data.get("status")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise ValueError("prediction has no id")
    error = data.get("error")
    error = str(error)[:2000] if error else None
    if status in ("starting", None):
        return ProviderPrediction(prediction_id, "queued")
    if status == "processing":
        return ProviderPrediction(prediction_id, "running")
    if status == "succeeded":
        output = data.get("output")
        if isinstance(output, list):
            output = next((item for item in output if isinstance(item, str)), None)
        if not isinstance(output, str) or not output:
            return ProviderPrediction(prediction_id, "failed", error="the model returned no image")
        return ProviderPrediction(prediction_id, "succeeded", output_url=output)
    if status == "failed":
        if is_blocked_message(error):
            return ProviderPrediction(prediction_id, "blocked", error=error)
        return ProviderPrediction(prediction_id, "failed", error=error or "the prediction failed")
    if status in ("canceled", "aborted"):
        return ProviderPrediction(prediction_id, "failed", error=f"the prediction was {status}")
    raise ValueError(f"unknown prediction status {status!r}")


# After a failed fetch of the webhook secret, webhooks are refused without asking again
# for this long (seconds).
SECRET_RETRY_AFTER = 60.0
SECRET_FETCH_TIMEOUT = 5.0


class ReplicateProvider:
    name = "replicate"
    models = MODELS

    def __init__(
        self,
        *,
        api_token: str,
        base_url: str,
        webhook_secret: str = "",
        webhook_tolerance: int = 300,
        timeout: float = 30.0,
    ) -> None:
        self.client = replicate.Client(
            api_token=api_token or None,
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )
        self._webhook_secret = webhook_secret
        self._api_token = api_token
        self._base_url = base_url.rstrip("/")
        self.webhook_tolerance = webhook_tolerance
        self._secret_lock = threading.Lock()
        self._secret_unavailable_until = 0.0

    # --- predictions --------------------------------------------------------------------

    def create_prediction(
        self, request: GenerationRequest, *, webhook_url: str | None
    ) -> ProviderPrediction:
        params: dict[str, Any] = {}
        if webhook_url:
            params.update(webhook=webhook_url, webhook_events_filter=["start", "completed"])
        try:
            prediction = self.client.models.predictions.create(
                model=request.model, input=model_input(request), **params
            )
        except ReplicateError as exc:
            raise _provider_error(exc) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"replicate unreachable: {type(exc).__name__}", retryable=True)
        return prediction_from_json(prediction.dict())

    def get_prediction(self, prediction_id: str) -> ProviderPrediction:
        try:
            prediction = self.client.predictions.get(prediction_id)
        except ReplicateError as exc:
            raise _provider_error(exc) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"replicate unreachable: {type(exc).__name__}", retryable=True)
        return prediction_from_json(prediction.dict())

    # --- webhooks -----------------------------------------------------------------------

    def webhook_secret(self) -> str:
        """The `whsec_` signing secret: configured, or fetched once from Replicate.

        Anyone can POST a webhook, so fetching is bounded: one fetch at a time (others
        are refused at once, not queued behind it), and after a failure none for
        SECRET_RETRY_AFTER seconds — an unauthenticated caller never makes Kiln call the
        provider more than once a minute."""
        if self._webhook_secret:
            return self._webhook_secret
        if time.monotonic() < self._secret_unavailable_until:
            raise WebhookRejected("the webhook signing secret is unavailable; retry later")
        if not self._secret_lock.acquire(blocking=False):
            raise WebhookRejected("the webhook signing secret is being fetched; retry")
        try:
            if not self._webhook_secret:
                try:
                    self._webhook_secret = self._fetch_webhook_secret()
                except (ReplicateError, httpx.HTTPError, KeyError, ValueError) as exc:
                    self._secret_unavailable_until = time.monotonic() + SECRET_RETRY_AFTER
                    raise WebhookRejected(
                        f"could not fetch the webhook signing secret: {type(exc).__name__}"
                    ) from None
        finally:
            self._secret_lock.release()
        return self._webhook_secret

    def _fetch_webhook_secret(self) -> str:
        """`GET /v1/webhooks/default/secret` once, with a short timeout and no retries:
        the replicate client retries a failing GET ten times with backoff (~50 s), too
        long for a request an anonymous webhook caused."""
        response = httpx.get(
            f"{self._base_url}/v1/webhooks/default/secret",
            headers={"Authorization": f"Bearer {self._api_token}"},
            timeout=SECRET_FETCH_TIMEOUT,
        )
        response.raise_for_status()
        return str(response.json()["key"])

    def verify_webhook(self, headers: dict[str, str], body: bytes) -> ProviderPrediction:
        """Standard Webhooks: HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed with the
        base64 part of the secret, compared in constant time with each `v1,` signature;
        timestamps further than the tolerance from now are refused (replays)."""
        lower = {name.lower(): value for name, value in headers.items()}
        message_id = lower.get("webhook-id", "")
        timestamp = lower.get("webhook-timestamp", "")
        signatures = lower.get("webhook-signature", "")
        if not (message_id and timestamp and signatures):
            raise WebhookRejected("unsigned webhook")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise WebhookRejected("bad webhook timestamp") from None
        if abs(time.time() - sent_at) > self.webhook_tolerance:
            raise WebhookRejected("stale webhook timestamp")
        secret = self.webhook_secret()
        try:
            key = base64.b64decode(secret.split("_", 1)[-1], validate=True)
        except binascii.Error:
            raise WebhookRejected("the configured webhook secret is not whsec_<base64>") from None
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        if not any(hmac.compare_digest(expected, given) for given in _v1_signatures(signatures)):
            raise WebhookRejected("bad webhook signature")
        try:
            return prediction_from_json(json.loads(body))
        except (ValueError, TypeError, AttributeError):
            raise WebhookRejected("unreadable webhook body") from None


def _v1_signatures(header: str) -> list[bytes]:
    found = []
    for part in header.split():
        version, _, value = part.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    return found


def _provider_error(exc: ReplicateError) -> ProviderError:
    message = exc.detail or exc.title or f"HTTP {exc.status}"
    status = exc.status or 0
    if status == 429 or status >= 500:
        return ProviderError(f"replicate: {message}", retryable=True)
    if is_blocked_message(message):
        return ProviderError(message, blocked=True)
    if status in (401, 403):
        return ProviderError("replicate refused the API token (REPLICATE_API_TOKEN)")
    return ProviderError(f"replicate: {message}")

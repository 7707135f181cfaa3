"""The outgoing webhook engine: sign, send, and judge one attempt (plain Python).

Kiln's deliveries follow Standard Webhooks (standardwebhooks.com):

- `webhook-id`: the message id, the same on every attempt (receivers dedupe on it);
- `webhook-timestamp`: Unix seconds of this attempt;
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with
  the base64-decoded part of a `whsec_<base64>` secret. During a secret rotation several
  secrets sign: their signatures are space-separated and a receiver accepts any.

One attempt is a POST through the guarded fetcher (`workers.fetch`): the address guard
checks the target again at connect time (DNS may have changed since the URL was
accepted), redirects are not followed, one deadline bounds everything, and at most
EXCERPT_BYTES of the answer are read. Headers and bodies are never logged or put in an
error message: the signature is derived from the secret.

What the attempt came to (`Attempt.outcome`):

- `delivered`  a 2xx answer;
- `gone`       410 Gone: the receiver asks for no more attempts;
- `refused`    the guard refused the target (a private or disallowed address): retrying
               cannot help, Kiln will not send there;
- `retry`      anything else: connection error, timeout, 429, 3xx (not followed), any
               other status. `retry_after` holds the answer's Retry-After in seconds.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from workers.address_guard import UNRESOLVABLE, GuardPolicy
from workers.fetch import BlockedAddress, FetchError, guarded_fetch

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
EXCERPT_BYTES = 1024
USER_AGENT = "Kiln-Webhooks/1"
# A Retry-After further off than this is read as this (a day): a receiver cannot park a
# delivery forever.
RETRY_AFTER_MAX = 86400.0

DELIVERED, GONE, REFUSED, RETRY = "delivered", "gone", "refused", "retry"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret, decoded as Standard Webhooks' libraries
    decode it. ValueError if it is not one."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by standard base64") from None
    if len(key) < 16:
        raise ValueError("a webhook secret needs at least 16 bytes of key")
    return key


def is_secret(secret: str) -> bool:
    try:
        secret_key(secret)
    except ValueError:
        return False
    return secret.startswith(SECRET_PREFIX)


def sign(*, secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,<base64>` per secret, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )


def signed_headers(
    *, secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets=secrets, msg_id=msg_id, timestamp=timestamp, body=body),
    }


@dataclass(frozen=True)
class Attempt:
    """What one POST came to (see the module docstring for `outcome`)."""

    outcome: str
    status: int | None
    duration_ms: int
    error: str
    excerpt: str
    retry_after: float | None = None


def send(
    url: str,
    *,
    msg_id: str,
    body: bytes,
    secrets: Sequence[str],
    timeout: float,
    policy: GuardPolicy | None = None,
) -> Attempt:
    """POST `body` to `url`, signed with every secret in `secrets`; never raises for
    anything the target or the network does."""
    timestamp = int(time.time())
    headers = signed_headers(secrets=secrets, msg_id=msg_id, timestamp=timestamp, body=body)
    started = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        answer = guarded_fetch(
            url,
            method="POST",
            body=body,
            headers=headers,
            max_bytes=EXCERPT_BYTES,
            truncate=True,
            timeout=timeout,
            follow_redirects=False,
            raise_for_status=False,
            policy=policy,
        )
    except BlockedAddress as exc:
        # A name that does not resolve may resolve later; a refused address will not pass.
        outcome = RETRY if exc.code == UNRESOLVABLE else REFUSED
        return Attempt(outcome, None, elapsed(), exc.message, "")
    except FetchError as exc:
        return Attempt(RETRY, exc.status, elapsed(), exc.message, "")
    status = answer.status
    excerpt = answer.content[:EXCERPT_BYTES].decode("utf-8", errors="replace")
    if 200 <= status < 300:
        return Attempt(DELIVERED, status, elapsed(), "", excerpt)
    if status == 410:
        return Attempt(GONE, status, elapsed(), "HTTP 410 Gone: no more attempts", excerpt)
    error = f"HTTP {status}"
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    retry_after = retry_after_seconds(answer.headers.get("retry-after", ""))
    return Attempt(RETRY, status, elapsed(), error, excerpt, retry_after)


def retry_after_seconds(value: str, *, now: float | None = None) -> float | None:
    """A Retry-After header (delay-seconds or an HTTP date) in seconds from now; None if
    absent or unreadable."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    delay = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, delay), RETRY_AFTER_MAX)


def retry_delay(
    schedule: Sequence[float],
    failures: int,
    *,
    jitter: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after `failures` failed attempts in a row, or None
    when the schedule is spent. `schedule[i]` follows the (i+1)-th failure, spread by
    ±`jitter` (a fraction) so that deliveries failing together do not retry together; a
    Retry-After is honoured (never sooner than it asks)."""
    if failures < 1 or failures > len(schedule):
        return None
    spread = (rng or random).uniform(-jitter, jitter) if jitter > 0 else 0.0
    delay = max(0.0, schedule[failures - 1] * (1 + spread))
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
    return delay

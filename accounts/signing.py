"""Signed, expiring URLs (POST /v1/sign): `/i/{token}` and `/og/…?exp=&kid=&sig=`.

A token carries the render request, the signing key's id and an expiry, signed with the
server's SECRET_KEY (django.core.signing, HMAC-SHA256). Tampering → 404, expiry → 410,
and a revoked or expired API key voids every URL it signed (→ 401).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing

from accounts.models import ApiKey
from config.errors import KilnError
from config.local_cache import TtlCache, local_cache_ttl

SALT = "kiln.signed-url.v1"
MAX_EXPIRES_IN = 365 * 86400


def signed_token_create(
    *, api_key: ApiKey, request: dict[str, Any], expires_in: int
) -> tuple[str, int]:
    expires_at = int(time.time()) + max(1, min(expires_in, MAX_EXPIRES_IN))
    token = signing.dumps(
        {"k": api_key.id, "r": request, "e": expires_at}, salt=SALT, compress=True
    )
    return token, expires_at


def signed_token_read(token: str) -> tuple[ApiKey, dict[str, Any]]:
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise KilnError("NOT_FOUND", "unknown or tampered signed URL") from None
    if payload["e"] < time.time():
        raise KilnError("GONE", "this signed URL has expired")
    return _live_key(payload["k"]), payload["r"]


def _query_signature(path: str, query: dict[str, str]) -> str:
    canonical = path + "?" + urlencode(sorted(query.items()))
    key = hashlib.sha256((settings.SECRET_KEY + SALT).encode()).digest()
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()[:32]


def signed_query_create(
    *, api_key: ApiKey, path: str, query: dict[str, str], expires_in: int
) -> str:
    expires_at = int(time.time()) + max(1, min(expires_in, MAX_EXPIRES_IN))
    signed = {**query, "exp": str(expires_at), "kid": str(api_key.id)}
    return urlencode(sorted({**signed, "sig": _query_signature(path, signed)}.items()))


def signed_query_read(*, path: str, query: dict[str, str]) -> ApiKey:
    """The key that signed this /og URL; raises for a bad, expired or revoked signature."""
    given = query.get("sig", "")
    unsigned = {k: v for k, v in query.items() if k != "sig"}
    if not hmac.compare_digest(given, _query_signature(path, unsigned)):
        raise KilnError("NOT_FOUND", "unknown or tampered signed URL")
    if int(unsigned.get("exp", "0") or 0) < time.time():
        raise KilnError("GONE", "this signed URL has expired")
    return _live_key(int(unsigned.get("kid", "0") or 0))


_signers: TtlCache[ApiKey] = TtlCache(ttl=local_cache_ttl)


def _live_key(key_id: int) -> ApiKey:
    """The signing key, kept in-process for KILN_LOCAL_CACHE_SECONDS (the bound on a
    revocation voiding its URLs everywhere)."""
    from django.utils import timezone

    api_key = _signers.get(key_id)
    if api_key is None:
        api_key = (
            ApiKey.objects.select_related("account__plan", "project").filter(id=key_id).first()
        )
        if api_key is not None:
            _signers.put(key_id, api_key)
    if api_key is None or api_key.revoked_at is not None:
        raise KilnError("UNAUTHORIZED", "the key that signed this URL has been revoked")
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        raise KilnError("UNAUTHORIZED", "the key that signed this URL has expired")
    return api_key


def signer_forget(*, key_id: int) -> None:
    _signers.discard(key_id)

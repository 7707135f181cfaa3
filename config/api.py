"""The API base every view module shares (not a view module itself): the DRF view that
counts requests and adds the rate headers, and the small HTTP helpers of image routes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.selectors import usage_images_this_month
from accounts.services import rate_limit_hit
from config.local_cache import TtlCache, local_cache_ttl

# Content-addressed and pure routes: the bytes at a URL never change.
IMMUTABLE = "public, max-age=31536000, immutable"


def base_url(request: HttpRequest) -> str:
    return settings.KILN_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")


def wants_image(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    first = accept.split(",")[0].strip().lower()
    return first.startswith("image/") or first == "application/pdf"


def etag_matches(request: HttpRequest, etag: str) -> bool:
    return bool(etag) and etag in request.headers.get("If-None-Match", "")


T = TypeVar("T")
_parsed: TtlCache[Any] = TtlCache(ttl=local_cache_ttl, max_items=20_000)


def parsed_once(
    request: Request, build: Callable[[], T], *, still_valid: Callable[[T], bool] | None = None
) -> T:
    """What `request` asks for, worked out by `build` once per distinct request (method,
    path, query, body and key) and kept for KILN_LOCAL_CACHE_SECONDS, so a repeated
    request (the common case for images) skips parsing and validation. Only what
    validated is kept: `build` raises otherwise. `still_valid` can refuse a kept answer
    (e.g. its template changed). Call it before reading request.data."""
    body = request._request.body if request.method != "GET" else b""
    key = _parsed_key(request, body, getattr(request.auth, "id", None))
    found = _parsed.get(key)
    if found is None or (still_valid is not None and not still_valid(found)):
        found = _parsed.put(key, build())
    return found


def parsed_before(request: HttpRequest, api_key: ApiKey) -> Any | None:
    """What `parsed_once` kept for this GET request and key, if anything (no parsing)."""
    return _parsed.get(_parsed_key(request, b"", api_key.id))


def _parsed_key(request: HttpRequest, body: bytes, key_id: int | None) -> tuple:
    """The one identity of a request for `parsed_once`: method, path, query, body, key."""
    return (
        request.method,
        request.path,
        request.META.get("QUERY_STRING", ""),
        hashlib.blake2b(body, digest_size=16).digest() if body else b"",
        key_id,
    )


def rate_headers(response: HttpResponse, api_key: ApiKey) -> HttpResponse:
    """The month's image usage, on every authenticated answer."""
    plan = api_key.account.plan
    used = usage_images_this_month(account=api_key.account)
    response["X-RateLimit-Limit"] = str(plan.monthly_images)
    response["X-RateLimit-Used"] = str(used)
    response["X-RateLimit-Remaining"] = str(max(0, plan.monthly_images - used))
    return response


class KilnAPIView(APIView):
    """Every authenticated answer counts against the per-minute limit and carries the
    month's image usage in X-RateLimit-* headers."""

    def check_throttles(self, request: Request) -> None:
        if request.auth is not None:
            rate_limit_hit(account=request.user)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        api_key = getattr(request, "_auth", None)
        if isinstance(api_key, ApiKey) and response.status_code not in (401, 503):
            rate_headers(response, api_key)
        return response

"""DRF authentication by API key: `Authorization: Bearer <key>`, or `?api_key=` on GET
image routes (views that set `accepts_query_key = True`)."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import Account, ApiKey
from accounts.services import api_key_authenticate


def raw_key_of(request: HttpRequest, *, query_allowed: bool) -> str | None:
    """The key a request presents: `Authorization: Bearer`, or `?api_key=` on a GET when
    `query_allowed`; None if it presents none. AuthenticationFailed for a bad header."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != "bearer" or not raw_key.strip():
            raise AuthenticationFailed("Authorization must be 'Bearer <key>'")
        return raw_key.strip()
    if request.method not in ("GET", "HEAD") or not query_allowed:
        return None
    return request.GET.get("api_key", "").strip() or None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Account, ApiKey] | None:
        view = (request.parser_context or {}).get("view")
        raw_key = raw_key_of(request, query_allowed=getattr(view, "accepts_query_key", False))
        if raw_key is None:
            return None
        api_key = api_key_authenticate(raw_key=raw_key)
        return api_key.account, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="kiln"'

"""DRF authentication by API key: `Authorization: Bearer <key>`, or `?api_key=` on GET
image routes (views that set `accepts_query_key = True`)."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import Account, ApiKey
from accounts.services import api_key_authenticate


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Account, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header:
            scheme, _, raw_key = header.partition(" ")
            if scheme.lower() != "bearer" or not raw_key.strip():
                raise AuthenticationFailed("Authorization must be 'Bearer <key>'")
        else:
            view = (request.parser_context or {}).get("view")
            if request.method not in ("GET", "HEAD") or not getattr(
                view, "accepts_query_key", False
            ):
                return None
            raw_key = request.query_params.get("api_key", "")
            if not raw_key:
                return None
        api_key = api_key_authenticate(raw_key=raw_key.strip())
        return api_key.account, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="kiln"'

"""Which kind of key a route takes: secret everywhere, publishable on GET image routes."""

from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission

from accounts.models import ApiKey


class HasSecretKey(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            raise NotAuthenticated("an API key is required: Authorization: Bearer kiln_sk_…")
        if not request.auth.is_secret:
            raise PermissionDenied("publishable keys (kiln_pk_) may only GET image routes")
        return True


class HasAnyKey(BasePermission):
    """Image routes: secret or publishable key (header or ?api_key=)."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            raise NotAuthenticated("an API key is required: ?api_key= or Authorization: Bearer")
        return True

"""The API base every view module shares (not a view module itself): the DRF view that
counts requests and adds the rate headers, and the small HTTP helpers of image routes."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.selectors import usage_images_this_month
from accounts.services import rate_limit_hit

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
            plan = api_key.account.plan
            used = usage_images_this_month(account=api_key.account)
            response["X-RateLimit-Limit"] = str(plan.monthly_images)
            response["X-RateLimit-Used"] = str(used)
            response["X-RateLimit-Remaining"] = str(max(0, plan.monthly_images - used))
        return response

"""Account routes: GET /v1/usage."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import current_month, usage_images_this_month
from config.api import KilnAPIView


class UsageApi(KilnAPIView):
    def get(self, request: Request) -> Response:
        plan = request.user.plan
        used = usage_images_this_month(account=request.user)
        return Response(
            {
                "plan": plan.slug,
                "month": current_month(),
                "images_used": used,
                "images_limit": plan.monthly_images,
                "images_remaining": max(0, plan.monthly_images - used),
                "requests_per_minute": plan.requests_per_minute,
            }
        )

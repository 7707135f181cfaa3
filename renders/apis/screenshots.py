"""POST /v1/screenshots: a page by URL on the browser queue."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import project_for_key
from config.api import KilnAPIView
from renders.responses import job_answer
from renders.serializers import ScreenshotInputSerializer, spec_options
from renders.services.kinds import screenshot_render_create
from workers.specs import ScreenshotSpec


class ScreenshotCreateApi(KilnAPIView):
    def post(self, request: Request) -> Response | HttpResponse:
        serializer = ScreenshotInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = screenshot_render_create(
            account=request.user,
            project=project_for_key(api_key=request.auth, slug=data.get("project")),
            options=spec_options(ScreenshotSpec, data),
            headers=data.get("headers"),
            cookies=data.get("cookies"),
            force=data["force"],
            webhook_url=data.get("webhook_url", ""),
        )
        return job_answer(request, job, async_mode=data["async"])

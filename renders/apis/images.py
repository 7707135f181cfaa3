"""POST /v1/images: a template, inline HTML or inline SVG, sync or async."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import project_for_key
from config.api import KilnAPIView
from renders.responses import job_answer
from renders.selectors import template_get
from renders.serializers import (
    ImageCreateInputSerializer,
    spec_options,
    template_output,
    template_params,
)
from renders.services.kinds import html_render_create, svg_render_create, template_render_create
from workers.specs import CanvasSpec


class ImageCreateApi(KilnAPIView):
    def post(self, request: Request) -> Response | HttpResponse:
        serializer = ImageCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        common = {
            "account": request.user,
            "project": project,
            "force": data["force"],
            "webhook_url": data.get("webhook_url", ""),
        }
        if "template" in data:
            template = template_get(project=project, slug=data["template"])
            job = template_render_create(
                template=template,
                params=template_params(data),
                options=template_output(data),
                **common,
            )
        elif "html" in data:
            job = html_render_create(
                html=data["html"], options=spec_options(CanvasSpec, data), **common
            )
        else:
            job = svg_render_create(
                svg=data["svg"], options=spec_options(CanvasSpec, data), **common
            )
        return job_answer(request, job, async_mode=data["async"])

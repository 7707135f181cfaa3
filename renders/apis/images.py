"""POST /v1/images: a template, inline HTML or inline SVG, sync or async."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Project
from accounts.selectors import project_for_key
from config.api import KilnAPIView, parsed_once
from renders.responses import job_answer
from renders.selectors import template_get, template_spec_current
from renders.serializers import (
    ImageCreateInputSerializer,
    spec_options,
    template_output,
    template_params,
)
from renders.services.jobs import render_job_create
from renders.services.kinds import html_render_spec, svg_render_spec, template_render_spec
from workers.specs import CanvasSpec, RenderSpec


@dataclass(frozen=True)
class ImageRequest:
    """A validated POST /v1/images: what to render and how to answer."""

    project: Project | None
    spec: RenderSpec
    async_mode: bool
    force: bool
    webhook_url: str


class ImageCreateApi(KilnAPIView):
    def post(self, request: Request) -> Response | HttpResponse:
        wanted = parsed_once(
            request,
            lambda: self._read(request),
            still_valid=lambda kept: template_spec_current(project=kept.project, spec=kept.spec),
        )
        job = render_job_create(
            account=request.user,
            project=wanted.project,
            spec=wanted.spec,
            force=wanted.force,
            webhook_url=wanted.webhook_url,
        )
        return job_answer(request, job, async_mode=wanted.async_mode)

    def _read(self, request: Request) -> ImageRequest:
        serializer = ImageCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        if "template" in data:
            spec = template_render_spec(
                account=request.user,
                template=template_get(project=project, slug=data["template"]),
                params=template_params(data),
                options=template_output(data),
            )
        elif "html" in data:
            options = spec_options(CanvasSpec, data)
            spec = html_render_spec(account=request.user, html=data["html"], options=options)
        else:
            options = spec_options(CanvasSpec, data)
            spec = svg_render_spec(account=request.user, svg=data["svg"], options=options)
        return ImageRequest(
            project=project,
            spec=spec,
            async_mode=data["async"],
            force=data["force"],
            webhook_url=data.get("webhook_url", ""),
        )

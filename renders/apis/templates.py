"""Templates over the API: list, create, read, update, delete, preview."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import project_for_key
from config.api import KilnAPIView, base_url
from renders.models import Template
from renders.responses import job_answer
from renders.selectors import template_get, templates_visible
from renders.serializers import (
    TemplateRenderInputSerializer,
    TemplateWriteInputSerializer,
    template_json,
    template_output,
    template_params,
)
from renders.services.kinds import template_render_create
from renders.services.signing import template_preview_url
from renders.services.templates import template_create, template_delete, template_update


def _answer(request: Request, template: Template, **kwargs) -> Response:
    base = base_url(request)
    preview = template_preview_url(api_key=request.auth, template=template, base_url=base)
    return Response(template_json(template, base_url=base, preview_url=preview), **kwargs)


class TemplateListApi(KilnAPIView):
    def get(self, request: Request) -> Response:
        base = base_url(request)
        templates = templates_visible(api_key=request.auth)
        return Response({"templates": [template_json(t, base_url=base) for t in templates]})

    def post(self, request: Request) -> Response:
        serializer = TemplateWriteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        project = project_for_key(api_key=request.auth, slug=fields.pop("project", None))
        template = template_create(project=project, fields=fields)
        return _answer(request, template, status=status.HTTP_201_CREATED)


class TemplateDetailApi(KilnAPIView):
    def _template(self, request: Request, slug: str) -> Template:
        project = project_for_key(api_key=request.auth, slug=request.query_params.get("project"))
        return template_get(project=project, slug=slug)

    def get(self, request: Request, slug: str) -> Response:
        return _answer(request, self._template(request, slug))

    def patch(self, request: Request, slug: str) -> Response:
        template = self._template(request, slug)
        serializer = TemplateWriteInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        template = template_update(template=template, fields=dict(serializer.validated_data))
        return _answer(request, template)

    def delete(self, request: Request, slug: str) -> Response:
        template_delete(template=self._template(request, slug))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplatePreviewApi(KilnAPIView):
    def post(self, request: Request, slug: str) -> Response | HttpResponse:
        serializer = TemplateRenderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        template = template_get(project=project, slug=slug)
        job = template_render_create(
            account=request.user,
            project=project,
            template=template,
            params={**template.sample_params, **template_params(data)},
            options=template_output(data),
        )
        return job_answer(request, job, async_mode=False)

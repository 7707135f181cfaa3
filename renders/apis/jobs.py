"""GET /v1/jobs/{id} and its image; GET /v1/sizes."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import HasAnyKey
from config.api import KilnAPIView, base_url
from renders.models import RenderJob
from renders.responses import accepted, image_response, job_error
from renders.selectors import render_job_get
from renders.serializers import job_json
from renders.sizes import SIZE_PRESETS


class JobDetailApi(KilnAPIView):
    def get(self, request: Request, job_id: str) -> Response:
        job = render_job_get(account=request.user, job_id=job_id)
        return Response(job_json(job, base_url=base_url(request)))


class JobImageApi(KilnAPIView):
    """GET image route: publishable keys and ?api_key= are accepted."""

    permission_classes = [HasAnyKey]
    accepts_query_key = True

    def get(self, request: Request, job_id: str) -> Response | HttpResponse:
        job = render_job_get(account=request.user, job_id=job_id)
        base = base_url(request)
        if job.status == RenderJob.Status.FAILED:
            raise job_error(job, base=base)
        if job.status != RenderJob.Status.SUCCEEDED:
            return accepted(job, base=base, retry_after="1")
        return image_response(request, job)


class SizesApi(KilnAPIView):
    def get(self, request: Request) -> Response:
        return Response(
            {"sizes": [{"name": n, "width": w, "height": h} for n, (w, h) in SIZE_PRESETS.items()]}
        )

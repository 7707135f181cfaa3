"""The /v1 render API: validate, authorise, call a service, shape the answer."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasAnyKey
from accounts.selectors import project_for_key, usage_images_this_month
from accounts.services import current_month, rate_limit_hit
from config.errors import KilnError
from renders.models import RenderJob
from renders.selectors import render_job_get, render_job_wait
from renders.serializers import ImageCreateInputSerializer, job_json
from renders.services import svg_render_create
from workers.rasterise import CONTENT_TYPES


def base_url(request: HttpRequest) -> str:
    return settings.KILN_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")


def wants_image(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    first = accept.split(",")[0].strip().lower()
    return first.startswith("image/") or first == "application/pdf"


def image_response(request: HttpRequest, job: RenderJob) -> HttpResponse:
    """The stored bytes, content-addressed: the cache key is the ETag and never changes."""
    etag = f'"{job.cache_key}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable"}
    if etag in request.headers.get("If-None-Match", ""):
        return HttpResponse(status=304, headers=headers)
    try:
        with default_storage.open(job.storage_path, "rb") as stored:
            data = stored.read()
    except FileNotFoundError:
        raise KilnError("NOT_FOUND", "the image has expired from storage; render it again")
    return HttpResponse(data, content_type=CONTENT_TYPES[job.format], headers=headers)


def job_error(job: RenderJob, *, base: str) -> KilnError:
    return KilnError(
        job.error_code or "RENDER_FAILED",
        job.error_message or "the render failed",
        details={"job": job_json(job, base_url=base)},
    )


class KilnAPIView(APIView):
    """Every authenticated answer counts against the per-minute limit and carries the
    month's image usage in X-RateLimit-* headers."""

    def check_throttles(self, request: Request) -> None:
        if request.auth is not None:
            rate_limit_hit(account=request.user)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        api_key = getattr(request, "_auth", None)
        if api_key is not None and response.status_code not in (401, 503):
            plan = api_key.account.plan
            used = usage_images_this_month(account=api_key.account)
            response["X-RateLimit-Limit"] = str(plan.monthly_images)
            response["X-RateLimit-Used"] = str(used)
            response["X-RateLimit-Remaining"] = str(max(0, plan.monthly_images - used))
        return response


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


class ImageCreateApi(KilnAPIView):
    def post(self, request: Request) -> Response | HttpResponse:
        serializer = ImageCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        job = svg_render_create(
            account=request.user,
            project=project,
            svg=data["svg"],
            width=data.get("width"),
            height=data.get("height"),
            format=data["format"],
            quality=data["quality"],
            dpr=data["dpr"],
            background=data.get("background"),
            force=data["force"],
            webhook_url=data.get("webhook_url", ""),
        )
        base = base_url(request)
        if data["async"]:
            body = job_json(job, base_url=base)
            return Response(
                body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]}
            )
        job = render_job_wait(job=job, timeout=settings.KILN_SYNC_TIMEOUT)
        if not job.is_finished:
            if wants_image(request):
                raise KilnError(
                    "RENDER_TIMEOUT",
                    f"not rendered within {settings.KILN_SYNC_TIMEOUT:g}s; the job goes on",
                    details={"job": job_json(job, base_url=base)},
                    headers={"Retry-After": "2"},
                )
            body = job_json(job, base_url=base)
            return Response(
                body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]}
            )
        if job.status == RenderJob.Status.FAILED:
            raise job_error(job, base=base)
        if wants_image(request):
            return image_response(request, job)
        return Response(job_json(job, base_url=base), status=status.HTTP_200_OK)


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
            return Response(
                job_json(job, base_url=base),
                status=status.HTTP_202_ACCEPTED,
                headers={"Retry-After": "1"},
            )
        return image_response(request, job)

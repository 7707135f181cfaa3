"""The /ai routes (SPEC §8): validate, authorise, call a service, shape the answer.

- `POST /ai` (secret key) submits; `GET /ai/{id}/status` and `GET /ai/{w}x{h}/{id}.png`
  are public (the id is the capability) and answer cross-origin requests, so `<ai-img>`
  works on any site; `POST /ai/replicate-webhook` is authenticated by its signature.
- The image route answers pixels in every state: a placeholder while pending, the image
  once ready, a glyph saying what went wrong otherwise (JSON only to clients that ask
  for JSON).
"""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ai_jobs.images import glyph_png, placeholder_png
from ai_jobs.models import AiJob
from ai_jobs.selectors import ai_job_for_image, ai_job_get, ai_output_read
from ai_jobs.serializers import AiSubmitInputSerializer, ai_status_json, ai_submit_json
from ai_jobs.services import ai_job_nudge, ai_job_submit, ai_webhook_receive
from config.api import IMMUTABLE, KilnAPIView
from config.errors import KilnError, as_kiln_error, error_response
from renders.glyphs import accepts_image

# While pending the same URL will soon show other pixels: let caches keep it briefly.
PENDING_CACHE = "public, max-age=5"
# Glyphs of finished-but-failed jobs: an admin retry may still fix them.
FAILED_CACHE = "public, max-age=60"
MAX_GLYPH_SIDE = 2048


class CorsMixin:
    """Answer cross-origin callers (a page using <ai-img> with another `endpoint`). The
    key travels in the Authorization header, never in cookies, so any origin may ask."""

    cors_methods = "GET, OPTIONS"

    def initial(self, request: Request, *args, **kwargs) -> None:
        if request.method == "OPTIONS":
            return  # a preflight carries no key: answer it without checks
        super().initial(request, *args, **kwargs)

    def options(self, request: Request, *args, **kwargs) -> Response:
        return Response(status=204)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Methods"] = self.cors_methods
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response["Access-Control-Max-Age"] = "600"
        return response


class AiSubmitApi(CorsMixin, KilnAPIView):
    cors_methods = "POST, OPTIONS"

    def post(self, request: Request) -> Response:
        serializer = AiSubmitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = ai_job_submit(
            account=request.user,
            prompt=data["prompt"],
            width=data["w"],
            height=data["h"],
            seed=data.get("seed"),
            model=data.get("model"),
            webhook_url=data.get("webhook_url", ""),
        )
        return Response(ai_submit_json(job))


class AiStatusView(CorsMixin, APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request: Request, job_id: str) -> Response:
        job = ai_job_get(job_id=job_id)
        ai_job_nudge(job=job)
        job.refresh_from_db()
        return Response(ai_status_json(job), headers={"Cache-Control": "no-store"})


def _glyph_response(
    request: Request, error: KilnError, *, width: int, height: int, cache: str
) -> HttpResponse:
    """The error as a PNG glyph (the route promises PNG) for image clients, as the JSON
    error for clients that ask for JSON (renders.glyphs decides which, as for /og)."""
    if not accepts_image(request):
        response = error_response(error)
    else:
        png = glyph_png(
            error.code,
            error.message,
            max(1, min(width, MAX_GLYPH_SIDE)),
            max(1, min(height, MAX_GLYPH_SIDE)),
        )
        response = HttpResponse(png, status=error.status, content_type="image/png")
        response["X-Kiln-Error"] = error.code
    response["Cache-Control"] = cache
    return response


class AiImageView(APIView):
    """GET /ai/{w}x{h}/{id}.png: one stable URL for the job's whole life."""

    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request: Request, width: str, height: str, job_id: str) -> HttpResponse:
        job = ai_job_for_image(job_id=job_id, width=int(width), height=int(height))
        headers = {"X-AI-State": job.state}
        if job.state == AiJob.State.READY:
            etag = f'"{job.id}"'
            headers.update({"ETag": etag, "Cache-Control": IMMUTABLE})
            if etag in request.headers.get("If-None-Match", ""):
                return HttpResponse(status=304, headers=headers)
            return HttpResponse(ai_output_read(job=job), content_type="image/png", headers=headers)
        if job.state in AiJob.IN_FLIGHT:
            headers["Cache-Control"] = PENDING_CACHE
            png = placeholder_png(job.id, job.width, job.height)
            return HttpResponse(png, content_type="image/png", headers=headers)
        blocked = job.state == AiJob.State.BLOCKED
        default_code = "PROMPT_BLOCKED" if blocked else "UPSTREAM_FAILED"
        error = KilnError(
            "PROMPT_BLOCKED" if blocked else (job.error_code or default_code),
            job.error_message or ("the prompt was blocked" if blocked else "generation failed"),
        )
        response = _glyph_response(
            request, error, width=job.width, height=job.height, cache=FAILED_CACHE
        )
        response["X-AI-State"] = job.state
        return response

    def handle_exception(self, exc: Exception) -> HttpResponse:
        error = as_kiln_error(exc)
        if error is None:
            raise exc
        kwargs = self.kwargs
        return _glyph_response(
            self.request,
            error,
            width=int(kwargs.get("width") or 400),
            height=int(kwargs.get("height") or 300),
            cache="no-store",
        )


class ReplicateWebhookView(APIView):
    """Replicate → Kiln. Authenticated by the Standard Webhooks signature alone."""

    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request: Request) -> Response:
        # The raw bytes, exactly as signed: never the parsed body.
        ai_webhook_receive(
            headers=dict(request.headers),
            body=request.body,
            job_hint=request.query_params.get("job", ""),
        )
        return Response({"ok": True})

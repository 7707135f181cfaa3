"""How render jobs answer over HTTP: the job JSON or the image bytes, after waiting for
the render when the request is synchronous. Shared by the render API modules."""

from __future__ import annotations

import contextlib
from typing import Protocol

import redis.exceptions
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import IMMUTABLE, KilnAPIView, base_url, etag_matches, wants_image
from config.errors import KilnError, as_kiln_error
from config.local_cache import Body, BodyCache
from renders.cache import content_etag
from renders.models import RenderJob
from renders.selectors import render_job_wait
from renders.serializers import job_json
from workers.rasterise import CONTENT_TYPES

_bodies: BodyCache | None = None


def _body_cache() -> BodyCache:
    global _bodies
    if _bodies is None:
        _bodies = BodyCache(max_bytes=settings.KILN_LOCAL_BODY_CACHE_MB * 1024 * 1024)
    return _bodies


class StoredImage(Protocol):
    """Where rendered bytes are: a succeeded RenderJob or a CachedRender."""

    storage_path: str
    format: str
    etag: str


def image_response(request: HttpRequest, image: StoredImage) -> HttpResponse:
    """The stored bytes of a render. The ETag is a digest of the bytes, so a forced
    re-render that changes them changes it; the bytes of a digest never change, so they
    are kept in-process by it."""
    headers = {"ETag": image.etag, "Cache-Control": IMMUTABLE}
    if etag_matches(request, image.etag):
        return HttpResponse(status=304, headers=headers)
    body = _body_cache().get(image.etag) if image.etag else None
    if body is None:
        try:
            with default_storage.open(image.storage_path, "rb") as stored:
                data = stored.read()
        except FileNotFoundError:
            raise KilnError("NOT_FOUND", "the image has expired from storage; render it again")
        etag = content_etag(data)
        body = Body(data=data, content_type=CONTENT_TYPES[image.format], etag=etag)
        if body.etag == image.etag:
            _body_cache().put(body.etag, body)
        headers["ETag"] = body.etag
    return HttpResponse(body.data, content_type=body.content_type, headers=headers)


def job_error(job: RenderJob, *, base: str) -> KilnError:
    return KilnError(
        job.error_code or "RENDER_FAILED",
        job.error_message or "the render failed",
        details={"job": job_json(job, base_url=base)},
    )


def job_answer(request: Request, job: RenderJob, *, async_mode: bool) -> Response | HttpResponse:
    """The answer to a render request: 202 at once, or wait and answer JSON or bytes."""
    base = base_url(request)
    if async_mode:
        return accepted(job, base=base)
    job = render_job_wait(job=job, timeout=settings.KILN_SYNC_TIMEOUT)
    if not job.is_finished:
        if wants_image(request):
            raise KilnError(
                "RENDER_TIMEOUT",
                f"not rendered within {settings.KILN_SYNC_TIMEOUT:g}s; the job goes on",
                details={"job": job_json(job, base_url=base)},
                headers={"Retry-After": "2"},
            )
        return accepted(job, base=base)
    if job.status == RenderJob.Status.FAILED:
        raise job_error(job, base=base)
    if wants_image(request):
        return image_response(request, job)
    return Response(job_json(job, base_url=base), status=status.HTTP_200_OK)


def accepted(job: RenderJob, *, base: str, retry_after: str | None = None) -> Response:
    body = job_json(job, base_url=base)
    headers = {"Location": body["status_url"]}
    if retry_after:
        headers["Retry-After"] = retry_after
    return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)


def image_when_done(request: Request, job: RenderJob) -> HttpResponse:
    """An image route's answer: the bytes once rendered, or the job's error."""
    job = render_job_wait(job=job, timeout=settings.KILN_SYNC_TIMEOUT)
    if not job.is_finished:
        raise KilnError(
            "RENDER_TIMEOUT", "not rendered in time; the job goes on", headers={"Retry-After": "2"}
        )
    if job.status == RenderJob.Status.FAILED:
        raise job_error(job, base=base_url(request))
    return image_response(request, job)


class PublicImageView(KilnAPIView):
    """Base of the image routes for <img> and og:image: errors are glyphs for clients
    that accept images (SPEC §3), JSON otherwise."""

    permission_classes: list = []
    accepts_query_key = True

    def handle_exception(self, exc: Exception) -> HttpResponse:
        from renders.glyphs import image_error_response

        error = as_kiln_error(exc)
        if error is None:
            raise exc
        if error.code == "UNAUTHORIZED" and settings.KILN_KEY_ENFORCEMENT == "transitional":
            return key_needed_response(self.request)
        return image_error_response(self.request, error)


KEYLESS_HASH = "kiln:keyless-requests"
KEY_NEEDED = "an API key is needed: add ?api_key=kiln_pk_…"


def key_needed_response(request: HttpRequest) -> HttpResponse:
    """Transitional enforcement (reference 002): an image route called without a valid
    key answers a placeholder saying a key is needed (200, not cached) and is counted
    (per day and path, in Redis) so operators see who still has to migrate."""
    from django.utils import timezone

    from config.redis_client import get_redis
    from renders.glyphs import glyph_svg

    client = get_redis()
    if client is not None:
        with contextlib.suppress(redis.exceptions.RedisError):
            client.hincrby(KEYLESS_HASH, f"{timezone.now():%Y-%m-%d} {request.path}", 1)
    body = glyph_svg("UNAUTHORIZED", KEY_NEEDED, 1200, 630)
    response = HttpResponse(body, content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    response["X-Kiln-Error"] = "UNAUTHORIZED"
    return response

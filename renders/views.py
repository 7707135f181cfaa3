"""The render API: validate, authorise, call a service, shape the answer.

/v1/… answers JSON errors; the public image routes (/og/…, /i/…) answer errors as
readable SVG glyphs to clients that accept images (SPEC §3).
"""

from __future__ import annotations

import base64
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import HasAnyKey
from accounts.selectors import project_for_key, usage_images_this_month
from accounts.services import current_month, rate_limit_hit
from accounts.signing import (
    signed_query_create,
    signed_query_read,
    signed_token_create,
    signed_token_read,
)
from config.errors import KilnError, as_kiln_error
from renders.cache import render_cache_key
from renders.models import Batch, RenderJob, Template
from renders.params import params_from_data
from renders.selectors import (
    batch_get,
    render_job_get,
    render_job_wait,
    template_get,
    templates_visible,
)
from renders.serializers import (
    BatchCreateInputSerializer,
    ImageCreateInputSerializer,
    ScreenshotInputSerializer,
    SignInputSerializer,
    TemplateRenderInputSerializer,
    TemplateWriteInputSerializer,
    job_json,
    template_json,
)
from renders.services import (
    batch_create,
    html_render_create,
    render_job_create,
    screenshot_render_create,
    svg_render_create,
    template_render_create,
    template_render_spec,
    template_save,
)
from renders.sizes import SIZE_PRESETS
from workers.rasterise import CONTENT_TYPES

IMMUTABLE = "public, max-age=31536000, immutable"


def base_url(request: HttpRequest) -> str:
    return settings.KILN_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")


def wants_image(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    first = accept.split(",")[0].strip().lower()
    return first.startswith("image/") or first == "application/pdf"


def image_response(request: HttpRequest, job: RenderJob) -> HttpResponse:
    """The stored bytes, content-addressed: the cache key is the ETag and never changes."""
    etag = f'"{job.cache_key}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
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


def job_answer(request: Request, job: RenderJob, *, async_mode: bool) -> Response | HttpResponse:
    """The answer to a render request: 202 at once, or wait and answer JSON or bytes."""
    base = base_url(request)
    if async_mode:
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


def template_options(data: dict[str, Any]) -> dict[str, Any]:
    """The render options of a validated TemplateRenderInputSerializer."""
    params = {**params_from_data(data.get("data") or {}), **data.get("params", {})}
    return {
        "params": params,
        "size": data.get("size"),
        "width": data.get("width"),
        "height": data.get("height"),
        "format": data["format"],
        "quality": data["quality"],
        "dpr": data["dpr"],
        "background": data.get("background"),
        "font": data.get("font"),
    }


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
        common = {
            "account": request.user,
            "project": project,
            "force": data["force"],
            "webhook_url": data.get("webhook_url", ""),
        }
        if "template" in data:
            template = template_get(api_key=request.auth, project=project, slug=data["template"])
            job = template_render_create(template=template, **common, **template_options(data))
        elif "html" in data:
            job = html_render_create(
                html=data["html"],
                width=data.get("width"),
                height=data.get("height"),
                format=data["format"],
                quality=data["quality"],
                dpr=data["dpr"],
                background=data.get("background"),
                **common,
            )
        else:
            job = svg_render_create(
                svg=data["svg"],
                width=data.get("width"),
                height=data.get("height"),
                format=data["format"],
                quality=data["quality"],
                dpr=data["dpr"],
                background=data.get("background"),
                **common,
            )
        return job_answer(request, job, async_mode=data["async"])


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


# --- templates --------------------------------------------------------------------------


def preview_url(request: Request, template: Template) -> str:
    token, _ = signed_token_create(
        api_key=request.auth,
        request={
            "template": template.slug,
            "project": _project_slug(template),
            "params": template.sample_params,
            "format": "png",
        },
        expires_in=86400,
    )
    return f"{base_url(request)}/i/{token}"


def _project_slug(template: Template) -> str | None:
    return template.project.slug if template.project_id else None


class TemplateListApi(KilnAPIView):
    def get(self, request: Request) -> Response:
        base = base_url(request)
        return Response(
            {
                "templates": [
                    template_json(t, base_url=base) for t in templates_visible(api_key=request.auth)
                ]
            }
        )

    def post(self, request: Request) -> Response:
        serializer = TemplateWriteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        for required in ("slug", "source", "param_schema"):
            if required not in data:
                raise KilnError(
                    "VALIDATION_FAILED",
                    f"'{required}' is required",
                    details={required: ["required"]},
                )
        project = project_for_key(api_key=request.auth, slug=data.pop("project", None))
        if project is None:
            raise KilnError(
                "VALIDATION_FAILED",
                "templates belong to a project: pass 'project' (or use a project-scoped key)",
                details={"project": ["required"]},
            )
        if Template.objects.filter(project=project, slug=data["slug"]).exists():
            raise KilnError("CONFLICT", f"template '{data['slug']}' exists; PATCH it instead")
        template = template_save(template=Template(project=project), fields=data)
        return Response(
            template_json(
                template, base_url=base_url(request), preview_url=preview_url(request, template)
            ),
            status=status.HTTP_201_CREATED,
        )


class TemplateDetailApi(KilnAPIView):
    def _template(self, request: Request, slug: str) -> Template:
        project = project_for_key(api_key=request.auth, slug=request.query_params.get("project"))
        return template_get(api_key=request.auth, project=project, slug=slug)

    def get(self, request: Request, slug: str) -> Response:
        template = self._template(request, slug)
        return Response(
            template_json(
                template, base_url=base_url(request), preview_url=preview_url(request, template)
            )
        )

    def _own(self, request: Request, slug: str) -> Template:
        template = self._template(request, slug)
        if template.is_builtin:
            raise KilnError("FORBIDDEN", "built-in templates are read-only; create your own")
        return template

    def patch(self, request: Request, slug: str) -> Response:
        template = self._own(request, slug)
        serializer = TemplateWriteInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = {
            k: v for k, v in serializer.validated_data.items() if k not in ("project", "slug")
        }
        template = template_save(template=template, fields=fields)
        return Response(
            template_json(
                template, base_url=base_url(request), preview_url=preview_url(request, template)
            )
        )

    def delete(self, request: Request, slug: str) -> Response:
        self._own(request, slug).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplatePreviewApi(KilnAPIView):
    def post(self, request: Request, slug: str) -> Response | HttpResponse:
        serializer = TemplateRenderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        template = template_get(api_key=request.auth, project=project, slug=slug)
        options = template_options(data)
        options["params"] = {**template.sample_params, **options["params"]}
        job = template_render_create(
            account=request.user, project=project, template=template, **options
        )
        return job_answer(request, job, async_mode=False)


class SizesApi(KilnAPIView):
    def get(self, request: Request) -> Response:
        return Response(
            {"sizes": [{"name": n, "width": w, "height": h} for n, (w, h) in SIZE_PRESETS.items()]}
        )


class SignApi(KilnAPIView):
    """POST /v1/sign → a signed, expiring URL that needs no key."""

    def post(self, request: Request) -> Response:
        serializer = SignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        template = template_get(api_key=request.auth, project=project, slug=data["template"])
        options = template_options(data)
        # Validate now, so a signed URL never points at a request that cannot render.
        from renders.params import params_validate

        params_validate(
            slug=template.slug,
            schema=template.param_schema,
            given=options["params"],
            from_query=False,
        )
        signed_request = {"template": template.slug, "project": _project_slug(template), **options}
        token, expires_at = signed_token_create(
            api_key=request.auth, request=signed_request, expires_in=data["expires_in"]
        )
        base = base_url(request)
        path = f"/og/{template.slug}.{_ext(options['format'])}"
        query = {k: _query_value(v) for k, v in options["params"].items()}
        for name in ("size", "width", "height", "dpr", "quality", "background", "font"):
            if options.get(name) is not None:
                query[name] = str(options[name])
        if project is not None:
            query["project"] = project.slug
        og_query = signed_query_create(
            api_key=request.auth, path=path, query=query, expires_in=data["expires_in"]
        )
        from datetime import UTC, datetime

        return Response(
            {
                "url": f"{base}/i/{token}",
                "token": token,
                "og_url": f"{base}{path}?{og_query}",
                "expires_at": datetime.fromtimestamp(expires_at, UTC)
                .isoformat()
                .replace("+00:00", "Z"),
            }
        )


def _ext(fmt: str) -> str:
    return {"jpeg": "jpg"}.get(fmt, fmt)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


# --- batches ----------------------------------------------------------------------------


def batch_json(batch: Batch, *, base: str, encoding: str = "url") -> dict[str, Any]:
    jobs = list(batch.jobs.order_by("created_at"))
    done = sum(1 for job in jobs if job.is_finished)
    failed = sum(1 for job in jobs if job.status == RenderJob.Status.FAILED)
    results = []
    for job in jobs:
        entry = {
            "size": job.size_name,
            "width": job.params.get("width"),
            "height": job.params.get("height"),
            "status": job.status,
            "job": job_json(job, base_url=base),
        }
        if job.status == RenderJob.Status.SUCCEEDED:
            entry["image_url"] = f"{base}/v1/jobs/{job.id}/image"
            if encoding == "base64":
                with default_storage.open(job.storage_path, "rb") as stored:
                    entry["base64"] = base64.b64encode(stored.read()).decode()
        results.append(entry)
    return {
        "id": str(batch.id),
        "template": batch.template_slug,
        "status": "running"
        if done < len(jobs)
        else ("failed" if failed == len(jobs) else "completed"),
        "done": done,
        "failed": failed,
        "total": len(jobs),
        "results": results,
        "status_url": f"{base}/v1/batches/{batch.id}",
        "created_at": batch.created_at.isoformat().replace("+00:00", "Z"),
    }


class BatchCreateApi(KilnAPIView):
    def post(self, request: Request) -> Response:
        serializer = BatchCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        template = template_get(api_key=request.auth, project=project, slug=data["template"])
        options = template_options(data)
        for name in ("size", "width", "height"):
            options.pop(name)
        names = [entry["name"] for entry in data["sizes"]]
        if len(set(names)) != len(names):
            raise KilnError(
                "VALIDATION_FAILED", "size names must be unique", details={"sizes": names}
            )
        batch = batch_create(
            account=request.user,
            project=project,
            template=template,
            sizes=data["sizes"],
            force=data["force"],
            webhook_url=data.get("webhook_url", ""),
            **options,
        )
        base = base_url(request)
        if not data["async"]:
            import time

            deadline = time.monotonic() + settings.KILN_SYNC_TIMEOUT
            for job in batch.jobs.all():
                render_job_wait(job=job, timeout=max(0.0, deadline - time.monotonic()))
        body = batch_json(batch, base=base, encoding=data["encoding"])
        finished = body["done"] == body["total"]
        return Response(body, status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)


class BatchDetailApi(KilnAPIView):
    def get(self, request: Request, batch_id: str) -> Response:
        batch = batch_get(account=request.user, batch_id=batch_id)
        return Response(batch_json(batch, base=base_url(request)))


# --- public image routes ----------------------------------------------------------------


class PublicImageView(KilnAPIView):
    """Image routes for <img> and og:image: errors are glyphs for image clients."""

    permission_classes: list = []
    accepts_query_key = True

    def handle_exception(self, exc: Exception) -> HttpResponse:
        from renders.glyphs import image_error_response

        error = as_kiln_error(exc)
        if error is None:
            raise exc
        return image_error_response(self.request, error)


def render_for_image_route(
    request: Request, *, api_key: ApiKey, wanted: dict[str, Any], from_query: bool
) -> HttpResponse:
    project = project_for_key(api_key=api_key, slug=wanted.get("project"))
    template = template_get(api_key=api_key, project=project, slug=wanted["template"])
    spec = template_render_spec(
        account=api_key.account,
        template=template,
        params=wanted.get("params") or {},
        from_query=from_query,
        format=wanted.get("format") or "png",
        quality=int(wanted.get("quality") or 90),
        dpr=float(wanted.get("dpr") or 1),
        **{k: wanted.get(k) for k in ("size", "width", "height", "background", "font")},
    )
    # Content-addressed: a client holding this ETag has these bytes; skip everything else.
    etag = f'"{render_cache_key(kind=RenderJob.Kind.TEMPLATE, spec=spec)}"'
    if etag in request.headers.get("If-None-Match", ""):
        return HttpResponse(status=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    job = render_job_create(
        account=api_key.account,
        project=project,
        kind=RenderJob.Kind.TEMPLATE,
        spec=spec,
        format=spec["format"],
    )
    return image_when_done(request, job)


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


OG_RESERVED = {
    "api_key",
    "sig",
    "exp",
    "kid",
    "project",
    "size",
    "width",
    "height",
    "dpr",
    "quality",
    "background",
    "font",
}
OG_FORMATS = {
    "png": "png",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "webp": "webp",
    "svg": "svg",
    "pdf": "pdf",
}


class OgImageView(PublicImageView):
    """GET /og/{template}.{ext}?{params}: with ?api_key= (or a Bearer key) or a valid sig."""

    def get(self, request: Request, slug: str, ext: str) -> HttpResponse:
        query = {k: v for k, v in request.query_params.items()}
        api_key = request.auth
        if api_key is None:
            if "sig" not in query:
                raise KilnError(
                    "UNAUTHORIZED", "pass ?api_key= or use a signed URL (POST /v1/sign)"
                )
            api_key = signed_query_read(path=request.path, query=query)
        numbers = {}
        for name in ("width", "height", "quality"):
            if query.get(name):
                try:
                    numbers[name] = int(query[name])
                except ValueError:
                    raise KilnError("VALIDATION_FAILED", f"{name} must be a whole number") from None
        try:
            dpr = float(query.get("dpr") or 1)
        except ValueError:
            raise KilnError("VALIDATION_FAILED", "dpr must be a number") from None
        if not 1 <= dpr <= 3:
            raise KilnError("VALIDATION_FAILED", "dpr must be between 1 and 3")
        background = query.get("background")
        if background:
            from renders.serializers import ColorField

            try:
                background = ColorField().to_internal_value(background)
            except Exception:  # DRF's ValidationError: one message suffices here
                raise KilnError("VALIDATION_FAILED", "background must be a colour") from None
        params = params_from_data({k: v for k, v in query.items() if k not in OG_RESERVED})
        wanted = {
            "template": slug,
            "project": query.get("project"),
            "params": params,
            "format": OG_FORMATS[ext],
            "size": query.get("size"),
            "dpr": dpr,
            "background": background,
            "font": query.get("font"),
            **numbers,
        }
        return render_for_image_route(request, api_key=api_key, wanted=wanted, from_query=True)


class SignedImageView(PublicImageView):
    """GET /i/{token}: a signed URL from POST /v1/sign; no key needed."""

    authentication_classes: list = []

    def get(self, request: Request, token: str) -> HttpResponse:
        api_key, wanted = signed_token_read(token)
        return render_for_image_route(request, api_key=api_key, wanted=wanted, from_query=False)


# --- screenshots --------------------------------------------------------------------------


def screenshot_options(data: dict[str, Any]) -> dict[str, Any]:
    """The render options of a validated ScreenshotInputSerializer."""
    names = ("url", "width", "height", "dpr", "format", "quality", "selector", "full_page")
    names += ("wait_for", "delay_ms", "scheme", "headers", "cookies", "digest", "force")
    options = {name: data[name] for name in names if name in data}
    options["cookies"] = [dict(cookie) for cookie in data.get("cookies", [])]
    return options


class ScreenshotCreateApi(KilnAPIView):
    def post(self, request: Request) -> Response | HttpResponse:
        serializer = ScreenshotInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        job = screenshot_render_create(
            account=request.user,
            project=project,
            webhook_url=data.get("webhook_url", ""),
            **screenshot_options(data),
        )
        return job_answer(request, job, async_mode=data["async"])


RENDER_RESERVED = {"api_key", *ScreenshotInputSerializer().fields} - {"headers", "cookies"}


class RenderImageView(PublicImageView):
    """GET /render?url=…: a screenshot for <img src>. Needs a key unless the operator
    names an account for public renders (KILN_RENDER_PUBLIC_ACCOUNT). Query params Kiln
    does not know are forwarded to the target URL."""

    def get(self, request: Request) -> HttpResponse:
        from accounts.models import Account

        account = request.user if request.auth is not None else None
        if account is None:
            slug = settings.KILN_RENDER_PUBLIC_ACCOUNT
            account = Account.objects.filter(slug=slug).first() if slug else None
            if account is None:
                raise KilnError("UNAUTHORIZED", "pass ?api_key= (a publishable key will do)")
        query = request.query_params
        known = {k: query[k] for k in query if k in RENDER_RESERVED and k != "api_key"}
        forwarded = {k: query[k] for k in query if k not in RENDER_RESERVED}
        if "headers" in query or "cookies" in query:
            raise KilnError("VALIDATION_FAILED", "headers and cookies only in POST /v1/screenshots")
        serializer = ScreenshotInputSerializer(data=known)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = (
            project_for_key(api_key=request.auth, slug=data.get("project"))
            if request.auth is not None
            else None
        )
        job = screenshot_render_create(
            account=account, project=project, forwarded=forwarded, **screenshot_options(data)
        )
        return image_when_done(request, job)

"""Public image routes for og:image and <img src>: /og/{template}.{ext}, /i/{token} and
/render. Errors answer as glyphs to clients that accept images (SPEC §3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.authentication import raw_key_of
from accounts.models import ApiKey, Project
from accounts.selectors import account_for_public_renders, project_for_key
from accounts.services import api_key_authenticate, rate_limit_hit
from accounts.signing import signed_query_read, signed_token_read
from config.api import parsed_before, parsed_once, rate_headers
from config.errors import KilnError
from renders.cache import render_cache_key
from renders.glyphs import image_error_response
from renders.params import params_from_data
from renders.responses import PublicImageView, image_response, image_when_done
from renders.selectors import cached_render_lookup, template_get, template_spec_current
from renders.serializers import (
    OG_RESERVED,
    OgQuerySerializer,
    ScreenshotInputSerializer,
    spec_options,
)
from renders.services.jobs import render_cached, render_job_create
from renders.services.kinds import screenshot_render_create, template_render_spec
from renders.stats import render_hit_count
from workers.specs import ScreenshotSpec, TemplateSpec

OG_FORMATS = {
    "png": "png",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "webp": "webp",
    "svg": "svg",
    "pdf": "pdf",
}


def _template_image(
    request: Request,
    *,
    api_key: ApiKey,
    parse: Callable[[], dict[str, Any]],
    from_query: bool,
) -> HttpResponse:
    """A template render for an image route: the bytes (from the cache when they are
    there: no database write), or the job's error. `parse` reads what the URL asks; a
    URL asked again within KILN_LOCAL_CACHE_SECONDS is not parsed again."""

    def read() -> tuple[Project | None, TemplateSpec, str]:
        wanted = parse()
        project = project_for_key(api_key=api_key, slug=wanted.get("project"))
        spec = template_render_spec(
            account=api_key.account,
            template=template_get(project=project, slug=wanted["template"]),
            params=wanted.get("params") or {},
            options=wanted,
            from_query=from_query,
        )
        return project, spec, render_cache_key(spec)

    project, spec, cache_key = parsed_once(
        request, read, still_valid=lambda kept: template_spec_current(project=kept[0], spec=kept[1])
    )
    hit = render_cached(account=api_key.account, cache_key=cache_key, format=spec.format)
    if hit is not None:  # the common case: no job at all
        return image_response(request, hit)
    job = render_job_create(account=api_key.account, project=project, spec=spec)
    return image_when_done(request, job)


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

        def parse() -> dict[str, Any]:
            serializer = OgQuerySerializer(data={k: v for k, v in query.items() if v != ""})
            serializer.is_valid(raise_exception=True)
            params = {k: v for k, v in query.items() if k not in OG_RESERVED}
            return {
                **serializer.validated_data,
                "template": slug,
                "format": OG_FORMATS[ext],
                "params": params_from_data(params),
            }

        return _template_image(request, api_key=api_key, parse=parse, from_query=True)


class SignedImageView(PublicImageView):
    """GET /i/{token}: a signed URL from POST /v1/sign; no key needed."""

    authentication_classes: list = []

    def get(self, request: Request, token: str) -> HttpResponse:
        api_key, wanted = signed_token_read(token)
        return _template_image(request, api_key=api_key, parse=lambda: wanted, from_query=False)


RENDER_RESERVED = {"api_key", *ScreenshotInputSerializer().fields} - {"headers", "cookies"}
# The reference's names for the viewport (reference 002's /render), accepted as aliases.
RENDER_ALIASES = {"w": "width", "h": "height"}


class RenderImageView(PublicImageView):
    """GET /render?url=…: a screenshot for <img src>. Needs a key unless the operator
    names an account for public renders (KILN_RENDER_PUBLIC_ACCOUNT). Query params Kiln
    does not know are forwarded to the target URL."""

    def get(self, request: Request) -> HttpResponse:
        account = request.user if request.auth is not None else None
        if account is None:
            account = account_for_public_renders(slug=settings.KILN_RENDER_PUBLIC_ACCOUNT)
            if account is None:
                raise KilnError("UNAUTHORIZED", "pass ?api_key= (a publishable key will do)")
        query = request.query_params
        if "headers" in query or "cookies" in query:
            raise KilnError("VALIDATION_FAILED", "headers and cookies only in POST /v1/screenshots")
        known = {k: query[k] for k in query if k in RENDER_RESERVED and k != "api_key"}
        for alias, name in RENDER_ALIASES.items():
            if alias in query and name not in known:
                known[name] = query[alias]
        forwarded = {
            k: query[k] for k in query if k not in RENDER_RESERVED and k not in RENDER_ALIASES
        }
        serializer = ScreenshotInputSerializer(data=known)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = (
            project_for_key(api_key=request.auth, slug=data.get("project"))
            if request.auth is not None
            else None
        )
        job = screenshot_render_create(
            account=account,
            project=project,
            options=spec_options(ScreenshotSpec, data),
            forwarded=forwarded,
            force=data["force"],
        )
        return image_when_done(request, job)


_og_view = OgImageView.as_view()


def og_image(request: HttpRequest, slug: str, ext: str) -> HttpResponse:
    """GET /og/{template}.{ext}. A URL asked again whose render is cached is answered here,
    without DRF's dispatch (the measured hot path: og:image URLs are fetched over and
    over); the first request, a miss and every error go through OgImageView."""
    answer = _cached_answer(request)
    return answer if answer is not None else _og_view(request, slug=slug, ext=ext)


def _cached_answer(request: HttpRequest) -> HttpResponse | None:
    """The same checks as OgImageView on a request it has validated before (key, rate,
    the kept spec, the template's version, the cache entry); None to take the full path.
    Nothing is counted before the answer is certain, so a fallback never counts twice."""
    try:
        raw_key = raw_key_of(request, query_allowed=True)
        api_key = api_key_authenticate(raw_key=raw_key) if raw_key else None
    except (KilnError, AuthenticationFailed):
        return None
    kept = parsed_before(request, api_key) if api_key is not None else None
    if kept is None or not template_spec_current(project=kept[0], spec=kept[1]):
        return None
    spec, cache_key = kept[1], kept[2]
    hit = cached_render_lookup(cache_key=cache_key, format=spec.format)
    if hit is None:
        return None
    try:
        rate_limit_hit(account=api_key.account)
        render_hit_count(account_id=api_key.account.id)
        answer = image_response(request, hit)
    except KilnError as error:
        answer = image_error_response(request, error)
    return rate_headers(answer, api_key)

"""One service per render kind: validate what the spec cannot know (the account's plan,
the template's params, addresses, fonts), build the kind's spec once, create the job.

The spec (workers/specs.py) holds every field with its default and bounds; these
functions only take the validated input (`options`: the fields a serializer produced).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Account, Project
from config.errors import KilnError
from config.local_cache import TtlCache, local_cache_ttl
from renders.cache import render_cache_key
from renders.models import Batch, RenderJob, Template
from renders.params import params_validate
from renders.services.jobs import render_job_create
from renders.sizes import SIZE_PRESETS
from workers.rasterise import RenderInputError, inspect_svg
from workers.specs import (
    CanvasSpec,
    HtmlSpec,
    HtmlTemplateSpec,
    RenderSpec,
    ScreenshotSpec,
    SpecError,
    SvgSpec,
    TemplateSpec,
    TreeTemplateSpec,
)

SpecT = TypeVar("SpecT", bound=RenderSpec)
MAX_HTML_BYTES = 2_000_000
# Headers and cookies of a screenshot are credentials: they are kept in the cache (Redis
# in the farm) for the job's worker, never in the job row, the logs or the cache key.
SECRETS_TTL = 3600


def spec_build(cls: type[SpecT], options: Mapping[str, Any], **fields: Any) -> SpecT:
    """`cls` from the options that name its fields (None = its default) plus `fields`;
    a field out of bounds is a 400 naming it."""
    names = {name for name in cls.__dataclass_fields__ if not name.startswith("_")}
    given = {k: v for k, v in options.items() if k in names and v is not None}
    try:
        return cls(**{**given, **fields})
    except SpecError as exc:
        raise KilnError("VALIDATION_FAILED", str(exc), details={exc.field: [exc.message]}) from None


CanvasT = TypeVar("CanvasT", bound=CanvasSpec)


def output_background(spec: CanvasT) -> CanvasT:
    """The spec as rendered: `transparent` is no background, and forces PNG where JPEG
    was asked (JPEG has no alpha)."""
    if spec.background != "transparent":
        return spec
    changes: dict[str, Any] = {"background": None}
    if spec.format == "jpeg":
        changes["format"] = "png"
    if isinstance(spec, HtmlSpec):
        changes["transparent"] = True
    return spec.replace(**changes)


def output_size_check(*, account: Account, spec: RenderSpec) -> None:
    """The plan's largest side and the farm's pixel budget."""
    limit = account.plan.max_dimension
    for name, value in (("width", spec.width), ("height", spec.height)):
        if value > limit:
            raise KilnError(
                "VALIDATION_FAILED",
                f"{name} must be ≤ {limit}",
                details={name: [f"Ensure this value is less than or equal to {limit}."]},
            )
    pixels = round(spec.width * spec.dpr) * round(spec.height * spec.dpr)
    if pixels > settings.KILN_MAX_PIXELS:
        raise KilnError(
            "VALIDATION_FAILED",
            f"output is {pixels} pixels (width × height × dpr²); the limit is "
            f"{settings.KILN_MAX_PIXELS}",
        )


def svg_render_create(
    *,
    account: Account,
    project: Project | None,
    svg: str,
    options: Mapping[str, Any],
    force: bool = False,
    webhook_url: str = "",
) -> RenderJob:
    """Render inline SVG (see svg_render_spec)."""
    spec = svg_render_spec(account=account, svg=svg, options=options)
    return render_job_create(
        account=account, project=project, spec=spec, force=force, webhook_url=webhook_url
    )


def svg_render_spec(*, account: Account, svg: str, options: Mapping[str, Any]) -> SvgSpec:
    """Inline SVG, checked here, before anything is queued, so bad input is a 4xx at once
    and a worker only ever sees SVG it may draw."""
    svg_bytes = svg.encode()
    if len(svg_bytes) > settings.KILN_MAX_SVG_BYTES:
        raise KilnError(
            "TOO_LARGE",
            f"svg is {len(svg_bytes)} bytes; the limit is {settings.KILN_MAX_SVG_BYTES}",
        )
    try:
        info = inspect_svg(svg_bytes)
    except RenderInputError as exc:
        raise KilnError(exc.code, exc.message) from None
    width = options.get("width") or (round(info.width) if info.width else None)
    height = options.get("height") or (round(info.height) if info.height else None)
    if not width or not height:
        raise KilnError(
            "VALIDATION_FAILED",
            "svg has no width/height or viewBox: pass 'width' and 'height'",
            details={"width": ["required for this svg"], "height": ["required for this svg"]},
        )
    spec = output_background(spec_build(SvgSpec, options, svg=svg, width=width, height=height))
    output_size_check(account=account, spec=spec)
    return spec


def html_render_create(
    *,
    account: Account,
    project: Project | None,
    html: str,
    options: Mapping[str, Any],
    force: bool = False,
    webhook_url: str = "",
) -> RenderJob:
    """Render inline HTML in the browser pool (see html_render_spec)."""
    spec = html_render_spec(account=account, html=html, options=options)
    return render_job_create(
        account=account, project=project, spec=spec, force=force, webhook_url=webhook_url
    )


def html_render_spec(*, account: Account, html: str, options: Mapping[str, Any]) -> HtmlSpec:
    """Inline HTML (Audome-style: width, height, format, quality, background or
    transparent)."""
    if len(html.encode()) > MAX_HTML_BYTES:
        raise KilnError("TOO_LARGE", f"html is larger than {MAX_HTML_BYTES} bytes")
    spec = output_background(spec_build(HtmlSpec, options, html=html))
    output_size_check(account=account, spec=spec)
    return spec


def iso_week(now=None) -> str:
    """The default screenshot digest: the same URL is re-rendered once a week."""
    year, week, _ = (now or timezone.now()).isocalendar()
    return f"{year}-W{week:02d}"


def _secrets_name(cache_key: str) -> str:
    return f"render-secrets:{cache_key}"


def render_secrets_get(*, job: RenderJob) -> dict[str, Any]:
    """The headers and cookies a screenshot job was submitted with ({} if none)."""
    if not job.params.get("credentials"):
        return {}
    found = cache.get(_secrets_name(job.cache_key))
    if found is None:
        raise RenderInputError(
            "VALIDATION_FAILED", "the job's headers/cookies expired before it ran; submit again"
        )
    return found


def _credentials_digest(headers: dict[str, str], cookies: list[dict[str, str]]) -> str:
    """A keyed digest of headers and cookies: two requests with the same credentials share
    a cache entry, and the key reveals nothing about them."""
    canonical = json.dumps({"h": headers, "c": cookies}, sort_keys=True, separators=(",", ":"))
    return hmac.new(settings.SECRET_KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def target_url_check(url: str) -> str:
    """http(s) only, allowed host, no private address literal: refused before queueing.
    The browser's request guard checks every request again at connect time."""
    from workers.address_guard import BlockedAddress, check_url, policy_from_settings

    try:
        check_url(url, policy_from_settings())
    except BlockedAddress as exc:
        raise KilnError(exc.code, exc.message, details={"url": [exc.message]}) from None
    return url.strip()


def screenshot_render_create(
    *,
    account: Account,
    project: Project | None,
    options: Mapping[str, Any],
    forwarded: Mapping[str, str] | None = None,
    headers: dict[str, str] | None = None,
    cookies: list[dict[str, str]] | None = None,
    force: bool = False,
    webhook_url: str = "",
) -> RenderJob:
    """Screenshot a page on the `browser` queue. Query params the caller forwards are
    appended to the target URL (and so are part of the cache key)."""
    url = target_url_check(options["url"])
    if forwarded:
        parts = urlsplit(url)
        extra = urlencode(sorted(forwarded.items()))
        url = urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
    headers, cookies = headers or {}, [dict(cookie) for cookie in cookies or []]
    spec = spec_build(
        ScreenshotSpec,
        options,
        url=url,
        digest=options.get("digest") or iso_week(),
        credentials=_credentials_digest(headers, cookies) if headers or cookies else "",
    )
    output_size_check(account=account, spec=spec)
    if spec.credentials:
        cache.set(
            _secrets_name(render_cache_key(spec)),
            {"headers": headers, "cookies": cookies},
            timeout=SECRETS_TTL,
        )
    return render_job_create(
        account=account, project=project, spec=spec, force=force, webhook_url=webhook_url
    )


_families: TtlCache[tuple[str, ...]] = TtlCache(ttl=local_cache_ttl)


def font_check(family: str) -> str:
    """`family` if some font has it (bundled, uploaded, KILN_FONT_DIRS, or fetched on
    demand when KILN_GOOGLE_FONTS is on), else a 400 listing them. The list is kept
    in-process for KILN_LOCAL_CACHE_SECONDS (an upload is seen within that bound)."""
    families = _families.get("all")
    if families is None or family not in families:
        from renders.fonts import font_on_demand, uploaded_fonts_register
        from workers.fonts import available_families

        uploaded_fonts_register()
        font_on_demand(family)
        families = _families.put("all", tuple(available_families()))
    if family not in families:
        also = " (or any Google Fonts family, with KILN_GOOGLE_FONTS on)"
        raise KilnError(
            "VALIDATION_FAILED",
            f"unknown font '{family}'; available: {', '.join(families)}"
            + ("" if settings.KILN_GOOGLE_FONTS else also),
            details={"font": list(families)},
        )
    return family


def size_resolve(*, template: Template, options: Mapping[str, Any]) -> tuple[int, int]:
    size = options.get("size")
    if size:
        if size not in SIZE_PRESETS:
            raise KilnError(
                "VALIDATION_FAILED",
                f"unknown size '{size}'; presets: {', '.join(SIZE_PRESETS)}",
                details={"size": list(SIZE_PRESETS)},
            )
        return SIZE_PRESETS[size]
    return (
        options.get("width") or template.default_width,
        options.get("height") or template.default_height,
    )


def image_params_check(*, template: Template, params: dict[str, Any]) -> None:
    """Refuse image/url params aimed at forbidden addresses before anything is queued;
    the worker's guarded fetch checks again at connect time."""
    from workers.address_guard import BlockedAddress, check_url, policy_from_settings

    policy = None
    for name, schema in template.param_schema.items():
        if schema["type"] in ("image", "url") and params.get(name):
            policy = policy or policy_from_settings()
            try:
                check_url(params[name], policy)
            except BlockedAddress as exc:
                raise KilnError(exc.code, exc.message, details={name: [exc.message]}) from None


TEMPLATE_SPECS: dict[str, type[TemplateSpec]] = {
    Template.Engine.SVG: TemplateSpec,
    Template.Engine.HTML: HtmlTemplateSpec,
    Template.Engine.TREE: TreeTemplateSpec,
}


def template_render_spec(
    *,
    account: Account,
    template: Template,
    params: Mapping[str, Any],
    options: Mapping[str, Any],
    from_query: bool = False,
) -> TemplateSpec:
    """The canonical, validated request for a template render (what the cache key hashes).
    `options`: size, width, height, format, quality, dpr, background, font."""
    cls = TEMPLATE_SPECS[template.engine]
    clean = params_validate(
        slug=template.slug, schema=template.param_schema, given=dict(params), from_query=from_query
    )
    image_params_check(template=template, params=clean)
    width, height = size_resolve(template=template, options=options)
    if cls is HtmlTemplateSpec and options.get("format") == "svg":
        raise KilnError(
            "VALIDATION_FAILED",
            "html templates render to png, jpeg, webp or pdf",
            details={"format": ["html templates render to png, jpeg, webp or pdf"]},
        )
    spec = spec_build(
        cls,
        options,
        template_id=template.id,
        template=template.slug,
        digest=template.digest,
        params=clean,
        width=width,
        height=height,
        font=font_check(options.get("font") or template.default_font),
    )
    spec = output_background(spec)
    output_size_check(account=account, spec=spec)
    return spec


def template_render_create(
    *,
    account: Account,
    project: Project | None,
    template: Template,
    params: Mapping[str, Any],
    options: Mapping[str, Any],
    from_query: bool = False,
    force: bool = False,
    webhook_url: str = "",
    batch: Batch | None = None,
    size_name: str = "",
) -> RenderJob:
    """Render a template with params (see template_render_spec)."""
    spec = template_render_spec(
        account=account, template=template, params=params, options=options, from_query=from_query
    )
    return render_job_create(
        account=account,
        project=project,
        spec=spec,
        force=force,
        webhook_url=webhook_url,
        batch=batch,
        size_name=size_name,
    )

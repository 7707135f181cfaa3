"""Writes for render jobs: create (cache, single-flight, enqueue) and the state machine.

Every status change is a conditional UPDATE, so two workers can never both own a job and
a late or duplicate message changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account, Project
from accounts.services import quota_check, usage_record_images
from config.errors import KilnError
from config.redis_client import get_redis
from renders.cache import cache_entry_name, render_cache_key, render_storage_path
from renders.models import Batch, RenderJob, Template
from renders.params import params_validate, schema_check
from renders.selectors import cached_render_lookup, done_channel
from renders.sizes import SIZE_PRESETS
from workers.rasterise import RenderedImage, RenderInputError, inspect_svg

logger = logging.getLogger(__name__)

Status = RenderJob.Status


def output_background(background: str | None, format: str) -> tuple[str | None, str]:
    """(background, format) as rendered: `transparent` is no background, and forces PNG
    where JPEG was asked (JPEG has no alpha)."""
    if background != "transparent":
        return background, format
    return None, "png" if format == "jpeg" else format


def svg_render_create(
    *,
    account: Account,
    project: Project | None,
    svg: str,
    width: int | None = None,
    height: int | None = None,
    format: str = "png",
    quality: int = 90,
    dpr: float = 1,
    background: str | None = None,
    force: bool = False,
    webhook_url: str = "",
) -> RenderJob:
    """Render inline SVG. It is checked here, before anything is queued, so bad input is
    a 4xx at once and a worker only ever sees SVG it may draw."""
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
    width = width or (round(info.width) if info.width else None)
    height = height or (round(info.height) if info.height else None)
    if not width or not height:
        raise KilnError(
            "VALIDATION_FAILED",
            "svg has no width/height or viewBox: pass 'width' and 'height'",
            details={"width": ["required for this svg"], "height": ["required for this svg"]},
        )
    output_size_check(account=account, width=width, height=height, dpr=dpr)
    background, format = output_background(background, format)
    spec = {
        "svg": svg,
        "width": width,
        "height": height,
        "format": format,
        "quality": quality if format in ("jpeg", "webp") else None,
        "dpr": round(float(dpr), 2),
        "background": background,
    }
    return render_job_create(
        account=account,
        project=project,
        kind=RenderJob.Kind.SVG,
        spec=spec,
        format=format,
        force=force,
        webhook_url=webhook_url,
    )


BROWSER_FORMATS = ("jpeg", "png", "webp", "pdf")
MAX_HTML_BYTES = 2_000_000
# Headers and cookies of a screenshot are credentials: they are kept in the cache (Redis
# in the farm) for the job's worker, never in the job row, the logs or the cache key.
SECRETS_TTL = 3600


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
    import hashlib
    import hmac
    import json

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
    url: str,
    forwarded: dict[str, str] | None = None,
    width: int = 1440,
    height: int = 788,
    dpr: float = 2,
    format: str = "jpeg",
    quality: int = 80,
    selector: str = "",
    full_page: bool = False,
    wait_for: str = "",
    delay_ms: int = 0,
    scheme: str = "",
    headers: dict[str, str] | None = None,
    cookies: list[dict[str, str]] | None = None,
    digest: str = "",
    force: bool = False,
    webhook_url: str = "",
) -> RenderJob:
    """Screenshot a page on the `browser` queue. Query params the caller forwards are
    appended to the target URL (and so are part of the cache key)."""
    from urllib.parse import urlencode, urlsplit, urlunsplit

    url = target_url_check(url)
    if forwarded:
        parts = urlsplit(url)
        extra = urlencode(sorted(forwarded.items()))
        url = urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
    output_size_check(account=account, width=width, height=height, dpr=dpr)
    headers, cookies = headers or {}, cookies or []
    spec = {
        "url": url,
        "width": width,
        "height": height,
        "dpr": round(float(dpr), 2),
        "format": format,
        "quality": quality if format in ("jpeg", "webp") else None,
        "selector": selector,
        "full_page": full_page,
        "wait_for": wait_for,
        "delay_ms": delay_ms,
        "scheme": scheme,
        "digest": digest or iso_week(),
        "credentials": _credentials_digest(headers, cookies) if headers or cookies else "",
    }
    if spec["credentials"]:
        cache.set(
            _secrets_name(render_cache_key(kind=RenderJob.Kind.SCREENSHOT, spec=spec)),
            {"headers": headers, "cookies": cookies},
            timeout=SECRETS_TTL,
        )
    return render_job_create(
        account=account,
        project=project,
        kind=RenderJob.Kind.SCREENSHOT,
        spec=spec,
        format=format,
        force=force,
        webhook_url=webhook_url,
    )


def html_render_create(
    *,
    account: Account,
    project: Project | None,
    html: str,
    width: int | None = None,
    height: int | None = None,
    format: str = "png",
    quality: int = 90,
    dpr: float = 1,
    background: str | None = None,
    force: bool = False,
    webhook_url: str = "",
) -> RenderJob:
    """Render inline HTML in the browser pool (Audome-style: width, height, format,
    quality, background or transparent)."""
    if len(html.encode()) > MAX_HTML_BYTES:
        raise KilnError("TOO_LARGE", f"html is larger than {MAX_HTML_BYTES} bytes")
    width, height = width or 1200, height or 630
    output_size_check(account=account, width=width, height=height, dpr=dpr)
    transparent = background == "transparent"
    background, format = output_background(background, format)
    if format == "svg":
        raise KilnError("VALIDATION_FAILED", "html renders to png, jpeg, webp or pdf")
    spec = {
        "html": html,
        "width": width,
        "height": height,
        "dpr": round(float(dpr), 2),
        "format": format,
        "quality": quality if format in ("jpeg", "webp") else None,
        "background": background,
        "transparent": transparent,
    }
    return render_job_create(
        account=account,
        project=project,
        kind=RenderJob.Kind.HTML,
        spec=spec,
        format=format,
        force=force,
        webhook_url=webhook_url,
    )


TEMPLATE_OUTPUT_FORMATS = ("png", "jpeg", "webp", "pdf", "svg")


def font_check(family: str) -> str:
    from renders.fonts import uploaded_fonts_register
    from workers.fonts import available_families

    uploaded_fonts_register()
    families = available_families()
    if family not in families:
        raise KilnError(
            "VALIDATION_FAILED",
            f"unknown font '{family}'; available: {', '.join(families)}",
            details={"font": families},
        )
    return family


def size_resolve(
    *, template: Template, size: str | None, width: int | None, height: int | None
) -> tuple[int, int]:
    if size:
        if size not in SIZE_PRESETS:
            raise KilnError(
                "VALIDATION_FAILED",
                f"unknown size '{size}'; presets: {', '.join(SIZE_PRESETS)}",
                details={"size": list(SIZE_PRESETS)},
            )
        return SIZE_PRESETS[size]
    return width or template.default_width, height or template.default_height


def image_params_check(*, template: Template, params: dict[str, Any]) -> None:
    """Refuse image/url params aimed at forbidden addresses before anything is queued;
    the worker's guarded fetch checks again at connect time."""
    from workers.address_guard import BlockedAddress, check_url, policy_from_settings

    policy = policy_from_settings()
    for name, spec in template.param_schema.items():
        if spec["type"] in ("image", "url") and params.get(name):
            try:
                check_url(params[name], policy)
            except BlockedAddress as exc:
                raise KilnError(exc.code, exc.message, details={name: [exc.message]}) from None


def template_render_spec(
    *,
    account: Account,
    template: Template,
    params: dict[str, Any],
    from_query: bool = False,
    size: str | None = None,
    width: int | None = None,
    height: int | None = None,
    format: str = "png",
    quality: int = 90,
    dpr: float = 1,
    background: str | None = None,
    font: str | None = None,
) -> dict[str, Any]:
    """The canonical, validated request for a template render (what the cache key hashes)."""
    if template.engine == Template.Engine.HTML and format == "svg":
        raise KilnError("VALIDATION_FAILED", "html templates render to png, jpeg, webp or pdf")
    if format not in TEMPLATE_OUTPUT_FORMATS:
        raise KilnError(
            "VALIDATION_FAILED",
            f"format must be one of {', '.join(TEMPLATE_OUTPUT_FORMATS)}",
            details={"format": list(TEMPLATE_OUTPUT_FORMATS)},
        )
    clean = params_validate(
        slug=template.slug, schema=template.param_schema, given=params, from_query=from_query
    )
    image_params_check(template=template, params=clean)
    family = font_check(font or template.default_font)
    width, height = size_resolve(template=template, size=size, width=width, height=height)
    output_size_check(account=account, width=width, height=height, dpr=dpr)
    background, format = output_background(background, format)
    return {
        "template_id": template.id,
        "template": template.slug,
        "digest": template.digest,
        "params": clean,
        "width": width,
        "height": height,
        "format": format,
        "quality": quality if format in ("jpeg", "webp") else None,
        "dpr": round(float(dpr), 2) if format != "svg" else 1.0,
        "background": background,
        "font": family,
    }


def template_render_create(
    *,
    account: Account,
    project: Project | None,
    template: Template,
    force: bool = False,
    webhook_url: str = "",
    batch: Batch | None = None,
    size_name: str = "",
    **request: Any,
) -> RenderJob:
    """Render a template with params (see template_render_spec for `request`)."""
    spec = template_render_spec(account=account, template=template, **request)
    return render_job_create(
        account=account,
        project=project,
        kind=(
            RenderJob.Kind.HTML_TEMPLATE
            if template.engine == Template.Engine.HTML
            else RenderJob.Kind.TEMPLATE
        ),
        spec=spec,
        format=spec["format"],
        force=force,
        webhook_url=webhook_url,
        batch=batch,
        size_name=size_name,
    )


def batch_create(
    *,
    account: Account,
    project: Project | None,
    template: Template,
    params: dict[str, Any],
    sizes: list[dict[str, Any]],
    webhook_url: str = "",
    **options: Any,
) -> Batch:
    """One template at many sizes: one job per size, in one group."""
    if not sizes:
        raise KilnError("VALIDATION_FAILED", "sizes must name at least one size")
    with transaction.atomic():
        batch = Batch.objects.create(
            account=account, template_slug=template.slug, webhook_url=webhook_url
        )
    for entry in sizes:
        template_render_create(
            account=account,
            project=project,
            template=template,
            params=params,
            size=entry.get("preset"),
            width=entry.get("width"),
            height=entry.get("height"),
            batch=batch,
            size_name=entry["name"],
            **options,
        )
    return batch


def template_save(
    *,
    template: Template,
    fields: dict[str, Any],
) -> Template:
    """Create or update a template: it must compile, pass the sandbox's static checks and
    render its sample params, or nothing is saved."""
    from workers.templating import TemplateSourceError

    for name, value in fields.items():
        setattr(template, name, value)
    schema_check(template.param_schema)
    font_check(template.default_font)
    try:
        svg = template_sample_document(template=template)
        if template.engine == Template.Engine.SVG:
            from workers.rasterise import inspect_svg

            inspect_svg(svg.encode())  # html output is guarded in the browser instead
    except TemplateSourceError as exc:
        raise KilnError(
            "VALIDATION_FAILED",
            f"template source: {exc}",
            details={"source": [str(exc)], "line": exc.line},
        ) from None
    except RenderInputError as exc:
        raise KilnError(
            "VALIDATION_FAILED",
            f"template output is not safe SVG: {exc.message}",
            details={"source": [exc.message]},
        ) from None
    template.digest = template_digest(template)
    template.save()
    return template


def template_sample_document(*, template: Template) -> str:
    """The template's document for its sample params at its default size (what saving
    checks and the admin previews). KilnError for bad sample params, TemplateSourceError
    when the source fails."""
    from workers.templating import TemplateContext, render_template_svg

    sample = params_validate(
        slug=template.slug,
        schema=template.param_schema,
        given={**template.sample_params},
        from_query=False,
    )
    context = TemplateContext(
        width=template.default_width,
        height=template.default_height,
        family=template.default_font,
    )
    return render_template_svg(template.source, sample, context)


def template_digest(template: Template) -> str:
    from workers.templating import source_digest

    return source_digest(
        template.engine,
        template.source,
        sorted(template.param_schema.items()),
        template.default_width,
        template.default_height,
        template.default_font,
    )


def output_size_check(*, account: Account, width: int, height: int, dpr: float) -> None:
    limit = account.plan.max_dimension
    for name, value in (("width", width), ("height", height)):
        if value > limit:
            raise KilnError(
                "VALIDATION_FAILED",
                f"{name} must be ≤ {limit}",
                details={name: [f"Ensure this value is less than or equal to {limit}."]},
            )
    pixels = round(width * dpr) * round(height * dpr)
    if pixels > settings.KILN_MAX_PIXELS:
        raise KilnError(
            "VALIDATION_FAILED",
            f"output is {pixels} pixels (width × height × dpr²); the limit is "
            f"{settings.KILN_MAX_PIXELS}",
        )


def render_job_create(
    *,
    account: Account,
    project: Project | None,
    kind: str,
    spec: dict[str, Any],
    format: str,
    force: bool = False,
    webhook_url: str = "",
    batch: Batch | None = None,
    size_name: str = "",
) -> RenderJob:
    """One job for one request: a cache hit, a follower of an identical render in
    flight, or a new leader enqueued on its engine's queue."""
    cache_key = render_cache_key(kind=kind, spec=spec)
    fields = dict(
        account=account,
        project=project,
        kind=kind,
        params=spec,
        cache_key=cache_key,
        format=format,
        webhook_url=webhook_url,
        batch=batch,
        size_name=size_name,
    )
    for _ in range(3):
        if not force:
            hit = cached_render_lookup(cache_key=cache_key)
            if hit is not None:
                now = timezone.now()
                return RenderJob.objects.create(
                    **fields,
                    status=Status.SUCCEEDED,
                    cached=True,
                    storage_path=hit["storage_path"],
                    width=hit["width"],
                    height=hit["height"],
                    size_bytes=hit["size_bytes"],
                    started_at=now,
                    finished_at=now,
                )
        quota_check(account=account)
        try:
            with transaction.atomic():
                job = RenderJob.objects.create(**fields)
                transaction.on_commit(lambda job=job: _enqueue(job))
        except IntegrityError:
            leader = RenderJob.objects.filter(
                cache_key=cache_key, status__in=RenderJob.IN_FLIGHT, follows__isnull=True
            ).first()
            if leader is not None:
                return _follower_create(leader=leader, fields=fields)
            continue  # the leader finished between our insert and our look: look again
        usage_record_images(account=account)
        return job
    raise KilnError("RENDER_FAILED", "could not start the render; retry")


def _follower_create(*, leader: RenderJob, fields: dict[str, Any]) -> RenderJob:
    follower = RenderJob.objects.create(**fields, follows=leader)
    # The leader may have finished before our row existed: copy its outcome now.
    leader.refresh_from_db()
    if leader.is_finished:
        RenderJob.objects.filter(id=follower.id, status__in=RenderJob.IN_FLIGHT).update(
            **_outcome_fields(leader)
        )
        follower.refresh_from_db()
    return follower


def _enqueue(job: RenderJob) -> None:
    from workers.tasks import task_for_kind

    try:
        task_for_kind(job.kind).delay(str(job.id))
    except (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError) as exc:
        render_job_fail(job=job, code="UNAVAILABLE", message="the job queue is unreachable")
        raise KilnError("UNAVAILABLE", "the job queue is unreachable; retry shortly") from exc


def render_job_claim(*, job_id: str, redelivered: bool = False) -> RenderJob | None:
    """Take a job for rendering; None if someone else has it or it is finished.

    QUEUED is always claimable. A RUNNING job is claimable only when its worker died:
    the broker redelivered the message, or it has not finished within the stale window.
    """
    now = timezone.now()
    claimable = Q(status=Status.QUEUED) | Q(
        status=Status.RUNNING,
        started_at__lt=now - timedelta(seconds=settings.KILN_JOB_STALE_AFTER),
    )
    if redelivered:
        claimable |= Q(status=Status.RUNNING)
    claimed = RenderJob.objects.filter(claimable, id=job_id, follows__isnull=True).update(
        status=Status.RUNNING, started_at=now, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return None
    job = RenderJob.objects.get(id=job_id)
    if job.attempts > settings.KILN_RENDER_MAX_ATTEMPTS:
        render_job_fail(
            job=job,
            code="RENDER_FAILED",
            message=f"gave up after {job.attempts - 1} attempts (worker lost each time)",
        )
        return None
    return job


def render_job_requeue(*, job: RenderJob) -> None:
    """Hand a RUNNING job back to the queue before a retry."""
    RenderJob.objects.filter(id=job.id, status=Status.RUNNING).update(status=Status.QUEUED)


def render_job_succeed(*, job: RenderJob, image: RenderedImage, generation_ms: int) -> bool:
    path = render_storage_path(cache_key=job.cache_key, format=image.format)
    # Content-addressed: same key, same bytes, so overwriting is harmless.
    if default_storage.exists(path):
        default_storage.delete(path)
    default_storage.save(path, ContentFile(image.data))
    outcome = dict(
        status=Status.SUCCEEDED,
        storage_path=path,
        format=image.format,
        width=image.width,
        height=image.height,
        size_bytes=len(image.data),
        generation_ms=generation_ms,
        finished_at=timezone.now(),
        error_code="",
        error_message="",
    )
    return _finish(job=job, outcome=outcome)


def render_job_fail(*, job: RenderJob, code: str, message: str) -> bool:
    outcome = dict(
        status=Status.FAILED,
        error_code=code,
        error_message=message[:2000],
        finished_at=timezone.now(),
    )
    return _finish(job=job, outcome=outcome)


def _finish(*, job: RenderJob, outcome: dict[str, Any]) -> bool:
    with transaction.atomic():
        done = RenderJob.objects.filter(id=job.id, status__in=RenderJob.IN_FLIGHT).update(**outcome)
        if not done:
            return False
        RenderJob.objects.filter(follows_id=job.id, status__in=RenderJob.IN_FLIGHT).update(
            **outcome
        )
        job.refresh_from_db()
        transaction.on_commit(lambda: _announce(job))
    return True


def _announce(job: RenderJob) -> None:
    """Fill the Redis cache and wake every waiter; best effort (waiters also poll)."""
    try:
        if job.status == Status.SUCCEEDED:
            cache.set(
                cache_entry_name(job.cache_key),
                {
                    "storage_path": job.storage_path,
                    "width": job.width,
                    "height": job.height,
                    "size_bytes": job.size_bytes,
                },
                timeout=settings.KILN_CACHE_TTL_DAYS * 86400,
            )
        client = get_redis()
        if client is not None:
            client.publish(done_channel(job.cache_key), str(job.id))
    except redis.exceptions.RedisError:
        logger.warning("could not announce job %s; waiters will poll", job.id)


def _outcome_fields(job: RenderJob) -> dict[str, Any]:
    return {
        name: getattr(job, name)
        for name in (
            "status",
            "storage_path",
            "format",
            "width",
            "height",
            "size_bytes",
            "generation_ms",
            "started_at",
            "finished_at",
            "error_code",
            "error_message",
        )
    }


def stale_jobs_requeue() -> int:
    """Re-enqueue leaders whose message was lost or whose worker died (the reaper).

    A duplicate message is harmless: claiming is conditional.
    """
    from workers.tasks import task_for_kind

    cutoff = timezone.now() - timedelta(seconds=settings.KILN_JOB_STALE_AFTER)
    stale = RenderJob.objects.filter(
        Q(status=Status.QUEUED, created_at__lt=cutoff)
        | Q(status=Status.RUNNING, started_at__lt=cutoff),
        follows__isnull=True,
    ).only("id", "kind")
    count = 0
    for job in stale[:500]:
        task_for_kind(job.kind).delay(str(job.id))
        count += 1
    return count


def expired_renders_delete() -> int:
    """Enforce the cache TTL: drop finished rows older than it, and the files no row uses."""
    cutoff = timezone.now() - timedelta(days=settings.KILN_CACHE_TTL_DAYS)
    old = RenderJob.objects.filter(
        status__in=(Status.SUCCEEDED, Status.FAILED), created_at__lt=cutoff
    )
    keys = set(old.values_list("cache_key", flat=True)[:5000])
    paths = set(
        old.filter(cache_key__in=keys)
        .exclude(storage_path="")
        .values_list("storage_path", flat=True)
    )
    old.filter(cache_key__in=keys).delete()
    still_used = set(
        RenderJob.objects.filter(storage_path__in=paths).values_list("storage_path", flat=True)
    )
    for path in paths - still_used:
        default_storage.delete(path)
    for key in keys:
        if not RenderJob.objects.filter(cache_key=key, status=Status.SUCCEEDED).exists():
            cache.delete(cache_entry_name(key))
    return len(paths - still_used)

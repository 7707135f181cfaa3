"""What a worker does with one render job: claim it, hand its spec to the engine, record
the outcome. Tasks (renders/tasks.py) are thin wrappers around `render_job_run`.

Expected failures (bad input, a refused address, an upstream error) fail the job at once;
storage and database hiccups around a finished render are retried with backoff; anything
else an engine raises fails the job too, so a job always ends.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import botocore.exceptions
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from config.errors import public_code
from config.logging import job_id_var
from renders.models import RenderJob
from renders.selectors import template_by_id
from renders.services.jobs import (
    render_job_claim,
    render_job_fail,
    render_job_requeue,
    render_job_succeed,
)
from renders.services.kinds import render_secrets_get
from renders.services.templates import template_document as template_document_render
from workers.rasterise import RenderedImage, RenderInputError, render_spec_svg
from workers.specs import HtmlSpec, HtmlTemplateSpec, ScreenshotSpec, SvgSpec, TemplateSpec
from workers.templating import TemplateSourceError

logger = logging.getLogger(__name__)

# Failures worth another try: the store or the database blinked, the input is fine.
TRANSIENT_ERRORS = (OSError, OperationalError, botocore.exceptions.BotoCoreError)
MAX_TEMPLATE_IMAGE_BYTES = 5_000_000


@dataclass(frozen=True)
class TaskData:
    """What a task knows about its delivery (Celery's request, typed)."""

    job_id: str
    redelivered: bool
    retries: int
    max_retries: int


class RetryRender(Exception):
    """Storing the finished render failed transiently: the task retries after `countdown`."""

    def __init__(self, cause: BaseException, countdown: float) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.countdown = countdown


def render_job_run(*, task: TaskData) -> str:
    job = render_job_claim(job_id=task.job_id, redelivered=task.redelivered)
    if job is None:
        return "not claimed"
    token = job_id_var.set(task.job_id)
    try:
        started = time.monotonic()
        try:
            image = render_job_engine(job)
        except RenderInputError as exc:
            render_job_fail(job=job, code=public_code(exc.code), message=_message(exc))
            return "failed"
        except SoftTimeLimitExceeded:
            render_job_fail(job=job, code="RENDER_TIMEOUT", message="the render hit its time limit")
            return "timed out"
        except Exception as exc:  # an engine bug must not leave the job running
            logger.exception("engine failed on job %s", task.job_id)
            render_job_fail(job=job, code="RENDER_FAILED", message=f"renderer error: {exc!r}"[:300])
            return "failed"
        generation_ms = round((time.monotonic() - started) * 1000)
        try:
            render_job_succeed(job=job, image=image, generation_ms=generation_ms)
        except TRANSIENT_ERRORS as exc:
            if task.retries >= task.max_retries:
                render_job_fail(job=job, code="RENDER_FAILED", message=f"could not store: {exc}")
                return "failed"
            logger.warning("storing job %s failed (%r); retrying", task.job_id, exc)
            render_job_requeue(job=job)
            raise RetryRender(exc, countdown=2**task.retries) from exc
        logger.info("job %s rendered in %d ms", task.job_id, generation_ms)
        return "succeeded"
    finally:
        job_id_var.reset(token)


def _message(exc: RenderInputError) -> str:
    message = exc.message
    status = (getattr(exc, "details", None) or {}).get("status")
    if status is not None and str(status) not in message:
        message = f"{message} (the target answered {status})"
    return message


def render_job_engine(job: RenderJob) -> RenderedImage:
    """The job's spec, handed whole to its kind's engine."""
    spec = job.spec
    if isinstance(spec, SvgSpec):
        return render_spec_svg(spec.svg.encode(), spec)
    if isinstance(spec, HtmlTemplateSpec):
        return _html_template(spec)
    if isinstance(spec, TemplateSpec):
        svg = template_document(spec)
        if spec.format == "svg":
            return RenderedImage(svg.encode(), "svg", spec.width, spec.height)
        return render_spec_svg(svg.encode(), spec)
    if isinstance(spec, HtmlSpec):
        return _html(spec.html, spec, transparent=spec.transparent)
    if isinstance(spec, ScreenshotSpec):
        from workers.browser import screenshot

        secrets = render_secrets_get(job=job)
        return screenshot(spec, headers=secrets.get("headers"), cookies=secrets.get("cookies"))
    raise RenderInputError("VALIDATION_FAILED", f"no engine for {job.kind}")


def template_document(spec: TemplateSpec) -> str:
    """A template job's document (SVG, or HTML for the browser pool), rendered from the
    template version the job was made for."""
    from renders.fonts import font_on_demand, uploaded_fonts_register
    from workers.tree import TreeTemplateError

    template = template_by_id(template_id=spec.template_id, digest=spec.digest)
    if template is None:
        raise RenderInputError(
            "CONFLICT", f"template '{spec.template}' changed or was deleted; request again"
        )
    uploaded_fonts_register()
    font_on_demand(spec.font, fetch=False)  # stored by the web when it validated it
    try:
        return template_document_render(
            template=template,
            params=spec.params,
            width=spec.width,
            height=spec.height,
            family=spec.font,
            fetch_image=fetch_param_image,
        )
    except (TemplateSourceError, TreeTemplateError) as exc:
        raise RenderInputError("RENDER_FAILED", exc.message) from None


def fetch_param_image(url: str) -> tuple[str, bytes]:
    """A template's logo or background: fetched through the address guard, images only."""
    from workers.address_guard import BlockedAddress
    from workers.fetch import FetchError, fetch_image

    try:
        result = fetch_image(url, max_bytes=MAX_TEMPLATE_IMAGE_BYTES, timeout=10.0)
    except BlockedAddress as exc:
        raise RenderInputError(exc.code, exc.message) from None
    except FetchError as exc:
        raise RenderInputError(exc.code, f"image {url[:200]}: {exc.message}") from None
    return result.content_type, result.content


def _html_template(spec: HtmlTemplateSpec) -> RenderedImage:
    from workers.fonts import font_face_css

    fonts = font_face_css(spec.font)  # uploaded families; bundled ones are system fonts
    # Appended, not prepended: anything before a doctype would switch on quirks mode.
    document = template_document(spec) + (f"<style>{fonts}</style>" if fonts else "")
    return _html(document, spec, transparent=not spec.background)


def _html(html: str, spec: HtmlSpec | HtmlTemplateSpec, *, transparent: bool) -> RenderedImage:
    from workers.browser import render_html

    if spec.background and not transparent:
        # The page's own background wins; this only fills what the page leaves empty.
        html = f"{html}<style>:where(html){{background:{spec.background}}}</style>"
    return render_html(html, spec, transparent=transparent)

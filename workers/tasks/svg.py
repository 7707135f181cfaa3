"""Queue `svg`: inline SVG and SVG templates, rasterised by workers.rasterise."""

from celery import shared_task
from django.conf import settings

from renders.fonts import uploaded_fonts_register
from renders.models import RenderJob, Template
from workers.jobs import run_render_job
from workers.rasterise import RenderedImage, RenderInputError, render_svg
from workers.templating import TemplateContext, TemplateSourceError, render_template_svg

MAX_TEMPLATE_IMAGE_BYTES = 5_000_000


def render_svg_spec(job: RenderJob) -> RenderedImage:
    spec = job.params
    return _rasterise(spec["svg"].encode(), spec)


def render_template_spec(job: RenderJob) -> RenderedImage:
    spec = job.params
    svg = template_document(spec)
    if spec["format"] == "svg":
        return RenderedImage(svg.encode(), "svg", spec["width"], spec["height"])
    return _rasterise(svg.encode(), spec)


def template_document(spec: dict) -> str:
    """A template job's document (SVG, or HTML for the browser pool), rendered from the
    template version the job was made for."""
    template = Template.objects.filter(id=spec["template_id"]).first()
    if template is None:
        raise RenderInputError("NOT_FOUND", f"template '{spec['template']}' was deleted")
    if template.digest != spec["digest"]:
        raise RenderInputError("CONFLICT", "the template changed while queued; request again")
    uploaded_fonts_register()
    context = TemplateContext(
        width=spec["width"],
        height=spec["height"],
        family=spec["font"],
        fetch_image=fetch_param_image,
    )
    try:
        return render_template_svg(template.source, spec["params"], context)
    except TemplateSourceError as exc:
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


def _rasterise(svg: bytes, spec: dict) -> RenderedImage:
    return render_svg(
        svg,
        format=spec["format"],
        width=spec["width"],
        height=spec["height"],
        dpr=spec["dpr"],
        quality=spec["quality"] or 90,
        background=spec["background"],
    )


@shared_task(bind=True, max_retries=settings.KILN_RENDER_MAX_ATTEMPTS - 1)
def render_svg_job(self, job_id: str) -> str:
    return run_render_job(self, job_id, engine=render_svg_spec)


@shared_task(bind=True, max_retries=settings.KILN_RENDER_MAX_ATTEMPTS - 1)
def render_template_job(self, job_id: str) -> str:
    return run_render_job(self, job_id, engine=render_template_spec)

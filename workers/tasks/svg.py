"""Queue `svg`: inline SVG (and, later, SVG templates) rasterised by workers.rasterise."""

from celery import shared_task
from django.conf import settings

from renders.models import RenderJob
from workers.jobs import run_render_job
from workers.rasterise import RenderedImage, render_svg


def render_svg_spec(job: RenderJob) -> RenderedImage:
    spec = job.params
    return render_svg(
        spec["svg"].encode(),
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

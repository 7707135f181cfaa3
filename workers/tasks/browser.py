"""Queue `browser`: screenshots, inline HTML and HTML templates, in the per-process
Chromium pool of workers/browser.py."""

from celery import shared_task
from django.conf import settings

from renders.fonts import uploaded_fonts_register
from renders.models import RenderJob
from renders.services import render_secrets_get
from workers.jobs import run_render_job
from workers.rasterise import RenderedImage
from workers.tasks.svg import template_document


def screenshot_spec_render(job: RenderJob) -> RenderedImage:
    from workers.browser import screenshot_url

    spec = job.params
    secrets = render_secrets_get(job=job)
    return screenshot_url(
        spec["url"],
        width=spec["width"],
        height=spec["height"],
        dpr=spec["dpr"],
        format=spec["format"],
        quality=spec["quality"] or 80,
        selector=spec["selector"] or None,
        full_page=spec["full_page"],
        wait_for=spec["wait_for"] or None,
        delay_ms=spec["delay_ms"],
        scheme=spec["scheme"] or None,
        headers=secrets.get("headers"),
        cookies=secrets.get("cookies"),
    )


def html_spec_render(job: RenderJob) -> RenderedImage:
    return _render_html(job.params["html"], job.params)


def html_template_spec_render(job: RenderJob) -> RenderedImage:
    from workers.fonts import font_face_css

    spec = job.params
    uploaded_fonts_register()
    fonts = font_face_css(spec["font"])  # uploaded families; bundled ones are system fonts
    # Appended, not prepended: anything before a doctype would switch on quirks mode.
    document = template_document(spec) + (f"<style>{fonts}</style>" if fonts else "")
    return _render_html(document, {**spec, "transparent": not spec["background"]})


def _render_html(html: str, spec: dict) -> RenderedImage:
    from workers.browser import render_html

    if spec.get("background") and not spec.get("transparent"):
        # The page's own background wins; this only fills what the page leaves empty.
        html = f"{html}<style>:where(html){{background:{spec['background']}}}</style>"
    return render_html(
        html,
        width=spec["width"],
        height=spec["height"],
        dpr=spec["dpr"],
        format=spec["format"],
        quality=spec["quality"] or 90,
        transparent=bool(spec.get("transparent")),
    )


@shared_task(bind=True, max_retries=settings.KILN_RENDER_MAX_ATTEMPTS - 1)
def render_screenshot_job(self, job_id: str) -> str:
    return run_render_job(self, job_id, engine=screenshot_spec_render)


@shared_task(bind=True, max_retries=settings.KILN_RENDER_MAX_ATTEMPTS - 1)
def render_html_job(self, job_id: str) -> str:
    return run_render_job(self, job_id, engine=html_spec_render)


@shared_task(bind=True, max_retries=settings.KILN_RENDER_MAX_ATTEMPTS - 1)
def render_html_template_job(self, job_id: str) -> str:
    return run_render_job(self, job_id, engine=html_template_spec_render)

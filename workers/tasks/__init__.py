"""Celery tasks, one module per queue (routing is by module, see config/celery.py)."""

from __future__ import annotations

from celery import Task


def task_for_kind(kind: str) -> Task:
    """The task that renders jobs of `kind`; each engine adds its kind here."""
    from workers.tasks.browser import (
        render_html_job,
        render_html_template_job,
        render_screenshot_job,
    )
    from workers.tasks.svg import render_svg_job, render_template_job

    tasks = {
        "svg": render_svg_job,
        "template": render_template_job,
        "screenshot": render_screenshot_job,
        "html": render_html_job,
        "html_template": render_html_template_job,
    }
    return tasks[kind]

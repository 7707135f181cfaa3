"""Batches: one template at many sizes, a group of render jobs with one state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.models import Account, Project
from config.errors import KilnError
from renders.models import Batch, RenderJob, Template
from renders.services.kinds import template_render_create


def batch_create(
    *,
    account: Account,
    project: Project | None,
    template: Template,
    params: Mapping[str, Any],
    options: Mapping[str, Any],
    sizes: list[dict[str, Any]],
    force: bool = False,
    webhook_url: str = "",
) -> Batch:
    """One job per size, in one group. `options` as for a template render (its own
    size/width/height are ignored: each entry of `sizes` gives one)."""
    if not sizes:
        raise KilnError("VALIDATION_FAILED", "sizes must name at least one size")
    names = [entry["name"] for entry in sizes]
    if len(set(names)) != len(names):
        raise KilnError("VALIDATION_FAILED", "size names must be unique", details={"sizes": names})
    with transaction.atomic():
        batch = Batch.objects.create(
            account=account, template_slug=template.slug, webhook_url=webhook_url
        )
    shared = {k: v for k, v in options.items() if k not in ("size", "width", "height")}
    for entry in sizes:
        template_render_create(
            account=account,
            project=project,
            template=template,
            params=params,
            options={
                **shared,
                "size": entry.get("preset"),
                "width": entry.get("width"),
                "height": entry.get("height"),
            },
            force=force,
            batch=batch,
            size_name=entry["name"],
        )
    return batch


@dataclass(frozen=True)
class BatchState:
    """A batch's progress, computed in this one place."""

    jobs: list[RenderJob]
    done: int
    failed: int

    @property
    def total(self) -> int:
        return len(self.jobs)

    @property
    def status(self) -> str:
        if self.done < self.total:
            return "running"
        return "failed" if self.failed == self.total else "completed"

    @property
    def finished(self) -> bool:
        return self.done == self.total


def batch_state(*, jobs: list[RenderJob]) -> BatchState:
    return BatchState(
        jobs=jobs,
        done=sum(1 for job in jobs if job.is_finished),
        failed=sum(1 for job in jobs if job.status == RenderJob.Status.FAILED),
    )

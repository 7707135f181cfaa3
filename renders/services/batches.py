"""Batches: one template at many sizes, a group of render jobs with one state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from accounts.models import Account, Project
from config.errors import KilnError
from renders.models import Batch, Template
from renders.services.kinds import template_render_create
from webhooks.services import batch_webhook_seal, webhook_url_check


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
    if webhook_url:
        webhook_url = webhook_url_check(url=webhook_url)  # webhooks: refused before anything
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
    if webhook_url:
        batch_webhook_seal(batch=batch)  # webhooks: batch.completed once none is in flight
    return batch

"""The periodic upkeep tasks, run for real against the farm worker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from renders.models import RenderJob
from renders.services.upkeep import expired_renders_delete, stale_jobs_requeue
from tests.factories import svg_document

pytestmark = pytest.mark.usefixtures("farm")


def test_reaper_requeues_a_job_whose_message_was_lost(account):
    from renders.cache import render_cache_key
    from workers.specs import SvgSpec

    spec = SvgSpec(svg=svg_document(fill="#0a0b0c"), width=320, height=160)
    # A committed QUEUED job that no message points at (as if the broker lost it).
    job = RenderJob.objects.create(
        account=account,
        kind=spec.kind,
        params=spec.to_json(),
        format=spec.format,
        cache_key=render_cache_key(spec),
        created_at=timezone.now() - timedelta(hours=1),
    )

    assert stale_jobs_requeue() == 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and job.status != "succeeded":
        time.sleep(0.1)
        job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.attempts == 1


def test_cache_ttl_deletes_old_rows_and_their_files(api):
    old = api.post("/v1/images", {"svg": svg_document(fill="#0d0e0f")}, format="json").json()
    row = RenderJob.objects.get(id=old["id"])
    assert default_storage.exists(row.storage_path)
    RenderJob.objects.filter(id=row.id).update(created_at=timezone.now() - timedelta(days=31))

    assert expired_renders_delete() == 1

    assert not RenderJob.objects.filter(id=row.id).exists()
    assert not default_storage.exists(row.storage_path)
    again = api.post("/v1/images", {"svg": svg_document(fill="#0d0e0f")}, format="json").json()
    assert again["cached"] is False

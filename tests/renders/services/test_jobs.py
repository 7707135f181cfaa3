"""renders.services.jobs: hits write nothing, leaders reserve quota, ETags follow bytes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import MonthlyUsage
from renders.cache import content_etag
from renders.models import RenderJob
from renders.selectors import cached_render_lookup, render_job_get
from renders.services.jobs import render_job_claim, render_job_create, render_job_succeed
from tests.factories import AccountFactory, svg_document
from workers.rasterise import RenderedImage
from workers.specs import SvgSpec

pytestmark = pytest.mark.django_db(transaction=True)


def _spec(fill: str = "#123456") -> SvgSpec:
    return SvgSpec(svg=svg_document(fill=fill), width=320, height=160)


def _finish(job: RenderJob, data: bytes = b"\x89PNG fake") -> RenderJob:
    """Play the worker: claim and store (no engine needed for the bookkeeping)."""
    claimed = render_job_claim(job_id=str(job.id))
    render_job_succeed(job=claimed, image=RenderedImage(data, "png", 320, 160), generation_ms=3)
    job.refresh_from_db()
    return job


def test_a_new_request_is_a_leader_that_reserves_one_image(
    account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():  # the enqueue is not executed here
        job = render_job_create(account=account, project=None, spec=_spec())

    assert job.status == "queued" and job.follows_id is None
    assert MonthlyUsage.objects.get(account=account).images == 1


def test_a_cache_hit_writes_nothing_to_the_database(account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        leader = render_job_create(account=account, project=None, spec=_spec("#0a0a0a"))
    _finish(leader)
    cached_render_lookup(cache_key=leader.cache_key)  # the entry is in Redis now

    with CaptureQueriesContext(connection) as queries:
        hit = render_job_create(account=account, project=None, spec=_spec("#0a0a0a"))

    assert hit.cached and hit.status == "succeeded" and str(hit.id) == str(leader.id)
    assert [q["sql"] for q in queries.captured_queries] == []
    assert MonthlyUsage.objects.get(account=account).images == 1  # hits are free


def test_a_hit_for_another_account_is_readable_by_it_alone(
    account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        leader = render_job_create(account=account, project=None, spec=_spec("#0b0b0b"))
    _finish(leader)
    other, third = AccountFactory(), AccountFactory()

    hit = render_job_create(account=other, project=None, spec=_spec("#0b0b0b"))

    assert str(hit.id) != str(leader.id)
    assert render_job_get(account=other, job_id=str(hit.id)).storage_path == leader.storage_path
    for stranger, job_id in ((third, hit.id), (other, leader.id)):
        with pytest.raises(Exception, match="no job"):
            render_job_get(account=stranger, job_id=str(job_id))


def test_the_etag_is_a_digest_of_the_stored_bytes(account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job = render_job_create(account=account, project=None, spec=_spec("#0c0c0c"))
    job = _finish(job, data=b"first bytes")
    with django_capture_on_commit_callbacks():
        forced = render_job_create(account=account, project=None, spec=_spec("#0c0c0c"), force=True)
    forced = _finish(forced, data=b"second bytes")

    assert job.etag == content_etag(b"first bytes")
    assert forced.etag == content_etag(b"second bytes") != job.etag
    assert cached_render_lookup(cache_key=job.cache_key).etag == forced.etag


def test_quota_is_reserved_atomically_and_refused_past_the_plan(django_capture_on_commit_callbacks):
    from config.errors import KilnError

    account = AccountFactory(plan__slug="two-images", plan__monthly_images=2)
    with django_capture_on_commit_callbacks():
        for fill in ("#000001", "#000002"):
            render_job_create(account=account, project=None, spec=_spec(fill))

    with pytest.raises(KilnError) as error:
        render_job_create(account=account, project=None, spec=_spec("#000003"))

    assert error.value.code == "QUOTA_EXCEEDED"
    assert MonthlyUsage.objects.get(account=account).images == 2
    assert RenderJob.objects.filter(account=account).count() == 2  # nothing half-written


def test_hits_are_counted_in_redis_and_flushed_to_the_month(
    account, django_capture_on_commit_callbacks
):
    from renders.stats import render_hits_push, render_stats_flush

    with django_capture_on_commit_callbacks():
        leader = render_job_create(account=account, project=None, spec=_spec("#0d0d0d"))
    _finish(leader)
    for _ in range(3):
        render_job_create(account=account, project=None, spec=_spec("#0d0d0d"))
    render_hits_push()

    assert render_stats_flush() >= 3
    assert MonthlyUsage.objects.get(account=account).cache_hits == 3
    assert render_stats_flush() == 0  # drained

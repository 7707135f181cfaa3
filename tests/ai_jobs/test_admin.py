"""The AI jobs admin: listing with thumbnails, and "retry" for failed jobs only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from ai_jobs.models import AiJob
from ai_jobs.services import ai_job_submit

pytestmark = pytest.mark.usefixtures("ai_settings")


@pytest.fixture
def admin_client(client, db):
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.login(username="admin", password="pw")
    return client


def test_the_list_shows_state_error_and_a_thumbnail_of_the_stable_url(admin_client, ai_account):
    job = ai_job_submit(account=ai_account, prompt="admin fox", width=256, height=256)
    AiJob.objects.filter(id=job.id).update(
        state="failed", error_code="UPSTREAM_FAILED", error_message="model crashed"
    )

    listing = admin_client.get("/admin/ai_jobs/aijob/").content.decode()
    detail = admin_client.get(f"/admin/ai_jobs/aijob/{job.id}/change/").content.decode()

    assert f'src="/ai/256x256/{job.id}.png"' in listing
    assert "UPSTREAM_FAILED" in listing
    assert "model crashed" in detail and "admin fox" in detail


def test_retry_queues_failed_jobs_again_and_skips_the_others(
    admin_client, ai_account, django_capture_on_commit_callbacks
):
    failed = ai_job_submit(account=ai_account, prompt="failed fox", width=256, height=256)
    blocked = ai_job_submit(account=ai_account, prompt="blocked fox", width=256, height=256)
    AiJob.objects.filter(id=failed.id).update(
        state="failed", prediction_id="p1", error_code="UPSTREAM_FAILED", error_message="x"
    )
    AiJob.objects.filter(id=blocked.id).update(state="blocked", error_code="PROMPT_BLOCKED")

    with django_capture_on_commit_callbacks() as callbacks:
        admin_client.post(
            "/admin/ai_jobs/aijob/",
            {"action": "retry", "_selected_action": [failed.id, blocked.id]},
            follow=True,
        )

    failed.refresh_from_db()
    assert (failed.state, failed.prediction_id, failed.error_code) == ("pending", "", "")
    assert AiJob.objects.get(id=blocked.id).state == "blocked"
    assert len(callbacks) == 1  # one create_prediction, for the failed job

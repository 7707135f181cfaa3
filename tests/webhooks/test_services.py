"""Webhook services on their own (in a test transaction: nothing reaches a worker): the
sweep's choice, giving up, expiry, redelivery's guard, the secret in the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.models import Delivery
from webhooks.services import (
    deliveries_expire,
    deliveries_sweep,
    delivery_attempt,
    delivery_redeliver,
)

pytestmark = pytest.mark.django_db


def delivery(account, **fields) -> Delivery:
    return Delivery.objects.create(
        account=account,
        event_type="render.completed",
        subject_id="job",
        url="https://hooks.example.com/kiln",
        body="{}",
        **fields,
    )


def test_the_sweep_queues_what_nobody_is_taking_care_of(account, settings):
    settings.KILN_WEBHOOK_SWEEP_INTERVAL = 10
    now = timezone.now()
    long_ago, just_now, soon = now - timedelta(minutes=5), now - timedelta(seconds=5), now
    lost = delivery(account, next_attempt_at=long_ago, enqueued_at=long_ago)
    never_sent = delivery(account, next_attempt_at=long_ago, enqueued_at=None)
    stranded = delivery(account, state="sending", lease_until=just_now, enqueued_at=None)
    on_its_way = delivery(account, next_attempt_at=just_now, enqueued_at=just_now)
    not_due = delivery(account, next_attempt_at=now + timedelta(hours=1), enqueued_at=None)
    being_sent = delivery(account, state="sending", lease_until=now + timedelta(seconds=9))
    done = delivery(account, state="delivered", next_attempt_at=None, enqueued_at=long_ago)

    queued = deliveries_sweep(now=soon)

    assert queued == 3
    picked = {d.id for d in Delivery.objects.filter(enqueued_at=soon)}
    assert picked == {lost.id, never_sent.id, stranded.id}
    assert not picked & {on_its_way.id, not_due.id, being_sent.id, done.id}
    assert deliveries_sweep(now=soon) == 0  # queued once, not again at every sweep


def test_a_delivery_claimed_more_often_than_allowed_gives_up(account, settings):
    settings.KILN_WEBHOOK_RETRY_SCHEDULE = [1.0, 1.0]
    stuck = delivery(
        account,
        state="sending",
        lease_until=timezone.now() - timedelta(seconds=1),
        attempts=3,
        round_attempts=3,
    )

    assert delivery_attempt(delivery_id=str(stuck.id)) == "stopped: gave_up"

    stuck.refresh_from_db()
    assert stuck.state == "failed" and stuck.attempts == 4
    assert stuck.attempt_log.get().outcome == "gave_up"
    assert stuck.last_error.startswith("gave up: 3 attempts")


def test_finished_deliveries_go_with_the_render_cache_ttl(account, settings):
    settings.KILN_CACHE_TTL_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    gone = [
        delivery(account, state="delivered", created_at=old),
        delivery(account, state="failed", created_at=old),
    ]
    kept = [
        delivery(account, state="pending", created_at=old),  # still being delivered
        delivery(account, state="delivered"),
    ]

    assert deliveries_expire() == 2

    assert set(Delivery.objects.values_list("id", flat=True)) == {d.id for d in kept}
    assert not Delivery.objects.filter(id__in=[d.id for d in gone]).exists()


def test_redelivery_leaves_an_attempt_under_way_alone(account):
    sending = delivery(account, state="sending", lease_until=timezone.now() + timedelta(seconds=9))
    failed = delivery(account, state="failed", round_attempts=8, attempts=8)

    assert delivery_redeliver(delivery=sending) is False
    assert delivery_redeliver(delivery=failed) is True

    failed.refresh_from_db()
    assert (failed.state, failed.round_attempts, failed.attempts) == ("pending", 0, 8)


def test_the_admin_shows_the_secret_and_does_not_let_it_be_edited(account, admin_client):
    page = admin_client.get(f"/admin/accounts/account/{account.id}/change/").content.decode()

    assert account.webhook_secret in page
    assert 'name="webhook_secret"' not in page

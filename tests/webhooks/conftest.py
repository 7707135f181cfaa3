"""Webhook fixtures: a Standard Webhooks receiver on the fixture site the farm may reach."""

from __future__ import annotations

import pytest

from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver_for(page_site):
    """receiver_for(account, answers=…) → a receiver verifying with the account's secret,
    at a fresh path of the fixture site (reachable from this process and the farm)."""

    def make(account, answers=(), secrets=None) -> WebhookReceiver:
        return WebhookReceiver(page_site, secrets or [account.webhook_secret], answers)

    return make

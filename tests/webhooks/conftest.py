"""Webhook fixtures: a Standard Webhooks receiver on the fixture site the farm may reach."""

from __future__ import annotations

import pytest

from tests.support.processes import wait_until
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver_for(page_site):
    """receiver_for(account, answers=…) → a receiver verifying with the account's secret,
    at a fresh path of the fixture site (reachable from this process and the farm)."""

    def make(account, answers=(), secrets=None) -> WebhookReceiver:
        return WebhookReceiver(page_site, secrets or [account.webhook_secret], answers)

    return make


@pytest.fixture
def settled(transactional_db):
    """After the test, wait until the workers are done with its deliveries: the database
    flush that follows would deadlock with a worker still recording an attempt."""
    yield
    from webhooks.models import Delivery

    unsettled = Delivery.objects.filter(state__in=Delivery.OPEN)
    wait_until(lambda: not unsettled.exists(), timeout=60, what="the deliveries to settle")


# The reliability figure (test_faults.py), printed at the end of the run.
RELIABILITY: dict[str, object] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    if RELIABILITY:
        figure = ", ".join(f"{name} {value}" for name, value in RELIABILITY.items())
        terminalreporter.write_line(f"webhook reliability: {figure}")

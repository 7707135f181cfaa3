"""AI job fixtures: the fake Replicate server, settings pointing at it, AI plans."""

from __future__ import annotations

import pytest

from ai_jobs.providers import reset_provider
from tests.factories import AccountFactory, PlanFactory, api_key_for
from tests.support.fake_replicate import FakeReplicate


@pytest.fixture(scope="session")
def fake_replicate():
    fake = FakeReplicate().start()
    yield fake
    fake.stop()


@pytest.fixture
def ai_settings(settings, fake_replicate):
    """In-process tests: the real `replicate` client talks to the fake; no public URL,
    so no webhooks are requested (tests deliver them by hand)."""
    settings.REPLICATE_BASE_URL = fake_replicate.url
    settings.REPLICATE_API_TOKEN = fake_replicate.token
    settings.REPLICATE_WEBHOOK_SECRET = ""
    settings.KILN_PUBLIC_URL = ""
    # The fake serves its output files on 127.0.0.1.
    settings.KILN_ALLOW_PRIVATE_TARGETS = True
    settings.KILN_AI_MAX_OUTPUT_BYTES = 1_000_000
    reset_provider()
    yield settings
    reset_provider()


@pytest.fixture
def ai_account(db):
    return AccountFactory(plan=PlanFactory(slug="ai-standard", ai_allowed=True))


@pytest.fixture
def pro_account(db):
    return AccountFactory(plan=PlanFactory(slug="ai-pro", ai_allowed=True, ai_pro_allowed=True))


@pytest.fixture
def ai_api(client_for, ai_account):
    return client_for(api_key_for(ai_account))

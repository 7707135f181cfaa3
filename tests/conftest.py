"""Shared fixtures: API clients with keys, and the real Celery worker of the farm tests.

Two lanes: engine tests (tests/workers/) touch neither PostgreSQL nor Redis, so no
fixture here connects for them (`make test-engines` runs them with both unreachable);
every test that starts a worker is marked `farm`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from config.local_cache import local_caches_clear
from tests.factories import AccountFactory, api_key_for
from tests.support.fixture_http import FixtureServer
from tests.support.processes import STARTED, service_env, start_worker

ENGINE_TESTS = Path(__file__).parent / "workers"
FARM_FIXTURES = {"farm", "farm_worker"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ENGINE_TESTS in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.engine)
        if FARM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.farm)


_redis_flushed: list[bool] = []


def _flush_test_redis_once() -> None:
    """Each run starts with an empty test Redis: no stale messages or cache entries."""
    if not _redis_flushed:
        redis.Redis.from_url(settings.REDIS_URL).flushdb()
        _redis_flushed.append(True)


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_run():
    yield
    for process in STARTED:
        process.stop_quietly()


@pytest.fixture(autouse=True)
def _clear_cache(request):
    """Forget cached renders, rate counters and this process's short caches between
    tests. Only Kiln's own Redis keys: flushing the database would also drop the
    broker's queues under the live worker. Engine tests need none of it."""
    if request.node.get_closest_marker("engine"):
        return
    local_caches_clear()
    _flush_test_redis_once()
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{settings.CACHES['default']['KEY_PREFIX']}:*"):
        client.delete(key)


@pytest.fixture
def account(db):
    return AccountFactory()


@pytest.fixture
def secret_key(account) -> str:
    return api_key_for(account)


@pytest.fixture
def client_for():
    """client_for(raw_key) → an APIClient that sends `Authorization: Bearer raw_key`."""

    def make(raw_key: str | None) -> APIClient:
        api = APIClient()
        if raw_key:
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        return api

    return make


@pytest.fixture
def api(client_for, secret_key) -> APIClient:
    return client_for(secret_key)


@pytest.fixture(scope="session")
def test_database_name(django_db_setup, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        return connection.settings_dict["NAME"]


@pytest.fixture(scope="session")
def page_server():
    """A local site for screenshots: the one loopback endpoint the farm may reach."""
    server = FixtureServer("127.0.0.1").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def farm_worker(test_database_name, page_server):
    """One real Celery worker consuming every queue, on the test database and Redis."""
    env = service_env(test_database_name, KILN_TEST_GUARD_ENDPOINTS=page_server.endpoint)
    worker = start_worker(env, name="farm")
    yield worker
    worker.stop()


@pytest.fixture
def page_site(page_server, settings):
    """page_server, reachable from this process too (the request-time URL check)."""
    settings.KILN_GUARD_TEST_ENDPOINTS = [page_server.endpoint]
    return page_server


@pytest.fixture
def farm(farm_worker, transactional_db):
    """For tests that go through the real queue: committed data the worker can see."""
    assert farm_worker.alive(), farm_worker.output()[-3000:]
    return farm_worker

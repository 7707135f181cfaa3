"""/healthz says the process is up; /readyz checks everything a render needs."""

from __future__ import annotations

import pytest

from config.celery import QUEUES


def test_healthz_needs_nothing_but_the_process(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-Id"]


@pytest.mark.usefixtures("farm")
def test_readyz_checks_database_redis_storage_and_a_worker_per_queue(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    checks = response.json()["checks"]
    assert checks["database"] == checks["redis"] == checks["storage"] == "ok"
    for queue in QUEUES:
        assert checks[f"queue:{queue}"].startswith("ok ("), checks


@pytest.mark.usefixtures("farm")
def test_readyz_names_a_queue_nobody_consumes(client, monkeypatch):
    from config import celery

    monkeypatch.setattr(celery, "QUEUES", (*QUEUES, "nobody-here"))
    monkeypatch.setattr("config.health.QUEUES", (*QUEUES, "nobody-here"))

    response = client.get("/readyz")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "UNAVAILABLE"
    assert "queue:nobody-here" in error["message"]
    assert error["details"]["checks"]["queue:nobody-here"] == "failed: no worker"

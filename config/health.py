"""/healthz (the process answers) and /readyz (everything a render needs is reachable)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse

from config.celery import QUEUES, app
from config.errors import error_body
from config.redis_client import get_redis


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    client = get_redis()
    if client is None:
        return "ok (embedded: not used)"
    client.ping()
    return "ok"


def _check_storage() -> str:
    path = default_storage.save(f"readyz/{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(path)
    return "ok"


def _queue_consumers() -> dict[str, int]:
    replies = app.control.inspect(timeout=settings.KILN_READYZ_WORKER_TIMEOUT).active_queues()
    counts = {queue: 0 for queue in QUEUES}
    for queues in (replies or {}).values():
        for queue in queues:
            if queue["name"] in counts:
                counts[queue["name"]] += 1
    return counts


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    for name, check in (
        ("database", _check_database),
        ("redis", _check_redis),
        ("storage", _check_storage),
    ):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure here is the answer, not a crash
            checks[name] = f"failed: {type(exc).__name__}"
    if settings.CELERY_TASK_ALWAYS_EAGER:
        for queue in QUEUES:
            checks[f"queue:{queue}"] = "ok (embedded: runs in-process)"
    elif checks["redis"] == "ok":
        try:
            consumers = _queue_consumers()
            for queue, count in consumers.items():
                checks[f"queue:{queue}"] = f"ok ({count} workers)" if count else "failed: no worker"
        except Exception as exc:
            for queue in QUEUES:
                checks[f"queue:{queue}"] = f"failed: {type(exc).__name__}"
    else:
        for queue in QUEUES:
            checks[f"queue:{queue}"] = "failed: broker unreachable"
    failed = sorted(name for name, result in checks.items() if result.startswith("failed"))
    if failed:
        body = error_body("UNAVAILABLE", f"not ready: {', '.join(failed)}", {"checks": checks})
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ready", "checks": checks})

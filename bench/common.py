"""What every bench section shares: the bench environment (its own Redis database and
var dir, the farm's PostgreSQL), Django set up once, timing and percentile helpers, the
bench account's key, and plain cairosvg for baselines."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/kiln",
    "REDIS_URL": "redis://127.0.0.1:6379/14",
    "KILN_VAR_DIR": "/tmp/kiln-bench-var",
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "WEB_ACCESS_LOG": "/dev/null",
}
os.environ.update(BENCH_ENV)

import django  # noqa: E402

django.setup()

CONCURRENCY = 16
# PostgreSQL's application_name of the farm processes the bench starts (libpq reads
# PGAPPNAME), so a section can tell their connections from anyone else's.
FARM_APP_NAME = f"kiln-bench-farm-{os.getpid()}"


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def concurrent(fn, n: int, clients: int = CONCURRENCY) -> list[float]:
    """Call `fn(0)` … `fn(n - 1)` from `clients` threads; the ms each call took."""
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(lambda i: timed(lambda: fn(i), 1)[0], range(n)))


@contextlib.contextmanager
def plain_cairosvg():
    """cairosvg exactly as installed: Kiln's rasteriser replaces its path parser for
    glyph paths (workers/rasterise.py), which must not speed up the baseline."""
    import cairosvg.path
    import cairosvg.surface

    kiln_path = cairosvg.surface.TAGS["path"]
    cairosvg.surface.TAGS["path"] = cairosvg.path.path
    try:
        yield
    finally:
        cairosvg.surface.TAGS["path"] = kiln_path


def farm_env() -> dict[str, str]:
    """The environment of the bench's web and worker processes."""
    from tests.support.processes import service_env

    env = service_env(**{k: v for k, v in BENCH_ENV.items() if k != "DJANGO_SETTINGS_MODULE"})
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["PGAPPNAME"] = FARM_APP_NAME
    return env


_prepared: list[str] = []


def bench_account_key() -> str:
    """A secret key of the bench account (database migrated, Redis db emptied once)."""
    if _prepared:
        return _prepared[0]
    import redis
    from django.core.management import call_command

    from accounts.models import Account, Plan
    from accounts.services import api_key_create

    redis.Redis.from_url(BENCH_ENV["REDIS_URL"]).flushdb()
    call_command("migrate", verbosity=0)
    plan, _ = Plan.objects.get_or_create(
        slug="bench",
        defaults={"name": "Bench", "monthly_images": 10**9, "requests_per_minute": 10**9},
    )
    account, _ = Account.objects.get_or_create(slug="bench", defaults={"name": "B", "plan": plan})
    _, key = api_key_create(account=account, name="bench")
    _prepared.append(key)
    return key

"""Cache-hit statistics without database writes on the hit path.

Each process counts hits per account in memory and adds them to a Redis hash at most
once a second; `render_stats_flush` (beat) moves the hash into MonthlyUsage.cache_hits.
A process killed between two flushes loses at most a second of its counts: these are
statistics, not billing (hits are free).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import redis.exceptions
from django.db.models import F

from config.redis_client import get_redis, redis_hash_drain

HITS_HASH = "kiln:cache-hits"
FLUSH_EVERY = 1.0

_lock = threading.Lock()
_pending: Counter[int] = Counter()
_last_push = time.monotonic()


def render_hit_count(*, account_id: int) -> None:
    global _last_push
    with _lock:
        _pending[account_id] += 1
        due = time.monotonic() - _last_push >= FLUSH_EVERY
        if not due:
            return
        counts = dict(_pending)
        _pending.clear()
        _last_push = time.monotonic()
    _push(counts)


def render_hits_push() -> None:
    """Push this process's pending counts now (tests, shutdown)."""
    global _last_push
    with _lock:
        counts = dict(_pending)
        _pending.clear()
        _last_push = time.monotonic()
    _push(counts)


def _push(counts: dict[int, int]) -> None:
    if not counts:
        return
    from accounts.selectors import current_month

    client = get_redis()
    if client is None:
        _store({current_month(): counts})
        return
    month = current_month()
    try:
        pipe = client.pipeline(transaction=False)
        for account_id, count in counts.items():
            pipe.hincrby(HITS_HASH, f"{month}:{account_id}", count)
        pipe.execute()
    except redis.exceptions.RedisError:
        pass  # statistics: a lost second of counts is acceptable


def render_stats_flush() -> int:
    """Beat: add the hits counted in Redis to MonthlyUsage.cache_hits."""
    if get_redis() is None:
        render_hits_push()
        return 0
    by_month: dict[str, dict[int, int]] = {}
    for field, count in redis_hash_drain(HITS_HASH).items():
        month, account_id = field.decode().split(":")
        by_month.setdefault(month, {})[int(account_id)] = int(count)
    _store(by_month)
    return sum(sum(counts.values()) for counts in by_month.values())


def _store(by_month: dict[str, dict[int, int]]) -> None:
    from accounts.models import Account, MonthlyUsage

    ids = {account_id for counts in by_month.values() for account_id in counts}
    live = set(Account.objects.filter(id__in=ids).values_list("id", flat=True))
    for month, counts in by_month.items():
        for account_id, count in counts.items():
            if account_id not in live:
                continue  # deleted since: its counts go with it
            updated = MonthlyUsage.objects.filter(account_id=account_id, month=month).update(
                cache_hits=F("cache_hits") + count
            )
            if not updated:
                MonthlyUsage.objects.get_or_create(
                    account_id=account_id, month=month, defaults={"cache_hits": count}
                )


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _pending.clear()


os.register_at_fork(after_in_child=_reset_after_fork)

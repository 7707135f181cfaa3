"""Writes for accounts: keys (create, revoke, authenticate), usage, quota and rate limits."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis.exceptions
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account, ApiKey, MonthlyUsage, Plan, Project
from accounts.selectors import (
    current_month,
    usage_cache_name,
    usage_forget,
    usage_images_this_month,
)
from accounts.signing import signer_forget
from config.errors import KilnError
from config.local_cache import TtlCache, local_cache_ttl
from config.redis_client import get_redis, redis_hash_drain

KEY_PREFIXES = {ApiKey.Kind.SECRET: "kiln_sk_", ApiKey.Kind.PUBLISHABLE: "kiln_pk_"}
# "kiln_sk_" + 8 characters is indexed for lookup; the rest only ever exists hashed.
LOOKUP_PREFIX_LENGTH = 16


def key_digest(raw_key: str) -> str:
    # Keys carry 190+ bits of randomness, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def new_raw_key(kind: str) -> str:
    return KEY_PREFIXES[ApiKey.Kind(kind)] + secrets.token_urlsafe(32)


def api_key_create(
    *,
    account: Account,
    kind: str = ApiKey.Kind.SECRET,
    project: Project | None = None,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the plain key is returned once and never stored."""
    if project is not None and project.account_id != account.id:
        raise KilnError("VALIDATION_FAILED", "project belongs to another account")
    raw_key = new_raw_key(kind)
    api_key = ApiKey.objects.create(
        account=account,
        project=project,
        kind=kind,
        name=name,
        prefix=raw_key[:LOOKUP_PREFIX_LENGTH],
        digest=key_digest(raw_key),
        expires_at=expires_at,
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke now in this process; other processes drop their cached copy within
    KILN_LOCAL_CACHE_SECONDS."""
    ApiKey.objects.filter(id=api_key.id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    api_key_forget(api_key=api_key)
    return api_key


_keys: TtlCache[ApiKey] = TtlCache(ttl=local_cache_ttl)
# When this process last marked each key as used (monotonic seconds).
_marked_used: dict[int, float] = {}
LAST_USED_RESOLUTION = 60.0


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """The live key for `raw_key`, or KilnError UNAUTHORIZED (one message for every miss).

    Keys are kept in-process for KILN_LOCAL_CACHE_SECONDS, so a revocation takes effect
    within that bound; an expiry is checked on every request.
    """
    invalid = KilnError("UNAUTHORIZED", "invalid API key")
    if not raw_key.startswith(tuple(KEY_PREFIXES.values())) or len(raw_key) > 128:
        raise invalid
    digest = key_digest(raw_key)
    match = _keys.get(digest)
    if match is None:
        for candidate in ApiKey.objects.select_related("account__plan", "project").filter(
            prefix=raw_key[:LOOKUP_PREFIX_LENGTH]
        ):
            if hmac.compare_digest(candidate.digest, digest):
                match = candidate
        if match is None:
            raise invalid
        _keys.put(digest, match)
    now = timezone.now()
    if match.revoked_at is not None:
        raise KilnError("UNAUTHORIZED", "API key has been revoked")
    if match.expires_at is not None and match.expires_at <= now:
        raise KilnError("UNAUTHORIZED", "API key has expired")
    _mark_used(match, now)
    return match


def _mark_used(api_key: ApiKey, now: datetime) -> None:
    """Note the key's use at most once a minute per process: in Redis in the farm
    (flushed to the row by `api_keys_last_used_flush`), else straight to the row."""
    clock = time.monotonic()
    if clock - _marked_used.get(api_key.id, -LAST_USED_RESOLUTION) < LAST_USED_RESOLUTION:
        return
    _marked_used[api_key.id] = clock
    client = get_redis()
    if client is not None:
        client.hset(LAST_USED_HASH, str(api_key.id), now.isoformat())
        return
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(minutes=1)),
        id=api_key.id,
    ).update(last_used_at=now)


LAST_USED_HASH = "kiln:keys-last-used"


def api_keys_last_used_flush() -> int:
    """Beat: write the keys' last-used times noted in Redis to their rows."""
    marks = redis_hash_drain(LAST_USED_HASH)
    for key_id, when in marks.items():
        ApiKey.objects.filter(id=int(key_id)).update(
            last_used_at=datetime.fromisoformat(when.decode())
        )
    return len(marks)


def api_key_forget(*, api_key: ApiKey) -> None:
    """Drop this process's cached copy of the key (other processes: within the TTL)."""
    _keys.discard(api_key.digest)
    signer_forget(key_id=api_key.id)


def usage_record_images(*, account: Account, count: int = 1) -> None:
    """Count rendered images (outside a quota reservation: AI jobs)."""
    month = current_month()
    with transaction.atomic():
        updated = MonthlyUsage.objects.filter(account=account, month=month).update(
            images=F("images") + count
        )
        if not updated:
            usage, created = MonthlyUsage.objects.get_or_create(
                account=account, month=month, defaults={"images": count}
            )
            if not created:
                MonthlyUsage.objects.filter(id=usage.id).update(images=F("images") + count)
    _usage_changed(account, month, count)


def quota_reserve(*, account: Account, count: int = 1) -> None:
    """Take `count` images from this month's quota in one conditional UPDATE, or raise
    QUOTA_EXCEEDED. Call it inside the transaction that creates the work, so a render
    that is never created is never counted."""
    month = current_month()
    limit = account.plan.monthly_images
    usage = MonthlyUsage.objects.filter(account=account, month=month)
    for _ in range(5):
        if usage.filter(images__lte=limit - count).update(images=F("images") + count):
            break
        row = usage.first()
        if (row.images if row else 0) + count > limit:
            raise KilnError(
                "QUOTA_EXCEEDED",
                f"the {account.plan.name} plan's {limit} images this month are used up",
            )
        if row is None:
            try:
                with transaction.atomic():  # a savepoint: a racing first insert retries
                    MonthlyUsage.objects.create(account=account, month=month, images=count)
                break
            except IntegrityError:
                continue
    else:
        raise KilnError("UNAVAILABLE", "could not count the render against the quota; retry")
    transaction.on_commit(lambda: _usage_changed(account, month, count))


def quota_check(*, account: Account) -> None:
    if usage_images_this_month(account=account) >= account.plan.monthly_images:
        raise KilnError(
            "QUOTA_EXCEEDED",
            f"the {account.plan.name} plan's {account.plan.monthly_images} images this month "
            "are used up",
        )


def _usage_changed(account: Account, month: str, count: int = 1) -> None:
    """Keep the cached count for the rate headers true: add to it where it is cached
    (a missing one is read from the row when next asked)."""
    usage_forget(account_id=account.id, month=month)
    # On a Redis error it expires on its own within USAGE_CACHE_SECONDS.
    with contextlib.suppress(redis.exceptions.RedisError, ValueError):
        cache.incr(usage_cache_name(account.id, month), count)


@dataclass
class _RateWindow:
    """This process's view of one account's current minute."""

    minute: str
    shared: int = 0  # the farm-wide count Redis last told us
    pending: int = 0  # requests counted here, not yet added to Redis
    synced_at: float = 0.0


_windows: dict[int, _RateWindow] = {}
_windows_lock = threading.Lock()
RATE_SYNC_SECONDS = 1.0


def rate_limit_hit(*, account: Account) -> None:
    """Count one request in the account's current minute; 429 past the plan's limit.

    The count is shared through Redis, but not one round trip per request: each process
    adds its requests in batches (of 1% of the limit, at least 1, or every second), so
    the farm lets through at most `processes × batch` requests past the limit (none for
    limits under 200 a minute)."""
    now = timezone.now()
    limit = account.plan.requests_per_minute
    minute = f"{now:%Y%m%d%H%M}"
    batch = max(1, min(1000, limit // 100))
    clock = time.monotonic()
    with _windows_lock:
        window = _windows.get(account.id)
        if window is None or window.minute != minute:
            window = _windows[account.id] = _RateWindow(minute=minute)
        window.pending += 1
        due = window.pending >= batch or clock - window.synced_at >= RATE_SYNC_SECONDS
        adding = window.pending if due else 0
        window.pending -= adding
        used = window.shared + window.pending + adding
    if adding:
        shared = _rate_add(f"rate:{account.id}:{minute}", adding)
        with _windows_lock:
            window.shared, window.synced_at = shared, clock
            used = shared + window.pending
    if used > limit:
        raise KilnError(
            "RATE_LIMITED",
            f"more than {limit} requests this minute",
            headers={"Retry-After": str(60 - now.second)},
        )


def _rate_add(window: str, count: int) -> int:
    """Add `count` to the farm-wide counter of `window`; its new total."""
    client = get_redis()
    if client is None:
        cache.add(window, 0, timeout=90)
        return cache.incr(window, count)
    pipe = client.pipeline(transaction=False)
    pipe.incrby(f"kiln:{window}", count)
    pipe.expire(f"kiln:{window}", 90)
    return pipe.execute()[0]


def demo_account_ensure() -> tuple[Account, str]:
    """The embedded default's demo account and a fresh secret key (for `make run`)."""
    plan, _ = Plan.objects.get_or_create(
        slug="demo",
        defaults={
            "name": "Demo",
            "monthly_images": 10_000,
            "requests_per_minute": 600,
            "ai_allowed": True,  # AI works once REPLICATE_API_TOKEN is set
        },
    )
    account, _ = Account.objects.get_or_create(
        slug="demo", defaults={"name": "Demo account", "plan": plan}
    )
    _, raw_key = api_key_create(account=account, name="make run")
    return account, raw_key

"""Writes for accounts: keys (create, revoke, authenticate), usage, quota and rate limits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Account, ApiKey, MonthlyUsage, Plan, Project
from config.errors import KilnError

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
    ApiKey.objects.filter(id=api_key.id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """The live key for `raw_key`, or KilnError UNAUTHORIZED (one message for every miss)."""
    invalid = KilnError("UNAUTHORIZED", "invalid API key")
    if not raw_key.startswith(tuple(KEY_PREFIXES.values())) or len(raw_key) > 128:
        raise invalid
    digest = key_digest(raw_key)
    match = None
    for candidate in ApiKey.objects.select_related("account__plan", "project").filter(
        prefix=raw_key[:LOOKUP_PREFIX_LENGTH]
    ):
        if hmac.compare_digest(candidate.digest, digest):
            match = candidate
    if match is None:
        raise invalid
    now = timezone.now()
    if match.revoked_at is not None:
        raise KilnError("UNAUTHORIZED", "API key has been revoked")
    if match.expires_at is not None and match.expires_at <= now:
        raise KilnError("UNAUTHORIZED", "API key has expired")
    # At most one write a minute per key: a conditional UPDATE that usually matches nothing.
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(minutes=1)),
        id=match.id,
    ).update(last_used_at=now)
    return match


def current_month() -> str:
    return timezone.now().strftime("%Y-%m")


def usage_record_images(*, account: Account, count: int = 1) -> None:
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


def quota_check(*, account: Account) -> None:
    from accounts.selectors import usage_images_this_month

    if usage_images_this_month(account=account) >= account.plan.monthly_images:
        raise KilnError(
            "QUOTA_EXCEEDED",
            f"the {account.plan.name} plan's {account.plan.monthly_images} images this month "
            "are used up",
        )


def rate_limit_hit(*, account: Account) -> None:
    """Count one request in the account's current minute; 429 past the plan's limit."""
    now = timezone.now()
    window = f"rate:{account.id}:{now:%Y%m%d%H%M}"
    cache.add(window, 0, timeout=90)
    used = cache.incr(window)
    if used > account.plan.requests_per_minute:
        retry_after = 60 - now.second
        raise KilnError(
            "RATE_LIMITED",
            f"more than {account.plan.requests_per_minute} requests this minute",
            headers={"Retry-After": str(retry_after)},
        )


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

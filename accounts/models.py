"""Tenants and credentials: plans, accounts, projects, API keys, monthly usage."""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.utils import timezone


def new_webhook_secret() -> str:
    """`whsec_` + standard base64 of 32 random bytes: the form Standard Webhooks'
    libraries decode (URL-safe base64 would give them a different key)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Plan(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    monthly_images = models.PositiveIntegerField(default=1000)
    requests_per_minute = models.PositiveIntegerField(default=60)
    max_dimension = models.PositiveIntegerField(default=4096)
    ai_allowed = models.BooleanField(default=False)
    ai_pro_allowed = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="accounts")
    # Signs outgoing webhooks (Standard Webhooks); shown in the admin.
    webhook_secret = models.CharField(max_length=80, default=new_webhook_secret)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.slug


class Project(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="projects")
    slug = models.SlugField()
    name = models.CharField(max_length=200)
    allowed_hosts = models.JSONField(default=list, blank=True)
    default_style = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "slug"], name="project_slug_per_account")
        ]

    def __str__(self) -> str:
        return f"{self.account.slug}/{self.slug}"


class ApiKey(models.Model):
    class Kind(models.TextChoices):
        SECRET = "secret", "secret (kiln_sk_)"
        PUBLISHABLE = "publishable", "publishable (kiln_pk_)"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="If set, the key works for this project only.",
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.SECRET)
    name = models.CharField(max_length=100, blank=True)
    # The key itself is never stored: a lookup prefix and the SHA-256 of the whole key.
    prefix = models.CharField(max_length=24, db_index=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.account.slug})"

    @property
    def is_secret(self) -> bool:
        return self.kind == self.Kind.SECRET


class MonthlyUsage(models.Model):
    """Images rendered per account per calendar month (cache hits are free)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage")
    month = models.CharField(max_length=7)  # YYYY-MM
    images = models.PositiveIntegerField(default=0)
    # Renders answered from the cache (free); counted in Redis, flushed here in batches.
    cache_hits = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "month"], name="usage_per_account_month")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.month}: {self.images}"


# DRF treats request.user as the authenticated principal; for API keys that is the account.
Account.is_authenticated = True  # type: ignore[attr-defined]
Account.is_anonymous = False  # type: ignore[attr-defined]

"""Outgoing webhook deliveries (SPEC §9): an outbox row per notification, its attempts,
the secrets a rotation retired, and the batches whose completion is awaited.

    pending ──claim──> sending ──> delivered
       ▲                  │  └───> failed (schedule spent, 410 Gone, refused address)
       └──(retry due)─────┘

A Delivery is written in the same transaction that finishes its job, so a finished job
never lacks its notification and a rolled-back one never has one. Its `body` is fixed
then: every attempt sends the same bytes under the same `webhook-id` (only the timestamp
and signature are new), which is what receivers dedupe on. Attempts are claimed with a
conditional UPDATE that also sets a lease: a worker killed mid-attempt leaves a
`sending` row whose lease runs out, and the sweep sends it again.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from accounts.models import Account


class Delivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"

    class Event(models.TextChoices):
        RENDER_COMPLETED = "render.completed"
        RENDER_FAILED = "render.failed"
        BATCH_COMPLETED = "batch.completed"
        AI_COMPLETED = "ai.completed"
        AI_FAILED = "ai.failed"
        OG_COMPLETED = "og.completed"

    OPEN = (State.PENDING, State.SENDING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event_type = models.CharField(max_length=24, choices=Event.choices)
    # The id the caller was handed: a render job's (a cache hit's masked id included), a
    # batch's or an AI job's. GET /v1/jobs/{id}/deliveries lists by it.
    subject_id = models.CharField(max_length=64)
    # One delivery per finished job row or batch, whoever notices first (NULL: no rule).
    dedupe_key = models.CharField(max_length=80, null=True, blank=True, unique=True)
    url = models.CharField(max_length=2000)
    # The exact JSON sent, the same bytes on every attempt.
    body = models.TextField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Attempts since this delivery (or its redelivery) began: the retry schedule's place.
    round_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a queued message should take the delivery (NULL: none is on its way; the sweep
    # queues it once due). A message still not taken well after this was lost.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # A `sending` delivery belongs to its worker until then; after, it is sent again.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["account", "subject_id"], name="delivery_subject"),
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.webhook_id} ({self.state})"

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header: stable across attempts and redeliveries."""
        return f"msg_{self.id.hex}"


class DeliveryAttempt(models.Model):
    """One POST of a delivery, whatever it came to."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    # The receiver's HTTP status; NULL when there was no answer (refused, timed out…).
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    # delivered | retry | gone | refused (workers/webhooks.py) | gave_up (webhooks.services)
    outcome = models.CharField(max_length=12)
    error = models.CharField(max_length=500, blank=True)
    # At most 1 KB of the answer's body.
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number")
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"


class RetiredSecret(models.Model):
    """A webhook secret replaced by a rotation: it keeps signing, beside the account's new
    one, until `expires_at` (the grace period receivers have to switch)."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="retired_webhook_secrets"
    )
    secret = models.CharField(max_length=80)
    retired_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-retired_at"]

    def __str__(self) -> str:
        return f"{self.account_id}: retired {self.retired_at:%Y-%m-%d %H:%M}"


class SealedBatch(models.Model):
    """A batch with a `webhook_url` whose sizes all have their jobs (written by
    batch_create after the last one): batch.completed goes out once none is in flight.
    Until it exists, a size finishing early cannot announce a batch still being made."""

    batch_id = models.UUIDField(primary_key=True)
    sealed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"batch {self.batch_id}"

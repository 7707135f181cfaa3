"""Render jobs: one row per request, one state machine for every kind of render.

    queued ──claim──> running ──> succeeded
       │                 │  └───> failed
       └─────────────────┴──────> failed (enqueue failed, or followers of a failed leader)

A job that renders is a *leader*. An identical request that arrives while a leader is in
flight becomes its *follower* (`follows`): it renders nothing and finishes with the
leader (single-flight). A request served from the cache is a job born `succeeded` with
`cached=True`.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, Project


class RenderJob(models.Model):
    class Kind(models.TextChoices):
        SVG = "svg", "inline SVG"
        TEMPLATE = "template", "template"
        HTML = "html", "inline HTML"
        SCREENSHOT = "screenshot", "screenshot"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    IN_FLIGHT = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="render_jobs")
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="render_jobs"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    # The canonical request the engine needs (never credentials).
    params = models.JSONField(default=dict)
    cache_key = models.CharField(max_length=64, db_index=True)
    follows = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="followers"
    )
    cached = models.BooleanField(default=False)

    storage_path = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=8)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveIntegerField(null=True, blank=True)

    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    webhook_url = models.URLField(max_length=2000, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    generation_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Single-flight: at most one leader in flight per cache key. A second identical
            # request fails this insert and becomes a follower instead of a second render.
            models.UniqueConstraint(
                fields=["cache_key"],
                condition=Q(status__in=["queued", "running"], follows__isnull=True),
                name="one_leader_in_flight_per_cache_key",
            )
        ]
        indexes = [models.Index(fields=["cache_key", "status"], name="render_cache_lookup")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

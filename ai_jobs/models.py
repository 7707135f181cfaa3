"""AI image jobs (SPEC §8): one row per distinct submission, one state machine.

    pending ──(provider "start")──> generating ──(output stored)──> ready
       │                                │
       └────────────────────────────────┴──> failed | blocked

The primary key is derived from the submission (account, prompt, size, model, seed), so
the same body always maps to the same row and a second INSERT of it fails on the key:
that is what makes resubmission and racing submissions start one generation only.
Every transition is a conditional UPDATE (see ai_jobs.services), so a duplicate or
replayed provider webhook, a poll racing a webhook, or a redelivered task changes nothing.

The prompt is stored (the provider needs it, the admin shows it) but never logged in full
and never put in a URL; logs carry `prompt_fingerprint` only.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.utils import timezone

from accounts.models import Account


class AiJob(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        GENERATING = "generating"
        READY = "ready"
        FAILED = "failed"
        BLOCKED = "blocked"

    IN_FLIGHT = (State.PENDING, State.GENERATING)
    FINISHED = (State.READY, State.FAILED, State.BLOCKED)

    id = models.CharField(primary_key=True, max_length=32, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="ai_jobs")
    prompt = models.TextField()
    model = models.CharField(max_length=120)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    seed = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(
        max_length=12, choices=State.choices, default=State.PENDING, db_index=True
    )

    provider = models.CharField(max_length=40, default="replicate")
    prediction_id = models.CharField(max_length=100, blank=True, db_index=True)
    # Set when a worker takes the job to create its prediction: the claim that keeps a
    # redelivered task from creating a second prediction.
    submitted_at = models.DateTimeField(null=True, blank=True)
    submit_attempts = models.PositiveSmallIntegerField(default=0)
    # The provider's output URL: internal only (downloaded into Kiln's storage, never
    # handed out). Set once, by whichever of webhook and poll reports success first.
    output_url = models.TextField(blank=True)
    output_path = models.CharField(max_length=255, blank=True)
    size_bytes = models.PositiveIntegerField(null=True, blank=True)

    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    webhook_url = models.URLField(max_length=2000, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When the current attempt was queued (creation, or an admin retry): the maximum age
    # is measured from here.
    enqueued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last time we heard from (or asked) the provider about this job: the poller
    # only asks about jobs that have been quiet for a while.
    last_event_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "last_event_at"], name="ai_job_quiet")]

    def __str__(self) -> str:
        return f"ai {self.id} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED

    @property
    def prompt_fingerprint(self) -> str:
        return prompt_fingerprint(self.prompt)

    @property
    def image_path(self) -> str:
        """The public, stable image URL path (no host): `/ai/{w}x{h}/{id}.png`."""
        return f"/ai/{self.width}x{self.height}/{self.id}.png"

    @property
    def status_path(self) -> str:
        return f"/ai/{self.id}/status"


def prompt_fingerprint(prompt: str) -> str:
    """What logs say instead of a prompt: a short hash and the length."""
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    return f"sha256:{digest} len={len(prompt)}"

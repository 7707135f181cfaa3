"""Render jobs: one row per request, one state machine for every kind of render.

    queued ──claim──> running ──> succeeded
       │                 │  └───> failed
       └─────────────────┴──────> failed (enqueue failed, or followers of a failed leader)

A job that renders is a *leader*. An identical request that arrives while a leader is in
flight becomes its *follower* (`follows`): it renders nothing and finishes with the
leader (single-flight). A request served from the cache writes no row: it is answered
with the job that made the bytes (`cached: true`); only a batch records its hits, as rows
born `succeeded` with `cached=True`.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, Project


class Template(models.Model):
    """A Jinja2 template (SPEC §5). Built-ins have no project and ship as files."""

    class Engine(models.TextChoices):
        SVG = "svg", "SVG"
        HTML = "html", "HTML (browser pool)"
        TREE = "tree", "JSON tree (flexbox, no browser)"

    slug = models.SlugField(max_length=80)
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="templates",
        help_text="Empty for a built-in template.",
    )
    engine = models.CharField(max_length=8, choices=Engine.choices, default=Engine.SVG)
    name = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    source = models.TextField(
        help_text="Jinja2 source (autoescaped, sandboxed), or a JSON node tree for `tree`."
    )
    param_schema = models.JSONField(default=dict, blank=True)
    sample_params = models.JSONField(default=dict, blank=True)
    default_width = models.PositiveIntegerField(default=1200)
    default_height = models.PositiveIntegerField(default=630)
    default_font = models.CharField(max_length=80, default="Inter")
    # Changes whenever anything that decides the output changes: part of the cache key,
    # so an edited template never serves its old renders.
    digest = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="template_slug_per_project"),
            models.UniqueConstraint(
                fields=["slug"],
                condition=Q(project__isnull=True),
                name="builtin_template_slug",
            ),
        ]

    def __str__(self) -> str:
        return self.slug if self.project_id is None else f"{self.project}/{self.slug}"

    @property
    def is_builtin(self) -> bool:
        return self.project_id is None


class Batch(models.Model):
    """One template at many sizes: a group of render jobs with progress."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="batches")
    template_slug = models.SlugField(max_length=80)
    webhook_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"batch {self.id}"


class RenderJob(models.Model):
    class Kind(models.TextChoices):
        SVG = "svg", "inline SVG"
        TEMPLATE = "template", "template"
        HTML = "html", "inline HTML"
        SCREENSHOT = "screenshot", "screenshot"
        HTML_TEMPLATE = "html_template", "HTML template"
        TREE_TEMPLATE = "tree_template", "tree template"

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
    # The kind's spec (workers/specs.py) in its canonical JSON form; never credentials.
    params = models.JSONField(default=dict)
    cache_key = models.CharField(max_length=64, db_index=True)
    follows = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="followers"
    )
    cached = models.BooleanField(default=False)
    batch = models.ForeignKey(
        Batch, on_delete=models.CASCADE, null=True, blank=True, related_name="jobs"
    )
    size_name = models.CharField(max_length=40, blank=True)

    storage_path = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=8)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveIntegerField(null=True, blank=True)
    # A digest of the stored bytes (quoted, as HTTP sends it): the image's ETag.
    etag = models.CharField(max_length=40, blank=True)

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

    @property
    def spec(self):
        """The typed spec this job renders (workers/specs.py)."""
        from workers.specs import spec_from_json

        return spec_from_json(self.kind, self.params)


class Font(models.Model):
    """A font uploaded in the admin (TTF/OTF/WOFF2). The file lives in Kiln's storage so
    every worker, on any machine, can fetch and register it before rendering."""

    family = models.CharField(max_length=80, blank=True, help_text="Read from the file if empty.")
    file = models.FileField(upload_to="fonts/")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["family"]

    def __str__(self) -> str:
        return self.family or self.file.name

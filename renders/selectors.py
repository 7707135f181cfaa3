"""Reads for renders: the cache lookup, jobs, templates, batches, waiting for a job.

The lookups on the hot path (a template by slug, the cached render of a key) are served
from short in-process caches and Redis; the database answers only what they cannot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, default_storage
from django.db.models import Q, QuerySet

from accounts.models import Account, ApiKey, Project
from config.errors import KilnError
from config.local_cache import TtlCache, local_cache_ttl
from renders.cache import CachedRender, cache_entry_name, hit_source, render_storage_path
from renders.models import Batch, RenderJob, Template
from renders.notify import POLL_SECONDS, done_event, done_event_release
from workers.specs import RenderSpec, TemplateSpec


def cache_ttl_seconds() -> int:
    return settings.KILN_CACHE_TTL_DAYS * 86400


CACHED_RENDER_COLUMNS = (
    "id",
    "account_id",
    "kind",
    "params",
    "storage_path",
    "format",
    "width",
    "height",
    "size_bytes",
    "etag",
    "finished_at",
)


def cached_render_from_job(job: RenderJob) -> CachedRender:
    return CachedRender(
        job_id=str(job.id),
        account_id=job.account_id,
        kind=job.kind,
        template=job.params.get("template"),
        storage_path=job.storage_path,
        format=job.format,
        width=job.width,
        height=job.height,
        size_bytes=job.size_bytes,
        etag=job.etag,
        finished_at=job.finished_at.isoformat() if job.finished_at else None,
    )


_entries: TtlCache[CachedRender] = TtlCache(ttl=local_cache_ttl, max_items=50_000)


def cached_render_lookup(*, cache_key: str, format: str | None = None) -> CachedRender | None:
    """The stored render for this key: this process's memory (for at most
    KILN_LOCAL_CACHE_SECONDS), then Redis, then — only if storage holds bytes at the
    key's path (`format` given), or always without `format` — the newest succeeded
    leader's row. A new request is thus a miss without a database query."""
    found = _entries.get(cache_key)
    if found is not None:
        return found
    entry = cache.get(cache_entry_name(cache_key))
    if entry is not None:
        found = CachedRender.from_json(entry)
        if found is not None:
            return _entries.put(cache_key, found)
    if format is not None and _no_stored_bytes(cache_key=cache_key, format=format):
        return None
    row = (
        RenderJob.objects.filter(
            cache_key=cache_key,
            status=RenderJob.Status.SUCCEEDED,
            follows__isnull=True,
            cached=False,
        )
        .exclude(storage_path="")
        .order_by("-finished_at")
        .values(*CACHED_RENDER_COLUMNS)  # no model instance: this runs on every miss
        .first()
    )
    if row is None:
        return None
    found = cached_render_from_job(RenderJob(**row))
    cache.set(cache_entry_name(cache_key), found.to_json(), timeout=cache_ttl_seconds())
    return _entries.put(cache_key, found)


def _no_stored_bytes(*, cache_key: str, format: str) -> bool:
    """True when local storage surely has no bytes for the key (a stat, far cheaper than
    the row query). Remote storage (S3) is not asked: a HEAD costs more than the query."""
    if not isinstance(default_storage, FileSystemStorage):
        return False
    return not default_storage.exists(render_storage_path(cache_key=cache_key, format=format))


def cached_render_forget(*, cache_key: str) -> None:
    """Forget this process's copy of the entry (a forced re-render is on its way; other
    processes see the new one within KILN_LOCAL_CACHE_SECONDS)."""
    _entries.discard(cache_key)


def render_job_get(*, account: Account, job_id: str) -> RenderJob:
    """A job this account may read: its own, or the render behind an id it was handed
    for a cache hit on another account's render (see renders.cache.hit_id)."""
    job = RenderJob.objects.filter(id=job_id, account=account).first()
    if job is not None:
        return job
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        source = hit_source(hit=str(job_id), account_id=account.id, secret=secret)
        job = RenderJob.objects.filter(id=source, status=RenderJob.Status.SUCCEEDED).first()
        if job is not None:
            job.id, job.cached, job.generation_ms = job_id, True, None  # never saved
            return job
    raise KilnError("NOT_FOUND", f"no job '{job_id}'")


def render_job_wait(*, job: RenderJob, timeout: float) -> RenderJob:
    """Block until `job` finishes or `timeout` passes; returns the job as it then is.

    In the farm the process's one subscriber wakes us the moment the render lands; the
    database stays the truth, re-read at least every POLL_SECONDS.
    """
    if job.is_finished:
        return job
    deadline = time.monotonic() + timeout
    event = done_event(job.cache_key)
    try:
        interval = 0.02
        while True:
            # The status alone (a full row costs several times as much to load).
            status = RenderJob.objects.filter(id=job.id).values_list("status", flat=True).first()
            remaining = deadline - time.monotonic()
            if status in (RenderJob.Status.SUCCEEDED, RenderJob.Status.FAILED) or remaining <= 0:
                job.refresh_from_db()
                return job
            event.wait(min(remaining, interval))
            event.clear()
            interval = min(interval * 2, POLL_SECONDS)
    finally:
        done_event_release(job.cache_key, event)


_templates: TtlCache[Template] = TtlCache(ttl=local_cache_ttl)


def template_get(*, project: Project | None, slug: str) -> Template:
    """The template a request names: the project's own first, then the built-in.

    Kept in-process for KILN_LOCAL_CACHE_SECONDS: an edit is seen within that bound (and
    a render of the old version never passes for the new one: the digest is in the key).
    """
    key = (project.id if project is not None else None, slug)
    template = _templates.get(key)
    if template is not None:
        return template
    if project is not None:
        template = Template.objects.filter(project=project, slug=slug).first()
    if template is None:
        template = Template.objects.filter(project__isnull=True, slug=slug).first()
    if template is None:
        raise KilnError("NOT_FOUND", f"no template '{slug}'; GET /v1/templates lists them")
    return _templates.put(key, template)


def tree_template_named(*, project: Project | None, name: str) -> Template:
    """A tree template for GET /template/{name}: named `name` (the project's, then a
    built-in), else the built-in copy of the reference's template, `tree-{name}`."""
    for slug in (name, f"tree-{name}"):
        try:
            template = template_get(project=project, slug=slug)
        except KilnError:
            continue
        if template.engine == Template.Engine.TREE:
            return template
    raise KilnError(
        "NOT_FOUND", f"no tree template '{name}'; GET /v1/templates lists them (engine: tree)"
    )


def template_spec_current(*, project: Project | None, spec: RenderSpec) -> bool:
    """False when `spec` renders a template version that is no longer the current one."""
    if not isinstance(spec, TemplateSpec):
        return True
    try:
        return template_get(project=project, slug=spec.template).digest == spec.digest
    except KilnError:
        return False


def template_by_id(*, template_id: int, digest: str) -> Template | None:
    """The template version a job was made for (None if deleted or since changed)."""
    key = ("id", template_id, digest)
    template = _templates.get(key)
    if template is None:
        template = Template.objects.filter(id=template_id, digest=digest).first()
        if template is not None:
            _templates.put(key, template)
    return template


def templates_visible(*, api_key: ApiKey) -> QuerySet[Template]:
    """Built-ins plus the templates of the projects this key may use."""
    projects = Q(project__account_id=api_key.account_id)
    if api_key.project_id is not None:
        projects = Q(project_id=api_key.project_id)
    return Template.objects.filter(Q(project__isnull=True) | projects).select_related("project")


def batch_get(*, account: Account, batch_id: str) -> Batch:
    batch = Batch.objects.filter(account=account, id=batch_id).first()
    if batch is None:
        raise KilnError("NOT_FOUND", f"no batch '{batch_id}'")
    return batch


def batch_jobs(*, batch: Batch) -> list[RenderJob]:
    return list(batch.jobs.order_by("created_at"))


@dataclass(frozen=True)
class BatchState:
    """A batch's progress, computed in this one place."""

    jobs: list[RenderJob]
    done: int
    failed: int

    @property
    def total(self) -> int:
        return len(self.jobs)

    @property
    def status(self) -> str:
        if self.done < self.total:
            return "running"
        return "failed" if self.failed == self.total else "completed"

    @property
    def finished(self) -> bool:
        return self.done == self.total


def batch_state(*, jobs: list[RenderJob]) -> BatchState:
    return BatchState(
        jobs=jobs,
        done=sum(1 for job in jobs if job.is_finished),
        failed=sum(1 for job in jobs if job.status == RenderJob.Status.FAILED),
    )


def render_bytes_base64(*, jobs: list[RenderJob]) -> dict[str, str]:
    """The stored bytes of the succeeded jobs, base64-encoded, by job id."""
    import base64

    from django.core.files.storage import default_storage

    images = {}
    for job in jobs:
        if job.status == RenderJob.Status.SUCCEEDED:
            with default_storage.open(job.storage_path, "rb") as stored:
                images[str(job.id)] = base64.b64encode(stored.read()).decode()
    return images


def templates_forget() -> None:
    """Drop this process's cached templates (after a save here; other processes see the
    change within KILN_LOCAL_CACHE_SECONDS)."""
    _templates.clear()

"""The one cache-key function, the one storage path scheme (SPEC §1), and the cache
entry a finished render leaves in Redis for the hit path.

A render is content-addressed: the key is the SHA-256 of the canonical spec, and the
stored bytes live at a path derived from that key, so identical requests share bytes.
The ETag is a digest of the bytes themselves, so a forced re-render that changes them
changes the ETag while the key stays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from workers.rasterise import EXTENSIONS
from workers.specs import RenderSpec

# Bump when an engine's output changes for the same request: old renders stop matching.
RENDER_ENGINE_VERSION = 2


def render_cache_key(spec: RenderSpec) -> str:
    canonical = json.dumps(
        {"v": RENDER_ENGINE_VERSION, "kind": spec.kind, "spec": spec.to_json()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def render_storage_path(*, cache_key: str, format: str) -> str:
    return f"renders/{cache_key[:2]}/{cache_key[2:4]}/{cache_key}.{EXTENSIONS[format]}"


def content_etag(data: bytes) -> str:
    """The ETag of stored bytes (quoted as HTTP wants it)."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def cache_entry_name(cache_key: str) -> str:
    return f"render:{cache_key}"


@dataclass(frozen=True)
class CachedRender:
    """What the hit path needs to answer without the database: the job that made the
    bytes (its id is the one a hit hands out), where they are and what they are."""

    job_id: str
    account_id: int
    kind: str
    template: str | None
    storage_path: str
    format: str
    width: int | None
    height: int | None
    size_bytes: int | None
    etag: str
    finished_at: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CachedRender | None:
        try:
            return cls(**data)
        except TypeError:  # an entry of an older shape: look it up again
            return None


def hit_id(*, job_id: str, account_id: int, secret: str) -> str:
    """The id another account is handed for a hit on `job_id`: the job id masked with a
    keyed digest of that account. Only that account can unmask it (render_job_get), so a
    job id never becomes readable by a tenant that did not ask for the same content, and
    nothing needs to be written to remember who did."""
    return str(uuid.UUID(int=uuid.UUID(job_id).int ^ _mask(account_id, secret)))


def hit_source(*, hit: str, account_id: int, secret: str) -> str:
    """The job id behind an id handed out by `hit_id` (the mask is its own inverse)."""
    return hit_id(job_id=hit, account_id=account_id, secret=secret)


def _mask(account_id: int, secret: str) -> int:
    digest = hmac.new(secret.encode(), f"kiln.hit.{account_id}".encode(), hashlib.sha256)
    return int.from_bytes(digest.digest()[:16], "big")

"""The one cache-key function and the one storage path scheme (SPEC §1).

A render is content-addressed: the key is the SHA-256 of the canonical request, and the
stored bytes live at a path derived from that key, so identical requests share bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workers.rasterise import EXTENSIONS

# Bump when an engine's output changes for the same request: old renders stop matching.
RENDER_ENGINE_VERSION = 1


def render_cache_key(*, kind: str, spec: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"v": RENDER_ENGINE_VERSION, "kind": kind, "spec": spec},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def render_storage_path(*, cache_key: str, format: str) -> str:
    return f"renders/{cache_key[:2]}/{cache_key[2:4]}/{cache_key}.{EXTENSIONS[format]}"


def cache_entry_name(cache_key: str) -> str:
    return f"render:{cache_key}"

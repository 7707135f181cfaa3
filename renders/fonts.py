"""Uploaded fonts: stored once, registered with the text engine in every process that
renders (lazily, on the first render after an upload)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from config.local_cache import TtlCache, local_cache_ttl
from renders.models import Font

_registered: set[int] = set()
_lock = threading.Lock()


def _local_copy(font: Font) -> Path:
    """The font file on this machine's disk (the text engine reads paths)."""
    suffix = Path(font.file.name).suffix.lower()
    digest = hashlib.sha256(font.file.name.encode()).hexdigest()[:16]
    path = Path(settings.KILN_VAR_DIR) / "fonts" / f"{font.id}-{digest}{suffix}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(font.file.name, "rb") as stored:
            path.write_bytes(stored.read())
    return path


_uploaded: TtlCache[frozenset[int]] = TtlCache(ttl=local_cache_ttl)


def uploaded_fonts_register() -> None:
    """Register every uploaded font this process has not seen yet. The list of uploads is
    read at most once per KILN_LOCAL_CACHE_SECONDS: an upload reaches every process
    within that bound."""
    from workers.fonts import register_font_file

    known = _uploaded.get_or_load(
        "ids", lambda: frozenset(Font.objects.values_list("id", flat=True))
    )
    if known <= _registered:
        return
    with _lock:
        for font in Font.objects.filter(id__in=known - _registered):
            register_font_file(str(_local_copy(font)), font.family or None)
            _registered.add(font.id)


def font_upload_register(font: Font) -> str:
    """Check an uploaded file is a font and fill in its family; ValueError if not."""
    from workers.fonts import register_font_file

    family = register_font_file(str(_local_copy(font)), font.family or None)
    if not font.family:
        Font.objects.filter(id=font.id).update(family=family)
        font.family = family
    with _lock:
        _registered.add(font.id)
    return family

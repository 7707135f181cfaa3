"""Uploaded fonts: stored once, registered with the text engine in every process that
renders (lazily, on the first render after an upload)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
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


_unavailable: TtlCache[str] = TtlCache(ttl=lambda: 60.0)


def font_on_demand(family: str, *, fetch: bool = True) -> bool:
    """Make `family` available from the font server (KILN_GOOGLE_FONTS): from Kiln's
    storage if it was fetched before, else (`fetch`) fetched once through the guarded
    fetcher, converted to TTF and stored for every process. False when it is off or the
    server has no such family (remembered for a minute, so a bad name costs one
    request). Workers pass fetch=False: the web fetched it when it validated the
    request, and a worker only loads what is stored."""
    from workers.fonts import available_families, register_font_file
    from workers.google_fonts import FontSourceError, fetch_family

    if family in available_families():
        return True
    if (fetch and not settings.KILN_GOOGLE_FONTS) or _unavailable.get(family):
        return False
    prefix = f"fonts/on-demand/{hashlib.sha256(family.encode()).hexdigest()[:16]}"
    with _lock:
        try:
            stored = sorted(default_storage.listdir(prefix)[1])
        except FileNotFoundError:
            stored = []
        if not stored:
            if not fetch:
                return False
            try:
                files = fetch_family(settings.KILN_GOOGLE_FONTS_URL, family)
            except FontSourceError:
                _unavailable.put(family, "missing")
                return False
            for file in files:
                name = f"{prefix}/{file.weight}{'i' if file.italic else 'n'}.ttf"
                default_storage.save(name, ContentFile(file.ttf))
            stored = sorted(default_storage.listdir(prefix)[1])
        for name in stored:
            local = Path(settings.KILN_VAR_DIR) / prefix / name
            if not local.exists():
                local.parent.mkdir(parents=True, exist_ok=True)
                with default_storage.open(f"{prefix}/{name}", "rb") as source:
                    local.write_bytes(source.read())
            register_font_file(str(local), family)
    return family in available_families()

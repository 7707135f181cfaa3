"""Fonts on demand from a Google Fonts css2 server: the engine part. Plain Python.

    css = guarded GET {base}/css2?family=Poppins:ital,wght@0,400;0,700&display=swap
    → @font-face rules, one per (style, weight, unicode-range subset), each `src: url(…)
      format('woff2')` → every file fetched through the guarded fetcher, WOFF2 turned
      into TTF with fontTools (the text engine and cairo read TTF), the subsets of one
      (style, weight) merged by keeping the file that covers the most characters plus
      the others as extra faces of the same family.

The caller (renders/fonts.py) caches the files in Kiln's storage and registers them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from struct import error as struct_error
from urllib.parse import quote

from fontTools.ttLib import TTFont, TTLibError

from workers.fetch import FetchError, guarded_fetch

DEFAULT_WEIGHTS = (400, 700)
MAX_CSS_BYTES = 200_000
MAX_FONT_BYTES = 5_000_000
# A browser-like agent: css2 answers WOFF2 to browsers it knows (and TTF to others).
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
_FACE = re.compile(r"@font-face\s*{([^}]*)}", re.S)
_PROP = re.compile(r"([a-z-]+)\s*:\s*([^;]+);?", re.I)
_URL = re.compile(r"url\(\s*['\"]?([^'\")\s]+)['\"]?\s*\)")
_FAMILY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ]{0,63}$")


class FontSourceError(Exception):
    """The family cannot be had from the server (unknown, unreachable, not a font)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FontFile:
    family: str
    weight: int
    italic: bool
    ttf: bytes


def css2_url(base_url: str, family: str, weights: tuple[int, ...] = DEFAULT_WEIGHTS) -> str:
    if not _FAMILY.match(family):
        raise FontSourceError(f"'{family}' is not a font family name")
    axis = ";".join(f"0,{w}" for w in sorted(set(weights)))
    return f"{base_url.rstrip('/')}/css2?family={quote(family)}:ital,wght@{axis}&display=swap"


def font_sources(css: str) -> list[tuple[int, bool, str]]:
    """(weight, italic, url) of every @font-face rule, in order."""
    found = []
    for block in _FACE.findall(css):
        props = {name.lower(): value.strip() for name, value in _PROP.findall(block)}
        url = _URL.search(props.get("src", ""))
        if url is None:
            continue
        try:
            weight = int(props.get("font-weight", "400").split()[0])
        except ValueError:
            weight = 400
        found.append((weight, props.get("font-style", "normal") == "italic", url.group(1)))
    return found


def to_ttf(data: bytes) -> bytes:
    """A TTF/OTF file from WOFF2, WOFF or TTF bytes; FontSourceError if not a font."""
    try:
        font = TTFont(io.BytesIO(data))
        font.flavor = None
        out = io.BytesIO()
        font.save(out)
    except (TTLibError, AssertionError, ValueError, struct_error, KeyError) as exc:
        raise FontSourceError(f"not a font file: {exc}") from None
    return out.getvalue()


def fetch_family(
    base_url: str, family: str, *, weights: tuple[int, ...] = DEFAULT_WEIGHTS, timeout: float = 10.0
) -> list[FontFile]:
    """Every file of `family` the server has at `weights`, as TTF, through the guarded
    fetcher. FontSourceError when the family is unknown there or the server fails."""
    headers = {"User-Agent": USER_AGENT}
    try:
        css = guarded_fetch(
            css2_url(base_url, family, weights),
            headers=headers,
            max_bytes=MAX_CSS_BYTES,
            timeout=timeout,
            allowed_types=("text/css",),
        )
    except FetchError as exc:
        if exc.status == 400:
            raise FontSourceError(f"the font server has no family '{family}'") from None
        raise FontSourceError(f"the font server failed: {exc.message}") from None
    files = []
    for weight, italic, url in font_sources(css.content.decode("utf-8", "replace")):
        try:
            font = guarded_fetch(url, headers=headers, max_bytes=MAX_FONT_BYTES, timeout=timeout)
        except FetchError as exc:
            raise FontSourceError(f"the font server failed: {exc.message}") from None
        files.append(
            FontFile(family=family, weight=weight, italic=italic, ttf=to_ttf(font.content))
        )
    if not files:
        raise FontSourceError(f"the font server has no files for '{family}'")
    return files

"""The font registry of the text engine: which families exist, which file draws a given
weight and style, the per-character fallback chain, and glyph outlines and colour
bitmaps (cached per face and glyph). Plain Python, shared by every process that renders.

Families come from three places: the bundled Debian font packages (bin/system-deps),
directories named in KILN_FONT_DIRS, and fonts uploaded in the admin (registered by
renders/fonts.py). A face is loaded lazily on first use and kept for the process's life.

Fallback, so no character is ever drawn as a box: the requested family (nearest weight),
then Noto Sans (Latin, Greek, Cyrillic), the script faces (Arabic, Hebrew, Devanagari),
CJK, colour emoji, symbols, DejaVu, and as a last resort every other Noto face on the
machine. Emoji-presentation characters go to the emoji face first.
"""

from __future__ import annotations

import base64
import functools
import io
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import uharfbuzz as hb
from django.conf import settings
from fontTools.ttLib import TTFont, TTLibError

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".woff2", ".woff")

# Style names in file names (Inter-SemiBoldItalic.otf) → weight.
_STYLE_WEIGHTS = {
    "thin": 100,
    "extralight": 200,
    "light": 300,
    "regular": 400,
    "": 400,
    "medium": 500,
    "semibold": 600,
    "bold": 700,
    "extrabold": 800,
    "black": 900,
}

# (family, directory, file-name prefix): the bundled families a template can ask for.
BUNDLED: tuple[tuple[str, str, str], ...] = (
    ("Inter", "/usr/share/fonts/opentype/inter", "Inter-"),
    ("JetBrains Mono", "/usr/share/fonts/truetype/jetbrains-mono", "JetBrainsMono-"),
    ("Noto Sans", "/usr/share/fonts/truetype/noto", "NotoSans-"),
    ("Noto Serif", "/usr/share/fonts/truetype/noto", "NotoSerif-"),
    ("Noto Sans CJK", "/usr/share/fonts/opentype/noto", "NotoSansCJK-"),
    ("Noto Serif CJK", "/usr/share/fonts/opentype/noto", "NotoSerifCJK-"),
    ("Noto Sans Arabic", "/usr/share/fonts/truetype/noto", "NotoSansArabic-"),
    ("Noto Sans Hebrew", "/usr/share/fonts/truetype/noto", "NotoSansHebrew-"),
    ("Noto Sans Devanagari", "/usr/share/fonts/truetype/noto", "NotoSansDevanagari-"),
    ("Noto Color Emoji", "/usr/share/fonts/truetype/noto", "NotoColorEmoji"),
    ("Noto Sans Symbols", "/usr/share/fonts/truetype/noto", "NotoSansSymbols-"),
    ("Noto Sans Symbols 2", "/usr/share/fonts/truetype/noto", "NotoSansSymbols2-"),
    ("DejaVu Sans", "/usr/share/fonts/truetype/dejavu", "DejaVuSans"),
)
FALLBACK_FAMILIES = (
    "Noto Sans",
    "Noto Sans Arabic",
    "Noto Sans Hebrew",
    "Noto Sans Devanagari",
    "Noto Sans CJK",
    "Noto Color Emoji",
    "Noto Sans Symbols",
    "Noto Sans Symbols 2",
    "DejaVu Sans",
)
EMOJI_FAMILY = "Noto Color Emoji"
LAST_RESORT_DIR = "/usr/share/fonts/truetype/noto"
MAX_OUTLINES_PER_FACE = 20_000

_lock = threading.RLock()


class Pen:
    """Records a glyph outline from HarfBuzz's draw callbacks (font units, y up)."""

    def __init__(self) -> None:
        self.ops: list[tuple] = []

    def moveTo(self, p):
        self.ops.append(("M", p))

    def lineTo(self, p):
        self.ops.append(("L", p))

    def curveTo(self, *points):
        self.ops.append(("C", *points))

    def qCurveTo(self, *points):
        self.ops.append(("Q", *points))

    def closePath(self):
        self.ops.append(("Z",))

    def endPath(self):
        pass


def _number(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(eq=False)
class Face:
    """One font file (and index in a collection) of a family at a weight and style."""

    path: str
    index: int
    family: str
    weight: int
    italic: bool
    _outlines: dict = field(default_factory=dict, repr=False)
    _bitmaps: dict = field(default_factory=dict, repr=False)

    @functools.cached_property
    def hb_font(self) -> hb.Font:
        if self.path.lower().endswith((".woff2", ".woff")):
            # HarfBuzz reads sfnt only: unpack the web font once.
            font = TTFont(self.path)
            font.flavor = None
            buffer = io.BytesIO()
            font.save(buffer)
            blob = hb.Blob(buffer.getvalue())
        else:
            blob = hb.Blob.from_file_path(self.path)
        hb_face = hb.Face(blob, self.index)
        font = hb.Font(hb_face)
        font.scale = (hb_face.upem, hb_face.upem)
        return font

    @functools.cached_property
    def upem(self) -> int:
        return self.hb_font.face.upem

    @functools.cached_property
    def codepoints(self) -> frozenset[int]:
        return frozenset(self.hb_font.face.unicodes)

    @functools.cached_property
    def is_color_bitmap(self) -> bool:
        return self.hb_font.face.has_color_png

    @functools.cached_property
    def vertical_metrics(self) -> tuple[float, float]:
        """(ascent, descent) in em: OS/2 typo metrics, as browsers lay out lines."""
        try:
            font = TTFont(self.path, fontNumber=self.index, lazy=True)
            os2 = font["OS/2"]
            ascent, descent = os2.sTypoAscender, os2.sTypoDescender
        except (KeyError, TTLibError, OSError):
            extents = self.hb_font.get_font_extents("ltr")
            ascent, descent = extents.ascender, extents.descender
        return ascent / self.upem, descent / self.upem

    def has(self, codepoint: int) -> bool:
        return codepoint in self.codepoints

    def outline(self, gid: int, size: float) -> tuple[float, float, str]:
        """The glyph at `size` px, y down, as (x, y) of its first point relative to the
        glyph origin and the path data after that first moveto (relative commands), so
        placing it is `M{origin + first point}` + the rest: no phantom points."""
        key = (gid, size)
        cached = self._outlines.get(key)
        if cached is not None:
            return cached
        pen = Pen()
        with _lock:
            self.hb_font.draw_glyph_with_pen(gid, pen)
        scale = size / self.upem
        parts: list[str] = []
        # Relative commands from rounded absolute points: no drift along a contour.
        px = py = 0.0
        start = (0.0, 0.0)
        for op in pen.ops:
            kind = op[0]
            if kind == "Z":
                parts.append("z")
                px, py = start
                continue
            points = [(round(x * scale, 2), round(-y * scale, 2)) for x, y in op[1:]]
            if kind == "Q" and len(points) > 2:
                # Implied on-curve points between consecutive off-curve points.
                expanded: list[tuple[float, float]] = []
                for i in range(len(points) - 1):
                    ctrl = points[i]
                    end = points[i + 1]
                    if i < len(points) - 2:
                        end = ((ctrl[0] + end[0]) / 2, (ctrl[1] + end[1]) / 2)
                    expanded += [ctrl, end]
                points = expanded
            command = {"M": "m", "L": "l", "C": "c", "Q": "q"}[kind]
            step = 3 if kind == "C" else 2 if kind == "Q" else 1
            for i in range(0, len(points), step):
                chunk = points[i : i + step]
                coords = " ".join(f"{_number(x - px)} {_number(y - py)}" for x, y in chunk)
                parts.append(f"{command}{coords}")
                px, py = chunk[-1]
                if kind == "M":
                    start = (px, py)
        if not parts:
            result = (0.0, 0.0, "")
        else:
            first = pen.ops[0][1]
            result = (round(first[0] * scale, 2), round(-first[1] * scale, 2), "".join(parts[1:]))
        if len(self._outlines) >= MAX_OUTLINES_PER_FACE:
            self._outlines.clear()  # a worker lives long; sizes × glyphs must not grow forever
        self._outlines[key] = result
        return result

    def color_bitmap(self, gid: int) -> tuple[str, float, float, float, float] | None:
        """A colour glyph as (data URL, x bearing, y bearing, width, height) in em, y up."""
        if gid in self._bitmaps:
            return self._bitmaps[gid]
        with _lock:
            blob = self.hb_font.get_glyph_color_png(gid)
            data = bytes(blob.data) if blob is not None else b""
            extents = self.hb_font.get_glyph_extents(gid)
        result = None
        if data and extents is not None:
            url = "data:image/png;base64," + base64.b64encode(data).decode()
            result = (
                url,
                extents.x_bearing / self.upem,
                extents.y_bearing / self.upem,
                extents.width / self.upem,
                -extents.height / self.upem,
            )
        self._bitmaps[gid] = result
        return result


class Registry:
    """family → {(weight, italic): Face}; filled lazily from the bundled list and dirs."""

    def __init__(self) -> None:
        self.families: dict[str, dict[tuple[int, bool], Face]] = {}
        self._loaded = False
        self._last_resort: list[Face] | None = None

    def load(self) -> None:
        if self._loaded:
            return
        with _lock:
            if self._loaded:
                return
            for family, directory, prefix in BUNDLED:
                for path in sorted(Path(directory).glob(f"{prefix}*")):
                    style = _style_from_name(path.stem[len(prefix) :])
                    if style is not None and path.suffix.lower() in FONT_SUFFIXES:
                        self.add(Face(str(path), 0, family, *style))
            for directory in getattr(settings, "KILN_FONT_DIRS", []) or []:
                for path in sorted(Path(directory).rglob("*")):
                    if path.suffix.lower() in FONT_SUFFIXES:
                        try:
                            self.add(font_file_face(str(path)))
                        except ValueError:
                            continue  # not a font: a directory may hold other files
            self._loaded = True

    def add(self, face: Face) -> None:
        self.families.setdefault(face.family, {})[(face.weight, face.italic)] = face
        fallback_chain.cache_clear()

    def face(self, family: str, weight: int = 400, italic: bool = False) -> Face:
        """The face of `family` nearest to the weight, preferring the asked style."""
        self.load()
        faces = self.families.get(family)
        if not faces:
            raise ValueError(f"unknown font family '{family}'")
        same_style = [key for key in faces if key[1] == italic] or list(faces)
        # Nearest weight; on a tie the bolder one for bold asks, the lighter otherwise.
        best = min(same_style, key=lambda k: (abs(k[0] - weight), -k[0] if weight > 500 else k[0]))
        return faces[best]

    def last_resort(self) -> list[Face]:
        """Every regular Noto face on the machine, for scripts the chain does not cover."""
        if self._last_resort is None:
            with _lock:
                known = {f.path for faces in self.families.values() for f in faces.values()}
                faces = []
                for path in sorted(Path(LAST_RESORT_DIR).glob("Noto*-Regular.ttf")):
                    if str(path) not in known:
                        faces.append(Face(str(path), 0, path.stem.split("-")[0], 400, False))
                self._last_resort = faces
        return self._last_resort


def _style_from_name(style: str) -> tuple[int, bool] | None:
    """'SemiBoldItalic' → (600, True); None when the name is not a plain style."""
    name = style.lower()
    italic = name.endswith("italic")
    if italic:
        name = name[: -len("italic")]
    if name not in _STYLE_WEIGHTS:
        return None
    return _STYLE_WEIGHTS[name], italic


REGISTRY = Registry()


def available_families() -> list[str]:
    """The families a template or the `font` param can name."""
    REGISTRY.load()
    return sorted(REGISTRY.families)


def font_file_face(path: str, family: str | None = None) -> Face:
    """Read a TTF/OTF/TTC/WOFF2 file's family, weight and style; ValueError if it is not
    a font HarfBuzz can shape with."""
    try:
        font = TTFont(path, fontNumber=0, lazy=True)
        names = font["name"]
        found = names.getDebugName(16) or names.getDebugName(1)
        os2 = font.get("OS/2")
        weight = int(getattr(os2, "usWeightClass", 400) or 400)
        italic = bool(os2 and os2.fsSelection & 1) or bool(font["head"].macStyle & 2)
        has_cmap = "cmap" in font
    except (TTLibError, KeyError, OSError, AssertionError, struct.error) as exc:
        raise ValueError(f"not a font file: {exc}") from None
    family = (family or found or "").strip()
    if not has_cmap or not family:
        raise ValueError("not a usable font: no character map or no family name")
    face = Face(path, 0, family, min(900, max(100, round(weight / 100) * 100)), italic)
    if face.hb_font.face.glyph_count == 0:  # HarfBuzz reads garbage as an empty face
        raise ValueError("not a font file: no glyphs")
    return face


def register_font_file(path: str, family: str | None = None) -> str:
    """Make a font file available to templates; returns its family. ValueError if it is
    not a font."""
    face = font_file_face(path, family)
    REGISTRY.load()
    with _lock:
        REGISTRY.add(face)
    return face.family


@functools.lru_cache(maxsize=256)
def fallback_chain(family: str, weight: int = 400, italic: bool = False) -> tuple[Face, ...]:
    """The faces tried, in order, for each character of text set in `family`."""
    chain = [REGISTRY.face(family, weight, italic)]
    for name in FALLBACK_FAMILIES:
        if name in REGISTRY.families and name != family:
            chain.append(REGISTRY.face(name, weight, italic))
    return tuple(chain)


def _emoji_presentation(codepoint: int, following: int | None) -> bool:
    return following == 0xFE0F or 0x1F000 <= codepoint <= 0x1FAFF


def face_for_char(
    chain: tuple[Face, ...], codepoint: int, following: int | None = None
) -> Face | None:
    """The first face of the chain that has a glyph for the character (None: nobody)."""
    if _emoji_presentation(codepoint, following):
        for face in chain:
            if face.family == EMOJI_FAMILY and face.has(codepoint):
                return face
    for face in chain:
        if face.has(codepoint):
            return face
    for face in REGISTRY.last_resort():
        if face.has(codepoint):
            return face
    return None


def glyph_lookup(
    char: str, family: str = "Inter", weight: int = 400, italic: bool = False
) -> Face | None:
    """Which face draws `char` when set in `family` (None: no font on this machine has it)."""
    chain = fallback_chain(family, weight, italic)
    return face_for_char(chain, ord(char[0]), ord(char[1]) if len(char) > 1 else None)


def font_face_css(family: str) -> str:
    """@font-face rules (data: URLs) for a family that is not installed system-wide (an
    upload or KILN_FONT_DIRS), so HTML in the browser can use it; "" for system fonts."""
    REGISTRY.load()
    rules = []
    for (weight, italic), face in sorted(REGISTRY.families.get(family, {}).items()):
        if face.path.startswith("/usr/share/fonts/"):
            continue
        data = base64.b64encode(Path(face.path).read_bytes()).decode()
        name = family.replace("\\", "").replace('"', "")
        rules.append(
            f'@font-face{{font-family:"{name}";font-weight:{weight};'
            f"font-style:{'italic' if italic else 'normal'};"
            f"src:url(data:font/ttf;base64,{data})}}"
        )
    return "".join(rules)

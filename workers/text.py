"""The text engine: text → SVG paths, laid out in a box. Plain Python.

What Satori does, for cairosvg: cairo's own text drawing cannot shape, fall back or
join scripts, so the engine does all of it and hands the rasteriser plain vector paths.

- Shaping: HarfBuzz on the real font files (kerning, ligatures, Arabic joining,
  Devanagari conjuncts), one run per font, one cached shaping per word.
- Fallback per character (workers/fonts.py): a character the family lacks is set in the
  first face of the chain that has it; emoji are the colour font's PNGs as <image>s.
- Bidi: the paragraph direction from its first strong character, right-to-left words
  reordered per line (UAX #9 rule L2 at word level; HarfBuzz orders glyphs inside a run).
- Wrapping at spaces and between CJK characters; a word wider than the box is broken
  between characters only when nothing else fits.
- Fitting: the largest size between `size` and `min_size` (on a 0.5 px grid) at which
  the text fits `max_lines` without breaking words; below that an ellipsis, as a last
  resort, ends the last line.

Output is deterministic (no ids, no dict-order dependence, numbers rounded to 0.01 px),
so the same text gives the same bytes on any machine with the same fonts.
"""

from __future__ import annotations

import functools
import html
import math
import re
import unicodedata
from dataclasses import dataclass

import uharfbuzz as hb
from bidi import get_base_level

from workers.fonts import Face, face_for_char, fallback_chain

ELLIPSIS = "\u2026"
JOINED_SCRIPTS = {"Arab", "Syrc", "Mong", "Nkoo", "Deva", "Beng", "Guru", "Gujr", "Taml", "Telu"}
# Characters that belong to the previous character's cluster (and so its face).
_JOINERS = {0x200C, 0x200D, 0xFE0E, 0xFE0F, 0x20E3}
_CJK = (
    "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
)
_CLOSERS = "\u3001\u3002\uff0c\uff0e\uff01\uff1f\uff09\u300d\u300f\u3011\uff1a\uff1b"
_TOKEN = re.compile(rf"([{_CJK}][{_CLOSERS}]*|[^\s{_CJK}]+)([ ]*)")
_SPACES = re.compile(r"[^\S\n\u00a0]+")
_SAFE_COLOR = re.compile(r"^[#\w(),.%\s-]{1,64}$")


@dataclass(frozen=True)
class TextBox:
    """Laid-out text: SVG markup (paths, emoji images) and what a layout needs to flow."""

    svg: str
    lines: tuple[str, ...]
    width: float  # the widest line, px
    height: float  # lines × size × line height, px
    font_size: float
    truncated: bool
    missing_glyphs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Glyph:
    face: Face
    gid: int
    x: float  # em from the word's start (advance and offset)
    y: float  # em, up
    slot: int  # the visual cluster index: letter spacing is added per slot


@dataclass(frozen=True)
class Word:
    text: str
    glyphs: tuple[Glyph, ...]  # visual order
    advance: float  # em
    slots: int  # clusters, for letter spacing (0 for joined scripts)
    space: float  # em of the space after it (0: none)
    direction: str  # "ltr", "rtl", "number" or "neutral"
    missing: tuple[str, ...]
    newline_after: bool = False

    def width(self, size: float, spacing: float) -> float:
        return self.advance * size + spacing * max(self.slots - 1, 0)

    def gap(self, size: float, spacing: float) -> float:
        return self.space * size + spacing * (2 if self.space else 1)


def _continues_cluster(text: str, index: int) -> bool:
    codepoint = ord(text[index])
    if codepoint in _JOINERS or 0x1F3FB <= codepoint <= 0x1F3FF or 0xE0020 <= codepoint <= 0xE007F:
        return True
    if index and ord(text[index - 1]) == 0x200D:
        return True
    return unicodedata.category(text[index]) in ("Mn", "Mc", "Me")


def _default_ignorable(char: str) -> bool:
    return ord(char) in _JOINERS or unicodedata.category(char) in ("Cf", "Mn", "Zs")


def _direction(text: str) -> str:
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    if any(unicodedata.bidirectional(c) in ("EN", "AN") for c in text):
        return "number"
    return "neutral"


def is_rtl(text: str) -> bool:
    """Whether `text` reads right to left (its first strong character is Arabic, Hebrew,
    …): what layouts consult to put boxes (avatars, pills) on the reading side."""
    return _direction(text) == "rtl"


@functools.lru_cache(maxsize=32768)
def _shape_word(text: str, chain: tuple[Face, ...], space_after: bool) -> Word:
    faces: list[Face | None] = []
    for index, char in enumerate(text):
        previous = faces[-1] if faces else None
        if index and previous is not None and _continues_cluster(text, index):
            faces.append(previous)
            continue
        following = ord(text[index + 1]) if index + 1 < len(text) else None
        faces.append(face_for_char(chain, ord(char), following))

    missing = tuple(char for char, face in zip(text, faces, strict=True) if face is None)
    runs: list[tuple[Face, str]] = []
    for char, face in zip(text, faces, strict=True):
        if face is None:
            continue
        if runs and runs[-1][0] is face:
            runs[-1] = (face, runs[-1][1] + char)
        else:
            runs.append((face, char))

    shaped: list[tuple[Face, list[tuple[int, int, float, float, float]], bool]] = []
    rtl = joined = False
    for face, run in runs:
        buffer = hb.Buffer()
        buffer.add_codepoints([ord(c) for c in run])
        buffer.guess_segment_properties()
        hb.shape(face.hb_font, buffer, {})
        run_rtl = buffer.direction == "rtl"
        rtl = rtl or run_rtl
        joined = joined or buffer.script in JOINED_SCRIPTS
        scale = 1 / face.upem
        glyphs = [
            (
                info.codepoint,
                info.cluster,
                pos.x_advance * scale,
                pos.x_offset * scale,
                pos.y_offset * scale,
            )
            for info, pos in zip(buffer.glyph_infos, buffer.glyph_positions, strict=True)
        ]
        shaped.append((face, glyphs, run_rtl))
    if rtl:
        shaped.reverse()

    run_texts = [run for _, run in runs][:: -1 if rtl else 1]
    notdef: list[str] = []
    placed: list[Glyph] = []
    pen = 0.0
    slot = -1
    last_cluster: tuple[int, int] | None = None
    for run_index, (face, glyphs, _) in enumerate(shaped):
        for gid, cluster, advance, x_offset, y_offset in glyphs:
            if (run_index, cluster) != last_cluster:
                slot += 1
                last_cluster = (run_index, cluster)
            if gid != 0:
                placed.append(Glyph(face, gid, pen + x_offset, y_offset, slot))
            elif not _default_ignorable(run_texts[run_index][cluster]):
                notdef.append(run_texts[run_index][cluster])
            pen += advance
    space = _space_advance(chain[0]) if space_after else 0.0
    return Word(
        text=text,
        glyphs=tuple(placed),
        advance=pen,
        slots=0 if joined else slot + 1,
        space=space,
        direction="rtl" if rtl else _direction(text),
        missing=missing + tuple(notdef),
    )


@functools.lru_cache(maxsize=64)
def _space_advance(face: Face) -> float:
    buffer = hb.Buffer()
    buffer.add_codepoints([0x20])
    buffer.guess_segment_properties()
    hb.shape(face.hb_font, buffer, {})
    return sum(p.x_advance for p in buffer.glyph_positions) / face.upem or 0.25


def _words(text: str, chain: tuple[Face, ...]) -> list[Word]:
    words: list[Word] = []
    paragraphs = text.split("\n")
    for number, paragraph in enumerate(paragraphs):
        tokens = _TOKEN.findall(paragraph)
        for index, (token, spaces) in enumerate(tokens):
            word = _shape_word(token, chain, bool(spaces) and index < len(tokens) - 1)
            if index == len(tokens) - 1 and number < len(paragraphs) - 1:
                word = _with_newline(word)
            words.append(word)
        if not tokens and words and number < len(paragraphs) - 1:
            words[-1] = _with_newline(words[-1])
    return words


def _with_newline(word: Word) -> Word:
    return Word(**{**word.__dict__, "newline_after": True, "space": 0.0})


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\t", " "))
    text = "".join(c for c in text if c == "\n" or unicodedata.category(c) != "Cc")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


def _split_long(word: Word, chain: tuple[Face, ...], size: float, spacing: float, limit: float):
    """Break a word wider than the box between characters (never inside a cluster)."""
    pieces: list[Word] = []
    rest = word.text
    while rest:
        cuts = [
            i for i in range(1, len(rest) + 1) if i == len(rest) or not _continues_cluster(rest, i)
        ]
        low, high = 0, len(cuts) - 1
        while low < high:  # the longest prefix that fits (at least one cluster)
            middle = (low + high + 1) // 2
            if _shape_word(rest[: cuts[middle]], chain, False).width(size, spacing) <= limit:
                low = middle
            else:
                high = middle - 1
        cut = cuts[low]
        if cut < len(rest):  # within what fits, prefer to break after a hyphen or slash
            soft = [c for c in cuts[: low + 1] if rest[c - 1] in "-/‐–"]
            cut = soft[-1] if soft and soft[-1] > cut // 2 else cut
        last = cut == len(rest)
        piece = _shape_word(rest[:cut], chain, last and word.space > 0)
        if last and word.newline_after:
            piece = _with_newline(piece)
        pieces.append(piece)
        rest = rest[cut:]
    return pieces


def _wrap(
    words: list[Word], size: float, spacing: float, limit: float
) -> tuple[list[list[Word]], bool]:
    """Greedy lines; the flag says some word alone is wider than the box."""
    lines: list[list[Word]] = [[]]
    used = 0.0
    overflow = False
    for word in words:
        width = word.width(size, spacing)
        line = lines[-1]
        if line and used + line[-1].gap(size, spacing) + width > limit + 0.01:
            lines.append([word])
            used = width
        else:
            used += (line[-1].gap(size, spacing) if line else 0.0) + width
            line.append(word)
        overflow = overflow or width > limit + 0.01
        if word.newline_after:
            lines.append([])
            used = 0.0
    if not lines[-1] and len(lines) > 1:
        lines.pop()
    return lines, overflow


def _line_width(line: list[Word], size: float, spacing: float) -> float:
    if not line:
        return 0.0
    gaps = sum(word.gap(size, spacing) for word in line[:-1])
    return sum(word.width(size, spacing) for word in line) + gaps


def _levels(words: list[Word], base: int) -> list[int]:
    """Word embedding levels (UAX #9 at word granularity)."""
    strong = [w.direction if w.direction in ("ltr", "rtl") else None for w in words]
    levels = []
    for index, word in enumerate(words):
        before = next((s for s in reversed(strong[:index]) if s), None)
        after = next((s for s in strong[index + 1 :] if s), None)
        if word.direction == "rtl":
            level = 1
        elif word.direction == "ltr":
            level = 2 if base else 0
        elif word.direction == "number":
            level = 2 if (base or before == "rtl") else 0
        else:  # neutral: the direction around it, else the paragraph's
            if before == after == "rtl":
                level = 1
            elif before == after == "ltr":
                level = 2 if base else 0
            else:
                level = base
        levels.append(level)
    return levels


def _visual_order(line: list[Word], levels: list[int]) -> list[int]:
    order = list(range(len(line)))
    if not line:
        return order
    for level in range(max(levels), 0, -1):
        index = 0
        while index < len(order):
            if levels[order[index]] >= level:
                end = index
                while end < len(order) and levels[order[end]] >= level:
                    end += 1
                order[index:end] = reversed(order[index:end])
                index = end
            else:
                index += 1
    return order


def _sizes(size: float, min_size: float) -> list[float]:
    """Candidate sizes, largest first: `size`, then the 0.5 px grid down to `min_size`."""
    sizes = [size]
    step = math.floor(size * 2) / 2
    if step == size:
        step -= 0.5
    while step > min_size:
        sizes.append(step)
        step -= 0.5
    if sizes[-1] != min_size:
        sizes.append(min_size)
    return sizes


def _truncate(
    line: list[Word], chain: tuple[Face, ...], size: float, spacing: float, limit: float
) -> list[Word]:
    """The last line with an ellipsis at its end, words dropped (or cut) until it fits."""
    ellipsis = _shape_word(ELLIPSIS, chain, False)
    room = limit - ellipsis.width(size, spacing) - spacing
    kept = list(line)
    while kept and _line_width(kept, size, spacing) > room:
        if len(kept) == 1:
            pieces = _split_long(kept[0], chain, size, spacing, max(room, 0.0))
            kept = pieces[:1] if pieces[0].width(size, spacing) <= room else []
            break
        kept.pop()
    if kept:
        last = kept[-1]
        trimmed = last.text.rstrip(" ,;:.-–—")
        if trimmed != last.text or last.space:
            kept[-1] = _shape_word(trimmed or last.text, chain, False)
    return [*kept, ellipsis]


def _color(color: str) -> str:
    color = str(color).strip()
    return html.escape(color if _SAFE_COLOR.match(color) else "#000000", quote=True)


def _n(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def layout_text(
    text: str,
    *,
    width: float,
    x: float = 0,
    y: float = 0,
    max_lines: int = 1,
    size: float = 32,
    min_size: float | None = None,
    family: str = "Inter",
    weight: int = 400,
    italic: bool = False,
    line_height: float = 1.2,
    letter_spacing: float = 0,
    align: str = "start",
    color: str = "#000000",
) -> TextBox:
    """Lay `text` out in the box at (x, y) `width` wide (y is the top of the first line)
    and draw it as SVG. ValueError for an unknown family or a bad argument."""
    size = float(size)
    if size <= 0 or float(width) <= 0:
        raise ValueError("text size and width must be positive")
    min_size = size if min_size is None else min(float(min_size), size)
    chain = fallback_chain(str(family), int(weight), bool(italic))  # new after a font upload
    return _layout(
        str(text),
        float(width),
        float(x),
        float(y),
        max(1, int(max_lines)),
        size,
        max(min_size, 1.0),
        chain,
        float(line_height),
        float(letter_spacing),
        str(align),
        _color(color),
    )


# Bounded: a long title's paths are tens of KB.
@functools.lru_cache(maxsize=1024)
def _layout(
    text: str,
    width: float,
    x: float,
    y: float,
    max_lines: int,
    size: float,
    min_size: float,
    chain: tuple[Face, ...],
    line_height: float,
    spacing: float,
    align: str,
    color: str,
) -> TextBox:
    text = _clean(text)
    if not text:
        return TextBox("", (), 0.0, 0.0, size, False)
    words = _words(text, chain)
    base = 1 if get_base_level(text) == 1 else 0

    # The largest size at which it fits without breaking a word: binary search, since
    # smaller never needs more lines (and the common case, `size` fits, costs one wrap).
    sizes = _sizes(size, min_size)

    def fits(candidate: float) -> bool:
        lines, overflow = _wrap(words, candidate, spacing, width)
        return not overflow and len(lines) <= max_lines

    chosen = None
    if fits(sizes[0]):
        chosen = sizes[0]
    elif fits(sizes[-1]):
        low, high = 0, len(sizes) - 1  # sizes[high] fits, sizes[low] does not
        while high - low > 1:
            middle = (low + high) // 2
            if fits(sizes[middle]):
                high = middle
            else:
                low = middle
        chosen = sizes[high]

    truncated = False
    if chosen is not None:
        font_size = chosen
        lines, _ = _wrap(words, font_size, spacing, width)
    else:
        font_size = sizes[-1]
        broken: list[Word] = []
        for word in words:
            if word.width(font_size, spacing) > width:
                broken += _split_long(word, chain, font_size, spacing, width)
            else:
                broken.append(word)
        lines, _ = _wrap(broken, font_size, spacing, width)
        if len(lines) > max_lines:
            last = _truncate(lines[max_lines - 1], chain, font_size, spacing, width)
            lines = [*lines[: max_lines - 1], last]
            truncated = True

    # Levels over the whole paragraph sequence, reordered line by line.
    all_words = [word for line in lines for word in line]
    levels = _levels(all_words, base)
    primary = chain[0]
    ascent, descent = primary.vertical_metrics
    line_box = font_size * line_height
    first_baseline = y + (line_box - (ascent - descent) * font_size) / 2 + ascent * font_size
    if align == "start":
        align = "right" if base else "left"
    elif align == "end":
        align = "left" if base else "right"

    path: list[str] = []
    images: list[str] = []
    widths: list[float] = []
    offset = 0
    for number, line in enumerate(lines):
        line_levels = levels[offset : offset + len(line)]
        order = _visual_order(line, line_levels)
        offset += len(line)
        line_width = _line_width(line, font_size, spacing)
        widths.append(line_width)
        if align == "center":
            pen = x + (width - line_width) / 2
        elif align == "right":
            pen = x + width - line_width
        else:
            pen = x
        baseline = first_baseline + number * line_box
        for position, index in enumerate(order):
            word = line[index]
            for glyph in word.glyphs:
                gx = pen + glyph.x * font_size + spacing * glyph.slot
                gy = baseline - glyph.y * font_size
                if glyph.face.is_color_bitmap:
                    bitmap = glyph.face.color_bitmap(glyph.gid)
                    if bitmap:
                        url, bearing_x, bearing_y, w, h = bitmap
                        images.append(
                            f'<image x="{_n(gx + bearing_x * font_size)}" '
                            f'y="{_n(gy - bearing_y * font_size)}" width="{_n(w * font_size)}" '
                            f'height="{_n(h * font_size)}" href="{url}"/>'
                        )
                    continue
                first_x, first_y, outline = glyph.face.outline(glyph.gid, font_size)
                if outline:
                    path.append(f"M{_n(gx + first_x)} {_n(gy + first_y)}{outline}")
            pen += word.width(font_size, spacing)
            if position < len(order) - 1:
                neighbour = line[order[position + 1]]
                earlier = word if index < order[position + 1] else neighbour
                pen += earlier.gap(font_size, spacing)

    svg = f'<path fill="{color}" d="{"".join(path)}"/>' if path else ""
    missing = tuple(dict.fromkeys(c for word in words for c in word.missing))
    return TextBox(
        svg=svg + "".join(images),
        lines=tuple(
            "".join(
                w.text + (" " if w.space and i < len(line) - 1 else "") for i, w in enumerate(line)
            )
            for line in lines
        ),
        width=round(max(widths, default=0.0), 2),
        height=round(len(lines) * line_box, 2),
        font_size=font_size,
        truncated=truncated,
        missing_glyphs=missing,
    )

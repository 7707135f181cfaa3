"""The text engine: shaping, fallback, bidi, wrapping, fitting, drawing. Plain Python,
checked on real fonts and, where it matters, on rasterised pixels."""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

from workers import fonts
from workers.fonts import available_families, glyph_lookup, register_font_file
from workers.rasterise import render_svg
from workers.text import ELLIPSIS, _levels, _shape_word, _visual_order, _words, layout_text

SCRIPTS = {
    "arabic": "مرحبا بالعالم، هذا عنوان عربي",
    "hebrew": "שלום עולם, זו כותרת בעברית",
    "devanagari": "नमस्ते दुनिया, यह हिंदी शीर्षक है",
    "cjk": "東京で開催される国際会議のお知らせ 中文标题 한국어 제목",
    "emoji": "Launch day 🚀🔥 👩🏽‍💻 🇯🇵 ✨",
    "symbols": "Arrows → ⇒ ∑ ∞ ★ ☂ ♞",
}


def draw(box_svg: str, width: int, height: int) -> Image.Image:
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>{box_svg}</svg>'
    )
    image = render_svg(svg.encode(), format="png", width=width, height=height)
    return Image.open(io.BytesIO(image.data)).convert("RGB")


def ink_columns(image: Image.Image) -> tuple[int, int]:
    """First and last column with any non-white pixel."""
    bbox = Image.eval(image.convert("L"), lambda v: 255 - v).getbbox()
    assert bbox, "nothing was drawn"
    return bbox[0], bbox[2]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_script_is_drawn_without_a_single_notdef(script):
    text = SCRIPTS[script]
    box = layout_text(text, width=1000, size=48, max_lines=2, weight=700)

    assert box.missing_glyphs == ()
    for char in set(text) - {" ", ",", "،", "\u200d"}:
        assert glyph_lookup(char, "Inter", 700) is not None, f"no face draws {char!r}"
    assert box.svg.startswith("<path") or "<image" in box.svg


def test_fallback_picks_the_face_that_has_the_character():
    assert glyph_lookup("a").family == "Inter"
    assert glyph_lookup("東").family == "Noto Sans CJK"
    assert glyph_lookup("م").family == "Noto Sans Arabic"
    assert glyph_lookup("ש").family == "Noto Sans Hebrew"
    assert glyph_lookup("न").family == "Noto Sans Devanagari"
    assert glyph_lookup("🚀").family == "Noto Color Emoji"


def test_arabic_letters_are_joined_not_isolated():
    chain = fonts.fallback_chain("Inter", 400, False)
    joined = [g.gid for g in _shape_word("بيت", chain, False).glyphs]
    isolated = [_shape_word(letter, chain, False).glyphs[0].gid for letter in "بيت"]
    lam_alef = _shape_word("لا", chain, False)  # a mandatory ligature: one glyph

    assert len(joined) == 3 and len(lam_alef.glyphs) == 1
    assert sorted(joined) != sorted(isolated)  # contextual forms, not the isolated ones


def test_devanagari_forms_conjuncts():
    chain = fonts.fallback_chain("Inter", 400, False)
    word = _shape_word("क्ष", chain, False)  # ka + virama + ssa: one conjunct glyph

    assert len(word.glyphs) < 3


def test_right_to_left_words_are_ordered_right_to_left():
    chain = fonts.fallback_chain("Inter", 400, False)
    words = _words("שלום עולם abc", chain)
    levels = _levels(words, base=1)

    # In a right-to-left paragraph the first word is rightmost; the Latin run stays LTR.
    assert _visual_order(words, levels) == [2, 1, 0]
    assert _visual_order(words[:2], _levels(words[:2], base=0)) == [1, 0]


def test_right_to_left_paragraphs_align_to_the_right_by_default():
    box = layout_text("שלום", width=800, size=40)
    left, right = ink_columns(draw(box.svg, 800, 60))

    assert right > 780 and left > 600


def test_emoji_are_drawn_in_colour():
    box = layout_text("🚀", width=200, size=100)
    image = draw(box.svg, 200, 140).convert("HSV")
    saturated = sum(1 for h, s, v in image.get_flattened_data() if s > 120 and v > 80)

    assert "<image" in box.svg and "data:image/png;base64," in box.svg
    assert saturated > 500


def test_fitting_shrinks_before_it_ellipsises():
    text = "A title that is a little too long for one line at the largest size"
    box = layout_text(text, width=900, size=64, min_size=32, max_lines=1)

    assert not box.truncated
    assert 32 <= box.font_size < 64
    assert box.lines == (text,)
    assert box.width <= 900


def test_ellipsis_is_the_last_resort_and_stays_in_the_box():
    text = "word " * 200
    box = layout_text(text, x=10, width=600, size=48, min_size=24, max_lines=2)

    assert box.truncated
    assert box.font_size == 24
    assert len(box.lines) == 2 and box.lines[-1].endswith(ELLIPSIS)
    left, right = ink_columns(draw(box.svg, 700, 200))
    assert left >= 10 and right <= 610


def test_a_word_wider_than_the_box_is_broken_between_characters():
    box = layout_text("x" * 120, width=300, size=40, min_size=30, max_lines=4)

    assert all(len(line) < 120 for line in box.lines)
    assert "".join(box.lines).replace(ELLIPSIS, "") in "x" * 120
    assert box.width <= 300


@pytest.mark.parametrize("align", ["left", "center", "right"])
def test_alignment_places_the_line_in_the_box(align):
    box = layout_text("Kiln", x=0, width=600, size=40, align=align)
    left, right = ink_columns(draw(box.svg, 600, 60))
    middle = (left + right) / 2

    expected = {"left": lambda: left < 10, "center": lambda: abs(middle - 300) < 6}
    expected["right"] = lambda: right > 590
    assert expected[align]()


def test_letter_spacing_widens_the_line():
    plain = layout_text("spacing", width=900, size=40)
    spaced = layout_text("spacing", width=900, size=40, letter_spacing=10)

    assert spaced.width == pytest.approx(plain.width + 6 * 10, abs=0.05)


def test_lines_are_stacked_by_line_height():
    box = layout_text("one two three four", width=150, size=40, max_lines=4, line_height=1.5)

    assert len(box.lines) > 1
    assert box.height == pytest.approx(len(box.lines) * 40 * 1.5)


def test_hard_line_breaks_are_kept():
    box = layout_text("first\nsecond", width=900, size=30, max_lines=3)

    assert box.lines == ("first", "second")


def test_markup_in_text_never_reaches_the_svg():
    box = layout_text("<script>&amp;\"'</g>", width=900, size=30, color='red"/><x a="')

    assert "<script" not in box.svg and "&amp;" not in box.svg
    assert box.svg.count("<") == 1  # one path element, its attributes quoted and escaped
    assert 'fill="#000000"' in box.svg  # the bad colour fell back


def test_identical_text_gives_identical_svg():
    first = layout_text("Déjà vu 🚀 مرحبا", width=500, size=40, max_lines=2).svg
    from workers import text

    text._layout.cache_clear()
    text._shape_word.cache_clear()
    assert layout_text("Déjà vu 🚀 مرحبا", width=500, size=40, max_lines=2).svg == first


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown font family"):
        layout_text("x", width=100, family="Comic Sans")


def test_bundled_families_are_available():
    families = available_families()

    for family in ("Inter", "JetBrains Mono", "Noto Sans", "Noto Serif", "Noto Sans CJK"):
        assert family in families
    assert "Noto Color Emoji" in families


def test_an_uploaded_font_file_becomes_a_family(tmp_path):
    copy = tmp_path / "Custom.ttf"
    shutil.copy("/usr/share/fonts/truetype/jetbrains-mono/JetBrainsMono-Bold.ttf", copy)

    family = register_font_file(str(copy), "Kiln Test Mono")

    assert family == "Kiln Test Mono"
    assert "Kiln Test Mono" in available_families()
    box = layout_text("mono", width=400, size=40, family="Kiln Test Mono", weight=700)
    assert box.svg.startswith("<path")


def test_a_file_that_is_not_a_font_is_refused(tmp_path):
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"<svg>not a font</svg>")

    with pytest.raises(ValueError, match="not a font"):
        register_font_file(str(fake))

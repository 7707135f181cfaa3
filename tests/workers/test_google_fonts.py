"""workers.google_fonts without a server: css2 parsing and WOFF2 → TTF."""

from __future__ import annotations

import io

import pytest
from fontTools.ttLib import TTFont

from workers.google_fonts import FontSourceError, css2_url, font_sources, to_ttf

CSS = """
/* latin */
@font-face {
  font-family: 'Poppins';
  font-style: italic;
  font-weight: 700;
  src: url(https://fonts.gstatic.com/s/poppins/v1/a.woff2) format('woff2');
  unicode-range: U+0000-00FF;
}
@font-face { font-family: 'Poppins'; font-style: normal; font-weight: 400;
  src: url("https://fonts.gstatic.com/s/poppins/v1/b.woff2") format('woff2'); }
"""


def test_the_css2_url_asks_for_each_weight():
    assert css2_url("https://fonts.example/", "Open Sans", (700, 400)) == (
        "https://fonts.example/css2?family=Open%20Sans:ital,wght@0,400;0,700&display=swap"
    )


def test_a_family_name_that_is_not_one_is_refused():
    with pytest.raises(FontSourceError):
        css2_url("https://fonts.example", "Poppins&x=<script>")


def test_font_faces_are_read_from_css2():
    assert font_sources(CSS) == [
        (700, True, "https://fonts.gstatic.com/s/poppins/v1/a.woff2"),
        (400, False, "https://fonts.gstatic.com/s/poppins/v1/b.woff2"),
    ]


def test_woff2_becomes_ttf_and_junk_is_refused():
    source = TTFont("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    source.flavor = "woff2"
    woff2 = io.BytesIO()
    source.save(woff2)

    ttf = TTFont(io.BytesIO(to_ttf(woff2.getvalue())))

    assert ttf.flavor is None and ttf.getBestCmap()[0x41]
    with pytest.raises(FontSourceError):
        to_ttf(b"not a font at all")

"""The SVG engine on its own: sizes, formats, and no way out of the document."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.factories import svg_document
from workers.rasterise import RenderInputError, inspect_svg, render_svg


def png_data_url(colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), colour).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_intrinsic_size_comes_from_attributes_or_viewbox():
    assert inspect_svg(svg_document(300, 200).encode()).width == 300
    viewbox = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 480"/>'
    info = inspect_svg(viewbox)
    assert (info.width, info.height) == (640, 480)


def test_output_size_is_css_pixels_times_dpr():
    image = render_svg(svg_document(100, 50).encode(), format="png", width=100, height=50, dpr=3)

    assert (image.width, image.height) == (300, 150)
    assert Image.open(io.BytesIO(image.data)).size == (300, 150)


def test_svg_scales_to_the_requested_size():
    image = render_svg(svg_document(10, 10).encode(), format="png", width=64, height=64)

    picture = Image.open(io.BytesIO(image.data)).convert("RGB")
    assert picture.getpixel((60, 60)) == (0xE4, 0x57, 0x2E)


def test_jpeg_flattens_transparency_onto_white():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"/>'
    image = render_svg(svg, format="jpeg", width=20, height=20, quality=95)

    assert Image.open(io.BytesIO(image.data)).getpixel((5, 5)) == (255, 255, 255)


def test_data_url_images_are_drawn():
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
        f'<image href="{png_data_url((255, 0, 0))}" width="4" height="4"/></svg>'
    )
    image = render_svg(svg.encode(), format="png", width=4, height=4)

    assert Image.open(io.BytesIO(image.data)).convert("RGB").getpixel((2, 2)) == (255, 0, 0)


def test_the_rasteriser_itself_refuses_files_even_without_inspection(tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4), (0, 255, 0)).save(secret)
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
        f'<image href="file://{secret}" width="4" height="4"/></svg>'
    )

    with pytest.raises(RenderInputError):
        render_svg(svg.encode(), format="png", width=4, height=4)


def test_a_corrupt_embedded_image_is_a_failed_render_not_a_crash():
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
        '<image href="data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==" width="4" height="4"/></svg>'
    )

    with pytest.raises(RenderInputError) as error:
        render_svg(svg.encode(), format="png", width=4, height=4)
    assert error.value.code == "RENDER_FAILED"


def test_unknown_format_is_refused():
    with pytest.raises(RenderInputError):
        render_svg(svg_document().encode(), format="gif", width=10, height=10)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_encode_png_is_lossless(mode):
    from workers.rasterise import encode_png

    source = Image.new(mode, (37, 23), (10, 200, 30, 255)[: len(mode)])
    source.putpixel((5, 5), (255, 0, 0, 40)[: len(mode)])

    decoded = Image.open(io.BytesIO(encode_png(source)))

    assert decoded.mode == mode
    assert decoded.tobytes() == source.tobytes()


def test_opaque_renders_are_rgb_and_transparent_ones_keep_alpha():
    opaque = render_svg(svg_document(20, 10).encode(), format="png", width=20, height=10)
    clear = b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><circle r="3"/></svg>'
    transparent = render_svg(clear, format="png", width=20, height=10)

    assert Image.open(io.BytesIO(opaque.data)).mode == "RGB"
    picture = Image.open(io.BytesIO(transparent.data))
    assert picture.mode == "RGBA"
    assert picture.getpixel((15, 8))[3] == 0


def test_identical_renders_are_identical_bytes():
    svg = svg_document(200, 100, body='<circle cx="50" cy="50" r="30" fill="#123"/>').encode()

    first = render_svg(svg, format="png", width=200, height=100)
    assert render_svg(svg, format="png", width=200, height=100).data == first.data

"""Render specs: fields, defaults and bounds written once, canonical JSON, round trips."""

from __future__ import annotations

import pytest

from workers.specs import (
    SPEC_CLASSES,
    HtmlSpec,
    ScreenshotSpec,
    SpecError,
    SvgSpec,
    TemplateSpec,
    spec_from_json,
)


def test_screenshot_defaults_live_in_the_spec():
    spec = ScreenshotSpec(url="https://example.com/")

    assert (spec.width, spec.height, spec.dpr, spec.format, spec.quality) == (
        1440,
        788,
        2.0,
        "jpeg",
        80,
    )


def test_quality_is_kept_only_for_lossy_formats():
    assert SvgSpec(svg="<svg/>", width=10, height=10, format="png", quality=50).quality is None
    assert SvgSpec(svg="<svg/>", width=10, height=10, format="webp", quality=50).quality == 50


def test_equal_requests_have_equal_canonical_forms():
    one = SvgSpec(svg="<svg/>", width=10, height=10, format="png", quality=50, dpr=1)
    two = SvgSpec(svg="<svg/>", width=10, height=10, format="png", quality=90, dpr=1.0)

    assert one.to_json() == two.to_json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("width", 0),
        ("width", -100),
        ("height", 10**9),
        ("dpr", 0.5),
        ("dpr", float("nan")),
        ("quality", 1000),
        ("quality", -5),
        ("format", "gif"),
    ],
)
def test_out_of_bounds_fields_are_refused_naming_the_field(field, value):
    fields = {"svg": "<svg/>", "width": 10, "height": 10, "format": "webp", field: value}

    with pytest.raises(SpecError) as error:
        SvgSpec(**fields)

    assert error.value.field == field


def test_a_template_spec_in_svg_has_no_pixel_ratio():
    spec = TemplateSpec(
        template_id=1, template="card", digest="d", width=10, height=10, format="svg", dpr=2
    )
    assert spec.dpr == 1.0


@pytest.mark.parametrize("cls", list(SPEC_CLASSES.values()))
def test_every_kind_round_trips_through_its_json(cls):
    required = {
        SvgSpec: {"svg": "<svg/>", "width": 5, "height": 6},
        HtmlSpec: {"html": "<p>hi</p>"},
        ScreenshotSpec: {"url": "https://example.com/"},
    }.get(cls, {"template_id": 3, "template": "card", "digest": "x", "width": 7, "height": 8})
    spec = cls(**required)

    assert spec_from_json(cls.kind, spec.to_json()) == spec


def test_a_stored_spec_with_fields_the_class_no_longer_has_still_loads():
    data = {**HtmlSpec(html="<p/>").to_json(), "retired_field": 1}

    assert spec_from_json("html", data) == HtmlSpec(html="<p/>")

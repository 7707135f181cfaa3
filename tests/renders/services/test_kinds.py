"""renders.services.kinds: each kind's spec is built once, from the caller's options."""

from __future__ import annotations

import pytest

from config.errors import KilnError
from renders.models import Template
from renders.services.kinds import (
    html_render_create,
    screenshot_render_create,
    svg_render_create,
    template_render_spec,
)
from tests.factories import svg_document

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quiet(django_capture_on_commit_callbacks):
    """Create jobs without enqueueing them (the on-commit enqueue is captured, not run)."""
    with django_capture_on_commit_callbacks():
        yield


def test_svg_takes_its_size_from_the_document_and_its_defaults_from_the_spec(account, quiet):
    job = svg_render_create(
        account=account, project=None, svg=svg_document(300, 100), options={"format": None}
    )

    assert (job.spec.width, job.spec.height, job.spec.format, job.spec.dpr) == (300, 100, "png", 1)


def test_transparent_jpeg_becomes_png_without_background(account, quiet):
    job = svg_render_create(
        account=account,
        project=None,
        svg=svg_document(),
        options={"format": "jpeg", "background": "transparent", "quality": 70},
    )

    assert (job.spec.format, job.spec.background, job.spec.quality) == ("png", None, None)


def test_transparent_html_keeps_its_alpha(account, quiet):
    job = html_render_create(
        account=account, project=None, html="<p>hi</p>", options={"background": "transparent"}
    )

    assert job.spec.transparent is True and job.spec.background is None
    assert (job.spec.width, job.spec.height) == (1200, 630)  # HtmlSpec's defaults


def test_screenshot_forwards_params_and_keeps_credentials_out_of_the_row(account, quiet):
    job = screenshot_render_create(
        account=account,
        project=None,
        options={"url": "https://example.com/page?a=1"},
        forwarded={"ref": "x"},
        headers={"Authorization": "Bearer secret-token"},
    )

    assert job.spec.url == "https://example.com/page?a=1&ref=x"
    assert job.spec.digest  # the ISO week by default
    assert job.spec.credentials and "secret-token" not in str(job.params)


def test_a_screenshot_of_a_private_address_is_refused_before_queueing(account):
    with pytest.raises(KilnError) as error:
        screenshot_render_create(account=account, project=None, options={"url": "http://10.0.0.1/"})
    assert error.value.status == 403


def test_a_template_spec_pins_the_template_version_and_validates_params(account):
    template = Template.objects.get(project__isnull=True, slug="blog-post")

    spec = template_render_spec(
        account=account,
        template=template,
        params={"title": "Hello"},
        options={"size": "instagram-square"},
    )

    assert (spec.template_id, spec.digest) == (template.id, template.digest)
    assert (spec.width, spec.height) == (1080, 1080)
    with pytest.raises(KilnError) as error:
        template_render_spec(account=account, template=template, params={}, options={})
    assert "title" in error.value.message


def test_out_of_bounds_options_are_a_400_naming_the_field(account):
    with pytest.raises(KilnError) as error:
        svg_render_create(
            account=account, project=None, svg=svg_document(), options={"quality": 1000}
        )
    assert error.value.code == "VALIDATION_FAILED" and "quality" in error.value.details

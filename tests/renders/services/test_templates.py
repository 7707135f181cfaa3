"""renders.services.templates: create, the slug race, built-ins read-only."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from config.errors import KilnError
from renders.models import Template
from renders.services.templates import template_create, template_update
from tests.factories import ProjectFactory

SOURCE = '<svg xmlns="http://www.w3.org/2000/svg" width="{{ width }}" height="{{ height }}"/>'


def _fields(slug: str) -> dict:
    return {"slug": slug, "source": SOURCE, "param_schema": {}}


@pytest.mark.django_db(transaction=True)
def test_two_racing_creates_of_one_slug_make_one_template_and_one_conflict():
    project = ProjectFactory()
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def create() -> None:
        start.wait()
        try:
            template_create(project=project, fields=_fields("racer"))
            outcomes.append("created")
        except KilnError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["CONFLICT"] * 5 + ["created"]
    assert Template.objects.filter(project=project, slug="racer").count() == 1


@pytest.mark.django_db
def test_a_template_needs_a_project():
    with pytest.raises(KilnError) as error:
        template_create(project=None, fields=_fields("orphan"))
    assert error.value.code == "VALIDATION_FAILED"


@pytest.mark.django_db
def test_built_in_templates_are_read_only():
    builtin = Template.objects.filter(project__isnull=True).first()
    with pytest.raises(KilnError) as error:
        template_update(template=builtin, fields={"name": "mine"})
    assert error.value.code == "FORBIDDEN"

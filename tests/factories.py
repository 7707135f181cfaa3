"""Factories for the models tests need; keys go through the real key service."""

from __future__ import annotations

import factory

from accounts.models import Account, ApiKey, Plan, Project
from accounts.services import api_key_create


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    monthly_images = 1000
    requests_per_minute = 1000
    max_dimension = 4096


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    slug = factory.Sequence(lambda n: f"account-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    plan = factory.SubFactory(PlanFactory)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    account = factory.SubFactory(AccountFactory)
    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


def api_key_for(
    account: Account,
    *,
    kind: str = ApiKey.Kind.SECRET,
    project: Project | None = None,
    **kwargs,
) -> str:
    """A new key for `account`; returns the plain key as a client would hold it."""
    _, raw_key = api_key_create(account=account, kind=kind, project=project, **kwargs)
    return raw_key


def svg_document(width: int = 320, height: int = 160, fill: str = "#e4572e", body: str = "") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<rect width="{width}" height="{height}" fill="{fill}"/>{body}</svg>'
    )


def slow_svg_document(layers: int = 300, size: int = 3000) -> str:
    """An honest SVG that takes cairo a while (full-canvas translucent layers)."""
    rects = "".join(
        f'<rect x="{i % 7}" y="{i % 5}" width="{size}" height="{size}" '
        f'fill="#{(i * 2654435761) % 0xFFFFFF:06x}" fill-opacity="0.05" rx="{i % 40}"/>'
        for i in range(layers)
    )
    return svg_document(size, size, body=rects)

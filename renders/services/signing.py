"""Signed, expiring URLs for template renders: `/i/{token}` and `/og/…?exp=&kid=&sig=`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accounts.models import ApiKey, Project
from accounts.signing import signed_query_create, signed_token_create
from renders.models import Template
from renders.params import params_validate
from workers.specs import TemplateSpec

# The render options a signed request carries besides the template's params.
SIGNED_OPTIONS = ("size", *TemplateSpec.caller_fields)


@dataclass(frozen=True)
class SignedUrl:
    url: str
    token: str
    og_url: str
    expires_at: datetime


def signed_url_create(
    *,
    api_key: ApiKey,
    project: Project | None,
    template: Template,
    params: Mapping[str, Any],
    options: Mapping[str, Any],
    expires_in: int,
    base_url: str,
) -> SignedUrl:
    """Both signed shapes of one template render. The params are validated now, so a
    signed URL never points at a request that cannot render."""
    params_validate(
        slug=template.slug, schema=template.param_schema, given=dict(params), from_query=False
    )
    chosen = {name: options.get(name) for name in SIGNED_OPTIONS}
    chosen["format"] = chosen["format"] or "png"
    signed_request = {
        "template": template.slug,
        "project": template.project.slug if template.project_id else None,
        "params": dict(params),
        **chosen,
    }
    token, expires_at = signed_token_create(
        api_key=api_key, request=signed_request, expires_in=expires_in
    )
    path = f"/og/{template.slug}.{_extension(chosen['format'])}"
    query = {name: _query_value(value) for name, value in params.items()}
    for name in SIGNED_OPTIONS:
        if name != "format" and chosen[name] is not None:
            query[name] = str(chosen[name])
    if project is not None:
        query["project"] = project.slug
    og_query = signed_query_create(api_key=api_key, path=path, query=query, expires_in=expires_in)
    return SignedUrl(
        url=f"{base_url}/i/{token}",
        token=token,
        og_url=f"{base_url}{path}?{og_query}",
        expires_at=datetime.fromtimestamp(expires_at, UTC),
    )


def template_preview_url(*, api_key: ApiKey, template: Template, base_url: str) -> str:
    """A day-long signed URL of the template's sample render."""
    token, _ = signed_token_create(
        api_key=api_key,
        request={
            "template": template.slug,
            "project": template.project.slug if template.project_id else None,
            "params": template.sample_params,
            "format": "png",
        },
        expires_in=86400,
    )
    return f"{base_url}/i/{token}"


def _extension(fmt: str) -> str:
    return {"jpeg": "jpg"}.get(fmt, fmt)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)

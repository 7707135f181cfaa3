"""Request shapes (input) and the Job JSON of SPEC §4 (output). No business logic.

The fields a render kind shares with its spec are generated from the spec
(`spec_serializer_fields`): their bounds and choices are written once, in
workers/specs.py, and their defaults are the spec's (a field left out stays out, and the
spec fills it in).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cairosvg.colors import COLORS
from rest_framework import serializers

from renders.models import RenderJob
from workers.specs import RenderSpec, ScreenshotSpec, TemplateSpec

FORMAT_ALIASES = {"jpg": "jpeg"}


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF would quietly turn 12 into "12"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(f"must be a string, not {type(data).__name__}")
        return super().to_internal_value(data)


class ColorField(serializers.CharField):
    """`transparent`, a CSS colour name, or #rgb / #rrggbb / #rrggbbaa."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip().lower()
        if value == "transparent" or value in COLORS:
            return value
        digits = value.removeprefix("#")
        if len(digits) in (3, 6, 8) and all(c in "0123456789abcdef" for c in digits):
            return "#" + digits
        raise serializers.ValidationError(
            "must be 'transparent', a CSS colour name or a hex colour like #1a2b3c"
        )


class FormatField(serializers.ChoiceField):
    """An output format; `jpg` is accepted for `jpeg`."""

    def __init__(self, **kwargs: Any) -> None:
        choices = list(kwargs.pop("choices"))
        super().__init__(
            choices=choices + [a for a in FORMAT_ALIASES if a not in choices], **kwargs
        )

    def to_internal_value(self, data: Any) -> str:
        return FORMAT_ALIASES.get(str(data), super().to_internal_value(data))


def spec_serializer_fields(
    cls: type[RenderSpec], *names: str, required: tuple[str, ...] = ()
) -> dict[str, serializers.Field]:
    """DRF fields for `names` of spec `cls` (default: the fields its callers set), with the
    spec's bounds and choices. None of them has a default: what the request leaves out,
    the spec fills in."""
    fields: dict[str, serializers.Field] = {}
    for name in names or cls.caller_fields:
        field = cls.__dataclass_fields__[name]
        meta, kind = field.metadata, str(field.type)
        options: dict[str, Any] = {"required": name in required, "help_text": meta.get("help")}
        if name == "format":
            fields[name] = FormatField(choices=meta["choices"], **options)
        elif name == "background":
            fields[name] = ColorField(max_length=meta["max_length"], **options)
        elif meta.get("choices") is not None:
            fields[name] = serializers.ChoiceField(choices=list(meta["choices"]), **options)
        elif kind.startswith("bool"):
            fields[name] = serializers.BooleanField(**options)
        elif kind.startswith(("int", "float")):
            number = serializers.IntegerField if kind.startswith("int") else serializers.FloatField
            fields[name] = number(min_value=meta["min"], max_value=meta["max"], **options)
        elif kind.startswith("dict"):
            fields[name] = serializers.DictField(**options)
        else:
            fields[name] = StrictCharField(
                max_length=meta.get("max_length"), allow_blank=True, **options
            )
    return fields


def spec_serializer(
    cls: type[RenderSpec], *names: str, required: tuple[str, ...] = ()
) -> type[serializers.Serializer]:
    """A serializer class declaring the spec fields `names` (made once, at import): the
    base of each kind's input serializer."""
    fields = spec_serializer_fields(cls, *names, required=required)
    return type(f"{cls.__name__}Fields", (serializers.Serializer,), fields)


def spec_options(cls: type[RenderSpec], data: dict[str, Any]) -> dict[str, Any]:
    """The validated values that are fields of spec `cls`."""
    names = {field.name for field in dataclasses.fields(cls)}
    return {name: value for name, value in data.items() if name in names}


def job_json(job: RenderJob, *, base_url: str) -> dict[str, Any]:
    status_url = f"{base_url}/v1/jobs/{job.id}"
    succeeded = job.status == RenderJob.Status.SUCCEEDED
    return {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "image_url": f"{status_url}/image" if succeeded else None,
        "width": job.width,
        "height": job.height,
        "format": job.format,
        "size_bytes": job.size_bytes,
        "cached": job.cached,
        "generation_ms": None if job.cached else job.generation_ms,
        "template": job.params.get("template"),
        "error": (
            {"code": job.error_code, "message": job.error_message}
            if job.status == RenderJob.Status.FAILED
            else None
        ),
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "status_url": status_url,
    }


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class SizeEntryField(serializers.Field):
    """A preset name ("og") or {name, width, height}."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        from renders.sizes import SIZE_PRESETS

        if isinstance(data, str):
            if data not in SIZE_PRESETS:
                raise serializers.ValidationError(
                    f"unknown preset '{data}'; presets: {', '.join(SIZE_PRESETS)}"
                )
            return {"name": data, "preset": data}
        if isinstance(data, dict):
            entry = SizeInputSerializer(data=data)
            entry.is_valid(raise_exception=True)
            return dict(entry.validated_data)
        raise serializers.ValidationError("a preset name or {name, width, height}")


class SizeInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=40)
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)


class TemplateRenderInputSerializer(spec_serializer(TemplateSpec)):
    """The template part of POST /v1/images, /v1/sign, /v1/batches and previews."""

    params = serializers.DictField(required=False, default=dict)
    data = serializers.DictField(required=False)  # Audome-style {"title.text": …}
    size = serializers.CharField(required=False, max_length=40)
    project = serializers.SlugField(required=False)


class BatchCreateInputSerializer(TemplateRenderInputSerializer):
    template = StrictCharField(max_length=80)
    sizes = serializers.ListField(child=SizeEntryField(), min_length=1, max_length=20)
    encoding = serializers.ChoiceField(choices=["url", "base64"], default="url")
    force = serializers.BooleanField(default=False)
    webhook_url = serializers.URLField(required=False, max_length=2000)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["async"] = serializers.BooleanField(default=False)
        return fields


class SignInputSerializer(TemplateRenderInputSerializer):
    template = StrictCharField(max_length=80)
    expires_in = serializers.IntegerField(min_value=1, max_value=365 * 86400, default=86400)


class OgQuerySerializer(
    spec_serializer(TemplateSpec, *[f for f in TemplateSpec.caller_fields if f != "format"])
):
    """The query of GET /og/{template}.{ext}: render options by name; every other
    parameter is a template param (validated against the template's schema)."""

    size = serializers.CharField(required=False, max_length=40)
    project = serializers.SlugField(required=False)


class ReferenceTemplateQuerySerializer(serializers.Serializer):
    """The query of GET /template/{name} (reference 002's names): w and h are clamped to
    1–4096 by the view, so any whole number is accepted here."""

    w = serializers.IntegerField(required=False)
    h = serializers.IntegerField(required=False)
    dpr = spec_serializer_fields(TemplateSpec, "dpr")["dpr"]
    digest = serializers.CharField(required=False, max_length=80)
    force = serializers.BooleanField(required=False)
    project = serializers.SlugField(required=False)


# Query names of /template/… that are not template params.
REFERENCE_RESERVED = {"api_key", *ReferenceTemplateQuerySerializer().fields}

# Query names of /og/… that are not template params.
OG_RESERVED = {"api_key", "sig", "exp", "kid", *OgQuerySerializer().fields}


class TemplateWriteInputSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=80, required=False)
    project = serializers.SlugField(required=False)
    engine = serializers.ChoiceField(choices=["svg", "html", "tree"], required=False)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    source = StrictCharField(required=False, trim_whitespace=False, max_length=200_000)
    param_schema = serializers.DictField(required=False)
    sample_params = serializers.DictField(required=False)
    default_width = serializers.IntegerField(required=False, min_value=1, max_value=4096)
    default_height = serializers.IntegerField(required=False, min_value=1, max_value=4096)
    default_font = serializers.CharField(required=False, max_length=80)


def template_json(template, *, base_url: str, preview_url: str | None = None) -> dict[str, Any]:
    from renders.params import dynamic_elements

    return {
        "slug": template.slug,
        "project": template.project.slug if template.project_id else None,
        "builtin": template.project_id is None,
        "engine": template.engine,
        "name": template.name,
        "description": template.description,
        "default_size": {"width": template.default_width, "height": template.default_height},
        "default_font": template.default_font,
        "param_schema": template.param_schema,
        "defaults": {
            name: spec["default"]
            for name, spec in template.param_schema.items()
            if "default" in spec
        },
        "sample_params": template.sample_params,
        "dynamic_elements": dynamic_elements(template.param_schema),
        "digest": template.digest,
        "updated_at": _iso(template.updated_at),
        "preview_url": preview_url,
    }


class ImageCreateInputSerializer(TemplateRenderInputSerializer):
    """POST /v1/images: exactly one of `svg`, `template` or `html`."""

    svg = StrictCharField(required=False, trim_whitespace=False, allow_blank=False)
    template = StrictCharField(required=False, max_length=80)
    html = StrictCharField(required=False, trim_whitespace=False)
    force = serializers.BooleanField(default=False)
    webhook_url = serializers.URLField(required=False, max_length=2000)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["async"] = serializers.BooleanField(default=False)  # a keyword in Python
        return fields

    def validate_webhook_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("must be an http(s) URL")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        sources = [name for name in ("svg", "template", "html") if name in attrs]
        if len(sources) != 1:
            raise serializers.ValidationError(
                {"svg": ["give exactly one of 'svg', 'template' or 'html'"]}
            )
        if sources[0] != "template" and attrs.get("format") == "svg":
            raise serializers.ValidationError(
                {"format": [f"{sources[0]} renders to a raster or pdf"]}
            )
        return attrs


class CookieSerializer(serializers.Serializer):
    name = StrictCharField(max_length=256)
    value = StrictCharField(max_length=4096, allow_blank=True, trim_whitespace=False)
    domain = StrictCharField(max_length=256, required=False)
    path = StrictCharField(max_length=1024, required=False)


class ScreenshotInputSerializer(spec_serializer(ScreenshotSpec, required=("url",))):
    """POST /v1/screenshots (JSON) and GET /render (query string)."""

    headers = serializers.DictField(
        child=StrictCharField(max_length=4096, trim_whitespace=False), required=False
    )
    cookies = CookieSerializer(many=True, required=False)
    force = serializers.BooleanField(default=False)
    project = serializers.SlugField(required=False)
    webhook_url = serializers.URLField(required=False, max_length=2000)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["async"] = serializers.BooleanField(default=False)
        return fields

    def validate_headers(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 30:
            raise serializers.ValidationError("at most 30 headers")
        for name in value:
            if not name or any(c in name for c in ":\r\n ") or len(name) > 256:
                raise serializers.ValidationError(f"bad header name {name[:40]!r}")
            if name.lower() in ("host", "content-length", "connection", "transfer-encoding"):
                raise serializers.ValidationError(f"header {name!r} cannot be set")
        return value


def template_params(data: dict[str, Any]) -> dict[str, Any]:
    """`params`, with Audome-style `data` ({"title.text": …}) under them."""
    from renders.params import params_from_data

    return {**params_from_data(data.get("data") or {}), **data.get("params", {})}


def template_output(data: dict[str, Any]) -> dict[str, Any]:
    """The render options of a validated template request (size and the spec's fields)."""
    return {"size": data.get("size"), **spec_options(TemplateSpec, data)}


def batch_json(state, *, batch, base: str, images: dict[str, str] | None = None) -> dict:
    """A batch's JSON from its state (renders.services.batches.batch_state); `images`
    maps job ids to base64 bytes when the caller asked for them inline."""
    results = []
    for job in state.jobs:
        entry = {
            "size": job.size_name,
            "width": job.params.get("width"),
            "height": job.params.get("height"),
            "status": job.status,
            "job": job_json(job, base_url=base),
        }
        if job.status == RenderJob.Status.SUCCEEDED:
            entry["image_url"] = f"{base}/v1/jobs/{job.id}/image"
            if images is not None:
                entry["base64"] = images[str(job.id)]
        results.append(entry)
    return {
        "id": str(batch.id),
        "template": batch.template_slug,
        "status": state.status,
        "done": state.done,
        "failed": state.failed,
        "total": state.total,
        "results": results,
        "status_url": f"{base}/v1/batches/{batch.id}",
        "created_at": _iso(batch.created_at),
    }

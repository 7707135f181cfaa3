"""Request shapes (input) and the Job JSON of SPEC §4 (output). No business logic."""

from __future__ import annotations

from typing import Any

from cairosvg.colors import COLORS
from rest_framework import serializers

from renders.models import RenderJob

FORMAT_ALIASES = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp", "pdf": "pdf"}


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


class ImageCreateInputSerializer(serializers.Serializer):
    svg = StrictCharField(required=False, trim_whitespace=False, allow_blank=False)
    template = StrictCharField(required=False)
    html = StrictCharField(required=False, trim_whitespace=False)
    width = serializers.IntegerField(required=False, min_value=1)
    height = serializers.IntegerField(required=False, min_value=1)
    format = serializers.ChoiceField(choices=sorted(FORMAT_ALIASES), default="png")
    quality = serializers.IntegerField(min_value=1, max_value=100, default=90)
    dpr = serializers.FloatField(min_value=1, max_value=3, default=1)
    background = ColorField(required=False, max_length=32)
    project = serializers.SlugField(required=False)
    force = serializers.BooleanField(default=False)
    webhook_url = serializers.URLField(required=False, max_length=2000)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["async"] = serializers.BooleanField(default=False)  # a keyword in Python
        return fields

    def validate_format(self, value: str) -> str:
        return FORMAT_ALIASES[value]

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
        if sources[0] != "svg":
            raise serializers.ValidationError(
                {sources[0]: [f"'{sources[0]}' renders are not available on this server yet"]}
            )
        return attrs


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

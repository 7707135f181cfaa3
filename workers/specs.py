"""Render specs: the one typed request of each render kind, from the API to the engine.

A spec is a frozen dataclass. Each field, its default and its bounds are written here
once: the API's input serializers are generated from these fields
(`renders/serializers.py: spec_serializer_fields`), services build a spec once, the cache
key hashes its canonical form, the job row stores it as JSON and the engine receives it
whole. Plain Python: engines, services and tests all import it, nothing here imports
Django.

Adding a field to a kind: add it to the dataclass below (with `spec_field`: default,
bounds, choices) and to its test; the serializer, the cache key and the job row follow.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

# The largest side any spec accepts, whatever the plan (plans may allow less).
MAX_SIDE = 16384
RASTER_FORMATS = ("png", "jpeg", "webp", "pdf")
TEMPLATE_FORMATS = (*RASTER_FORMATS, "svg")
# Formats whose encoder takes a quality; for the others the spec keeps quality None, so
# a PNG asked with quality 80 and one asked with 90 share one cache entry.
LOSSY_FORMATS = ("jpeg", "webp")
SCHEMES = ("", "light", "dark")
MISSING = dataclasses.MISSING


class SpecError(ValueError):
    """A field is outside its bounds: `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def spec_field(
    default: Any = MISSING,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] | None = None,
    max_length: int | None = None,
    help: str = "",
) -> Any:
    """A spec field with its default and bounds (read by the serializer generator)."""
    metadata = {"min": min, "max": max, "choices": choices, "max_length": max_length}
    metadata["help"] = help
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


SpecT = TypeVar("SpecT", bound="RenderSpec")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


@dataclass(frozen=True, kw_only=True)
class RenderSpec:
    """What every render kind shares: the output's size, format and encoding."""

    kind: ClassVar[str] = ""
    queue: ClassVar[str] = "svg"
    # The fields a caller sets (the rest the service fills in): what the API accepts.
    caller_fields: ClassVar[tuple[str, ...]] = ("width", "height", "format", "quality", "dpr")

    width: int = spec_field(min=1, max=MAX_SIDE, help="CSS pixels")
    height: int = spec_field(min=1, max=MAX_SIDE, help="CSS pixels")
    format: str = spec_field("png", choices=RASTER_FORMATS)
    quality: int | None = spec_field(90, min=1, max=100, help="JPEG and WebP only")
    dpr: float = spec_field(1.0, min=1, max=3, help="device pixel ratio")

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            _check_bounds(field, value)
        # Canonical form: quality only where the encoder reads it; dpr rounded.
        if self.format not in LOSSY_FORMATS:
            object.__setattr__(self, "quality", None)
        object.__setattr__(self, "dpr", round(float(self.dpr), 2))

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form: what the job row stores and the cache key hashes.
        (Shallow: dataclasses.asdict deep-copies, a third of a cache hit's time.)"""
        values = {name: getattr(self, name) for name in _field_names(type(self))}
        return {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}

    @classmethod
    def from_json(cls: type[SpecT], data: dict[str, Any]) -> SpecT:
        """The spec a job row stores (fields the class no longer has are ignored)."""
        names = _field_names(cls)
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not MISSING}

    def replace(self: SpecT, **changes: Any) -> SpecT:
        return dataclasses.replace(self, **changes)


def _check_bounds(field: dataclasses.Field, value: Any) -> None:
    meta = field.metadata
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(field.name, "must be a finite number")
    if meta.get("min") is not None and value < meta["min"]:
        raise SpecError(field.name, f"must be ≥ {meta['min']}")
    if meta.get("max") is not None and value > meta["max"]:
        raise SpecError(field.name, f"must be ≤ {meta['max']}")
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise SpecError(field.name, f"must be one of {', '.join(map(repr, meta['choices']))}")
    if meta.get("max_length") is not None and len(value) > meta["max_length"]:
        raise SpecError(field.name, f"must be at most {meta['max_length']} characters")


@dataclass(frozen=True, kw_only=True)
class CanvasSpec(RenderSpec):
    """A render Kiln draws itself (SVG, templates, inline HTML): it has a background."""

    caller_fields: ClassVar[tuple[str, ...]] = (*RenderSpec.caller_fields, "background")

    background: str | None = spec_field(
        None, max_length=32, help="a CSS colour; None = transparent where the format allows"
    )


@dataclass(frozen=True, kw_only=True)
class SvgSpec(CanvasSpec):
    kind: ClassVar[str] = "svg"
    queue: ClassVar[str] = "svg"

    svg: str = spec_field(help="an SVG document")


@dataclass(frozen=True, kw_only=True)
class TemplateSpec(CanvasSpec):
    """A template at one version (`digest`), with validated params."""

    kind: ClassVar[str] = "template"
    queue: ClassVar[str] = "svg"
    caller_fields: ClassVar[tuple[str, ...]] = (*CanvasSpec.caller_fields, "font")

    format: str = spec_field("png", choices=TEMPLATE_FORMATS)
    template_id: int = spec_field()
    template: str = spec_field(max_length=80, help="the template's slug")
    digest: str = spec_field(help="the template version the render is made from")
    params: dict[str, Any] = spec_field({})  # noqa: RUF009 - a default_factory field
    font: str = spec_field("Inter", max_length=80)
    tag: str = spec_field("", max_length=80, help="a cache-key suffix (GET /template's digest)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.format == "svg":
            object.__setattr__(self, "dpr", 1.0)  # a vector document has no pixel ratio


@dataclass(frozen=True, kw_only=True)
class HtmlTemplateSpec(TemplateSpec):
    """A template whose engine is `html`: rendered in the browser pool."""

    kind: ClassVar[str] = "html_template"
    queue: ClassVar[str] = "browser"

    format: str = spec_field("png", choices=RASTER_FORMATS)


@dataclass(frozen=True, kw_only=True)
class TreeTemplateSpec(TemplateSpec):
    """A template whose engine is `tree`: a JSON node tree with Tailwind classes, laid
    out by a flexbox engine (workers/tree) and drawn as SVG on the svg pool."""

    kind: ClassVar[str] = "tree_template"
    queue: ClassVar[str] = "svg"


@dataclass(frozen=True, kw_only=True)
class HtmlSpec(CanvasSpec):
    kind: ClassVar[str] = "html"
    queue: ClassVar[str] = "browser"

    width: int = spec_field(1200, min=1, max=MAX_SIDE, help="CSS pixels")
    height: int = spec_field(630, min=1, max=MAX_SIDE, help="CSS pixels")
    html: str = spec_field(help="an HTML document")
    transparent: bool = spec_field(False, help="keep the alpha of a page without background")


@dataclass(frozen=True, kw_only=True)
class ScreenshotSpec(RenderSpec):
    """A page at `url` in a `width`×`height` viewport. Headers and cookies are not part
    of it: they are credentials, kept apart (`credentials` is their keyed digest)."""

    kind: ClassVar[str] = "screenshot"
    queue: ClassVar[str] = "browser"
    caller_fields: ClassVar[tuple[str, ...]] = (
        "url",
        *RenderSpec.caller_fields,
        "selector",
        "full_page",
        "wait_for",
        "delay_ms",
        "scheme",
        "digest",
        "fail_on_status",
    )

    url: str = spec_field(max_length=2048)
    width: int = spec_field(1440, min=1, max=MAX_SIDE, help="viewport, CSS pixels")
    height: int = spec_field(788, min=1, max=MAX_SIDE, help="viewport, CSS pixels")
    dpr: float = spec_field(2.0, min=1, max=3, help="device pixel ratio")
    format: str = spec_field("jpeg", choices=RASTER_FORMATS)
    quality: int | None = spec_field(80, min=1, max=100, help="JPEG and WebP only")
    selector: str = spec_field("", max_length=500, help="clip to this element")
    full_page: bool = spec_field(False)
    wait_for: str = spec_field("", max_length=500, help="a selector to wait for")
    delay_ms: int = spec_field(0, min=0, max=10_000)
    scheme: str = spec_field("", choices=SCHEMES, help="prefers-color-scheme")
    fail_on_status: bool = spec_field(
        True, help="a 4xx or 5xx answer from the target fails the job (502 naming it)"
    )
    digest: str = spec_field("", max_length=40, help="default: the ISO week")
    credentials: str = spec_field("", help="keyed digest of the headers and cookies")


SPEC_CLASSES: dict[str, type[RenderSpec]] = {
    cls.kind: cls
    for cls in (SvgSpec, TemplateSpec, HtmlTemplateSpec, TreeTemplateSpec, HtmlSpec, ScreenshotSpec)
}


def spec_from_json(kind: str, data: dict[str, Any]) -> RenderSpec:
    """The typed spec of a stored job."""
    return SPEC_CLASSES[kind].from_json(data)

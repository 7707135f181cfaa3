"""Template params: validated against the template's `param_schema`, the same way for JSON
bodies and for query strings (where every value arrives as text).

A schema maps a param name to {type, required, default, label, max_length, min, max};
types are string, string[], number, boolean, color, image, url. Audome-style element keys
(`title.text`, `hero.img`) name the param before the dot.
"""

from __future__ import annotations

import re
from typing import Any

from config.errors import KilnError

TYPES = ("string", "string[]", "number", "boolean", "color", "image", "url")
DEFAULT_MAX_LENGTH = 500
MAX_LIST_ITEMS = 20
ELEMENT_SUFFIX = {"image": "img", "url": "href", "color": "color"}
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def schema_check(schema: Any) -> dict[str, dict[str, Any]]:
    """A schema as stored: raise VALIDATION_FAILED for a malformed one."""
    if not isinstance(schema, dict):
        raise KilnError("VALIDATION_FAILED", "param_schema must be an object of name → spec")
    for name, spec in schema.items():
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,39}$", str(name)):
            raise KilnError(
                "VALIDATION_FAILED",
                f"param name '{name}' must be letters, digits and _, starting with a letter",
            )
        if not isinstance(spec, dict) or spec.get("type") not in TYPES:
            raise KilnError(
                "VALIDATION_FAILED",
                f"param '{name}' needs a type, one of {', '.join(TYPES)}",
                details={"param_schema": {name: ["bad spec"]}},
            )
    return schema


def dynamic_elements(schema: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """The Audome-style element keys a template accepts in `data`."""
    return [
        {
            "key": f"{name}.{ELEMENT_SUFFIX.get(spec['type'], 'text')}",
            "param": name,
            "type": spec["type"],
        }
        for name, spec in schema.items()
    ]


def params_from_data(data: dict[str, Any]) -> dict[str, Any]:
    """`{"title.text": "Hi", "hero.img": "https://…"}` → `{"title": "Hi", "hero": "https://…"}`."""
    return {str(key).split(".", 1)[0]: value for key, value in data.items()}


def usage_line(slug: str, schema: dict[str, dict[str, Any]]) -> str:
    required = [name for name, spec in schema.items() if spec.get("required")]
    example = ", ".join(f'"{name}": "…"' for name in required) or '"title": "…"'
    query = "&".join(f"{name}=…" for name in required) or "title=…"
    return (
        f'usage: POST /v1/images {{"template": "{slug}", "params": {{{example}}}}} '
        f"or GET /og/{slug}.png?{query}"
    )


def params_validate(
    *, slug: str, schema: dict[str, dict[str, Any]], given: dict[str, Any], from_query: bool
) -> dict[str, Any]:
    """The params a render uses: given values coerced and checked, defaults filled in.

    Unknown params are ignored (and so never split the cache)."""
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, spec in schema.items():
        if name not in given or given[name] in (None, ""):
            if spec.get("required") and spec.get("default") in (None, ""):
                raise KilnError(
                    "VALIDATION_FAILED",
                    f"missing required param '{name}' of template '{slug}'; "
                    f"{usage_line(slug, schema)}",
                    details={name: ["This param is required."]},
                )
            if "default" in spec:
                clean[name] = spec["default"]
            continue
        try:
            clean[name] = _coerce(name, spec, given[name], from_query=from_query)
        except ValueError as exc:
            errors[name] = [str(exc)]
    if errors:
        name = next(iter(errors))
        raise KilnError("VALIDATION_FAILED", f"{name}: {errors[name][0]}", details=errors)
    return clean


def _coerce(name: str, spec: dict[str, Any], value: Any, *, from_query: bool) -> Any:
    kind = spec["type"]
    if kind == "string":
        return _string(name, spec, value)
    if kind == "string[]":
        if from_query and isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list):
            raise ValueError("must be a list of strings")
        if len(value) > MAX_LIST_ITEMS:
            raise KilnError("TOO_LARGE", f"{name} has more than {MAX_LIST_ITEMS} items")
        return [_string(name, spec, item) for item in value]
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        if "min" in spec and number < spec["min"]:
            raise ValueError(f"must be ≥ {spec['min']}")
        if "max" in spec and number > spec["max"]:
            raise ValueError(f"must be ≤ {spec['max']}")
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if from_query and str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if from_query and str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("must be true or false")
    if kind == "color":
        match = _HEX.match(str(value).strip()) if isinstance(value, str) else None
        if not match:
            raise ValueError("must be a hex colour like #1a2b3c or #abc")
        digits = match.group(1).lower()
        return "#" + ("".join(c * 2 for c in digits) if len(digits) == 3 else digits)
    # image and url: http(s) URLs; the address is checked again when fetched
    text = _string(name, {"max_length": 2000}, value)
    if not re.match(r"^https?://[^\s/]+", text, re.IGNORECASE):
        raise ValueError("must be an http(s) URL")
    return text


def _string(name: str, spec: dict[str, Any], value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a string")
    text = str(value)
    limit = int(spec.get("max_length") or DEFAULT_MAX_LENGTH)
    if len(text) > limit:
        raise KilnError(
            "TOO_LARGE",
            f"{name} is {len(text)} characters; the limit is {limit}",
            details={name: [f"at most {limit} characters"]},
        )
    return text

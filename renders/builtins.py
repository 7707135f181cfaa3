"""The built-in gallery: templates shipped as files in renders/builtin_templates/.

Each template is `<slug>.svg.j2` (the Jinja2 source) beside `<slug>.json` (name,
description, param_schema, sample_params, default_size, default_font). They are loaded
into the database after every `migrate` (post_migrate) and by `manage.py kiln_templates`.
"""

from __future__ import annotations

import json
from pathlib import Path

from renders.models import Template

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_templates"


def builtin_files() -> list[tuple[str, Path, Path]]:
    return [
        (meta.name.removesuffix(".json"), meta, meta.with_name(meta.name[:-5] + ".svg.j2"))
        for meta in sorted(BUILTIN_DIR.glob("*.json"))
    ]


def builtin_templates_sync() -> int:
    """Upsert every built-in from its files; returns how many changed."""
    from renders.services.templates import template_digest

    changed = 0
    for slug, meta_path, source_path in builtin_files():
        meta = json.loads(meta_path.read_text())
        width, height = meta.get("default_size", [1200, 630])
        template = Template.objects.filter(project__isnull=True, slug=slug).first() or Template(
            slug=slug
        )
        template.engine = meta.get("engine", "svg")
        template.name = meta.get("name", slug)
        template.description = meta.get("description", "")
        template.source = source_path.read_text()
        template.param_schema = meta["param_schema"]
        template.sample_params = meta.get("sample_params", {})
        template.default_width, template.default_height = width, height
        template.default_font = meta.get("default_font", "Inter")
        digest = template_digest(template)
        if template.pk is None or digest != template.digest:
            template.digest = digest
            template.save()
            changed += 1
    return changed

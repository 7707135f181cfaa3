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


# The reference's shipped tree templates (hero, card, promo) are built in as tree-hero,
# tree-card and tree-promo: Kiln's own hero, card and promo are SVG templates.
TREE_DIR = BUILTIN_DIR / "tree"
TREE_PREFIX = "tree-"


def builtin_templates_sync() -> int:
    """Upsert every built-in from its files; returns how many changed."""
    from renders.services.templates import template_digest, tree_template_fields

    changed = 0
    for path in sorted(TREE_DIR.glob("*.json")):
        slug = TREE_PREFIX + path.stem
        template = Template.objects.filter(project__isnull=True, slug=slug).first() or Template(
            slug=slug
        )
        template.engine = Template.Engine.TREE
        template.source = path.read_text()
        for name, value in tree_template_fields(template.source).items():
            setattr(template, name, value)
        template.description = "The reference's shipped tree template, unchanged format"
        changed += _save_if_changed(template, template_digest(template))
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
        changed += _save_if_changed(template, template_digest(template))
    return changed


def _save_if_changed(template: Template, digest: str) -> int:
    if template.pk is not None and digest == template.digest:
        return 0
    template.digest = digest
    template.save()
    return 1

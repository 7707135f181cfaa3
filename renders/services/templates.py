"""Templates: create, update and delete through the API and the admin.

A template is saved only if it compiles, passes the sandbox's static checks and renders
its sample params. Two racing creates of one slug end in one template and one `409`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Project
from config.errors import KilnError
from renders.models import Template
from renders.params import params_validate, schema_check
from renders.selectors import templates_forget
from renders.services.kinds import font_check
from workers.rasterise import RenderInputError


def template_create(*, project: Project | None, fields: dict[str, Any]) -> Template:
    """A new template of `project`; 409 CONFLICT if the slug is taken (also when another
    request takes it at the same moment: the unique constraint decides)."""
    if project is None:
        raise KilnError(
            "VALIDATION_FAILED",
            "templates belong to a project: pass 'project' (or use a project-scoped key)",
            details={"project": ["required"]},
        )
    required_fields = ("slug", "source")
    if fields.get("engine", Template.Engine.SVG) != Template.Engine.TREE:
        required_fields += ("param_schema",)  # a tree template's JSON declares its params
    for required in required_fields:
        if required not in fields:
            raise KilnError(
                "VALIDATION_FAILED", f"'{required}' is required", details={required: ["required"]}
            )
    conflict = KilnError("CONFLICT", f"template '{fields['slug']}' exists; PATCH it instead")
    if Template.objects.filter(project=project, slug=fields["slug"]).exists():
        raise conflict
    try:
        with transaction.atomic():
            return template_save(template=Template(project=project), fields=fields)
    except IntegrityError:
        raise conflict from None


def template_update(*, template: Template, fields: dict[str, Any]) -> Template:
    if template.is_builtin:
        raise KilnError("FORBIDDEN", "built-in templates are read-only; create your own")
    fields = {k: v for k, v in fields.items() if k not in ("project", "slug")}
    return template_save(template=template, fields=fields)


def template_delete(*, template: Template) -> None:
    if template.is_builtin:
        raise KilnError("FORBIDDEN", "built-in templates are read-only; create your own")
    template.delete()
    transaction.on_commit(templates_forget)


def template_save(*, template: Template, fields: dict[str, Any]) -> Template:
    """Create or update a template: it must compile, pass the sandbox's static checks and
    render its sample params, or nothing is saved. A `tree` template's params, samples
    and default size come from its JSON (the reference format), unless given."""
    from workers.templating import TemplateSourceError
    from workers.tree import TreeTemplateError

    for name, value in fields.items():
        setattr(template, name, value)
    try:
        if template.engine == Template.Engine.TREE:
            for name, value in tree_template_fields(template.source).items():
                if name not in fields or (name == "param_schema" and not fields[name]):
                    setattr(template, name, value)
        schema_check(template.param_schema)
        font_check(template.default_font)
        document = template_sample_document(template=template)
        if template.engine != Template.Engine.HTML:
            from workers.rasterise import inspect_svg

            inspect_svg(document.encode())  # html output is guarded in the browser instead
    except TemplateSourceError as exc:
        raise KilnError(
            "VALIDATION_FAILED",
            f"template source: {exc}",
            details={"source": [str(exc)], "line": exc.line},
        ) from None
    except TreeTemplateError as exc:
        raise KilnError(
            "VALIDATION_FAILED",
            f"template source: {exc.message}",
            details={"source": [exc.message], "path": exc.path},
        ) from None
    except RenderInputError as exc:
        raise KilnError(
            "VALIDATION_FAILED",
            f"template output is not safe SVG: {exc.message}",
            details={"source": [exc.message]},
        ) from None
    template.digest = template_digest(template)
    template.save()
    transaction.on_commit(templates_forget)
    return template


def tree_template_fields(source: str) -> dict[str, Any]:
    """What a reference-format tree template says about itself, as Template fields: every
    `{{name}}` is a string param (`required` ones required, `defaults` as defaults),
    `sampleParams` the samples, `defaultSize` the default size. TreeTemplateError when
    the JSON is not a valid tree template."""
    from workers.tree import parse_tree_template

    tree = parse_tree_template(source)
    schema = {}
    for name in tree.params():
        entry: dict[str, Any] = {"type": "string", "required": name in tree.required}
        if name in tree.defaults:
            entry["default"] = tree.defaults[name]
        schema[name] = entry
    return {
        "param_schema": schema,
        "sample_params": dict(tree.sample_params),
        "default_width": tree.default_width,
        "default_height": tree.default_height,
        "name": tree.name,
    }


def template_document(
    *,
    template: Template,
    params: dict[str, Any],
    width: int,
    height: int,
    family: str,
    fetch_image: Callable[[str], tuple[str, bytes]] | None = None,
) -> str:
    """A template's document for validated params: SVG (svg and tree engines) or HTML
    (html). TemplateSourceError or TreeTemplateError when the source fails."""
    if template.engine == Template.Engine.TREE:
        from workers.tree import render_tree_svg

        return render_tree_svg(
            _parsed_tree(template.source),
            {k: str(v) for k, v in params.items()},
            width=width,
            height=height,
            family=family,
            fetch_image=fetch_image,
        )
    from workers.templating import TemplateContext, render_template_svg

    context = TemplateContext(width=width, height=height, family=family, fetch_image=fetch_image)
    return render_template_svg(template.source, params, context)


@functools.lru_cache(maxsize=256)
def _parsed_tree(source: str):
    from workers.tree import parse_tree_template

    return parse_tree_template(source)


def template_sample_document(*, template: Template) -> str:
    """The template's document for its sample params at its default size (what saving
    checks and the admin previews). KilnError for bad sample params, TemplateSourceError
    or TreeTemplateError when the source fails."""
    sample = params_validate(
        slug=template.slug,
        schema=template.param_schema,
        given={**template.sample_params},
        from_query=False,
    )
    return template_document(
        template=template,
        params=sample,
        width=template.default_width,
        height=template.default_height,
        family=template.default_font,
    )


def template_digest(template: Template) -> str:
    from workers.templating import source_digest

    return source_digest(
        template.engine,
        template.source,
        sorted(template.param_schema.items()),
        template.default_width,
        template.default_height,
        template.default_font,
    )

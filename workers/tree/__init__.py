"""The `tree` engine: Satori-style JSON node trees with Tailwind classes → SVG, without a
browser. Plain Python (no Django), for the rasteriser (workers/rasterise.py) to turn
into PNG.

    template = parse_tree_template(json_text)      # once, when the template is saved
    svg = render_tree_svg(template, {"title": "Hello"}, width=1200, height=630,
                          fetch_image=guarded_fetch)  # per request

The modules, in the order a render runs them:
    template.py  the JSON format, checked on save (TreeTemplate, TreeTemplateError)
    tailwind.py  the one table: Tailwind class → inline style
    css.py       style properties and values (parsing, shorthands)
    resolve.py   params, `when`, defaults, the cascade and inheritance, images
    layout.py    flexbox with Taffy (stretchable); text measured by workers/text.py
    draw.py      the laid-out tree as SVG

Output is deterministic: the same template, params, size, family and image bytes give
the same SVG bytes.
"""

from __future__ import annotations

from workers.tree.draw import draw_svg
from workers.tree.layout import lay_out
from workers.tree.resolve import Context, Element, FetchImage, param_values, resolve, root_font
from workers.tree.template import TreeNode, TreeTemplate, TreeTemplateError, parse_tree_template

__all__ = [
    "TreeNode",
    "TreeTemplate",
    "TreeTemplateError",
    "layout_tree",
    "parse_tree_template",
    "render_tree_svg",
]

MAX_CANVAS = 4096


def layout_tree(
    template: TreeTemplate,
    params: dict[str, str],
    *,
    width: int,
    height: int,
    family: str = "Inter",
    fetch_image: FetchImage | None = None,
) -> Element | None:
    """The resolved, laid-out element tree (None when the root is dropped by `when` or
    `hidden`): each element's `box`, `padding_box` and `content_box` in canvas px."""
    from workers.fonts import available_families

    if not (1 <= int(width) <= MAX_CANVAS and 1 <= int(height) <= MAX_CANVAS):
        raise TreeTemplateError(f"the canvas must be 1-{MAX_CANVAS} px on each side")
    families = frozenset(available_families())
    if family not in families:
        raise TreeTemplateError(f"unknown font family '{family}'")
    context = Context(
        values=param_values(template, params),
        width=int(width),
        height=int(height),
        family=family,
        families=families,
        fetch_image=fetch_image,
    )
    root = resolve(template.tree, root_font(family), context)
    if root is not None:
        lay_out(root, context.width, context.height)
    return root


def render_tree_svg(
    template: TreeTemplate,
    params: dict[str, str],
    *,
    width: int,
    height: int,
    family: str = "Inter",
    fetch_image: FetchImage | None = None,
) -> str:
    """The template drawn with `params` as an SVG document `width` × `height` px.

    `family` is the default font (what `font-sans` means). `fetch_image(url)` returns
    `(content_type, bytes)` for an img `src`; without it, or when it fails, the image's
    box stays empty. Raises TreeTemplateError for a missing required param, a class or
    style value that a param made invalid, or an unknown family.
    """
    root = layout_tree(
        template, params, width=width, height=height, family=family, fetch_image=fetch_image
    )
    if root is None:
        return _empty_svg(int(width), int(height))
    return draw_svg(root, int(width), int(height))


def _empty_svg(width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"></svg>'
    )

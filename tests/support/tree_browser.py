"""A tree template as the browser sees it: the same node tree as HTML styled by
Tailwind v3's real CSS, laid out and painted by Chromium, for
tests/workers/test_tree_vs_browser.py to hold the `tree` engine against.

- `tailwind_css(classes)`: the stylesheet Tailwind v3 itself generates for those
  classes (tools/tailwind: `install` runs `npm ci` once, `css.js` runs Tailwind's
  PostCSS plugin offline). Preflight, Tailwind's reset, is off: `BASE_CSS` sets
  Satori's defaults instead.
- `tree_html(template, params, ...)`: one element per node (`div`/`span`/`p`/`h1`-`h6`/
  `img`, `class` = the node's `tw`, `style` = its `style` object), params, `when` and
  defaults applied as the engine applies them, each element marked with its node's path
  (`data-path`) so boxes can be paired.
- `BrowserBoxes`: one Chromium (Debian's, through Playwright; no network at all) that
  lays a page out and returns every node's border box and content box, and the page's
  pixels.
"""

from __future__ import annotations

import functools
import html
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from workers.tree import TreeNode, TreeTemplate
from workers.tree.resolve import interpolate, param_values

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "tailwind"
Box = tuple[float, float, float, float]

# Satori's defaults (what workers/tree does to every node), as CSS. Every rule is under
# `:where()` (specificity 0), so any Tailwind class and the node's inline style win, as
# in the engine (resolve.py: preset, then classes, then style). The HTML presets of `p`
# and `h1`-`h6` (margins, size, bold) are Chromium's own user-agent stylesheet, which
# the engine's presets copy, so nothing here sets margins or font sizes.
BASE_CSS = """
html, body { margin: 0; padding: 0; background: #ffffff; }
/* Satori's root (layout.py lay_out): a box the size of the canvas, flex row + wrap,
   items at the start, overflow hidden; the tree hangs in it. Its font is the engine's
   initial style (resolve.py root_font): 16 px, weight 400, line height 1.2, black. */
#canvas {
  position: relative; display: flex; flex-direction: row; flex-wrap: wrap;
  align-items: flex-start; justify-content: flex-start; overflow: hidden;
  font-family: "Inter"; font-size: 16px; font-weight: 400; font-style: normal;
  line-height: 1.2; letter-spacing: 0; color: #000000; text-align: start;
}
/* Every node is a flex container (row, no wrap, items stretch, shrink 1: CSS's own
   initial values for the rest) and `position: relative` unless absolute, so an
   absolute node is placed against its parent (layout.py). Sizes are border-box (Taffy,
   like Yoga). A border is solid in the text colour (resolve.py: borderColor defaults to
   the colour); `border-2` and friends set only the width, as in Tailwind's Preflight. */
:where(#canvas *) {
  display: flex; flex-direction: row; flex-wrap: nowrap; position: relative;
  box-sizing: border-box; border-width: 0; border-style: solid; border-color: currentColor;
}
/* A text leaf: the engine lays its text out across the node's whole content box,
   aligned by `text-align`, and moves the text block only by the node's own
   justify/items (draw.py `_text`). CSS's line boxes spanning the content box are a
   block container's; a leaf whose classes say `flex` (or `line-clamp-*`, which is
   `display: -webkit-box` in Tailwind) keeps what its classes say. */
:where([data-leaf]) { display: block; }
/* An image keeps its aspect ratio as a replaced element does (layout.py measures it by
   its intrinsic size); object-fit comes from its classes. */
:where(#canvas img) { display: flex; }
"""

# Every node's border box and content box relative to the canvas, and a text leaf's
# line count (for the report only: a clamped leaf still has its hidden lines here).
_MEASURE_JS = """
() => {
  const canvas = document.getElementById("canvas").getBoundingClientRect();
  const out = {};
  for (const el of document.querySelectorAll("[data-path]")) {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (cs.display === "none") continue;
    const n = (p) => parseFloat(cs.getPropertyValue(p)) || 0;
    const x = r.left - canvas.left, y = r.top - canvas.top;
    const bt = n("border-top-width"), br = n("border-right-width");
    const bb = n("border-bottom-width"), bl = n("border-left-width");
    const pt = n("padding-top"), pr = n("padding-right");
    const pb = n("padding-bottom"), pl = n("padding-left");
    out[el.dataset.path] = {
      box: [x, y, r.width, r.height],
      content_box: [x + bl + pl, y + bt + pt, r.width - bl - br - pl - pr,
                    r.height - bt - bb - pt - pb],
      lines: el.hasAttribute("data-leaf") ? lineCount(el) : 0,
    };
  }
  return out;

  function lineCount(el) {  // distinct line tops of the leaf's text
    const range = document.createRange();
    range.selectNodeContents(el);
    const tops = new Set();
    for (const rect of range.getClientRects()) if (rect.width > 0) tops.add(Math.round(rect.top));
    return tops.size;
  }
}
"""

# Properties whose numbers are unitless in a style object (React's list, the subset that
# applies here); any other number is px.
_UNITLESS = {"flex", "flexGrow", "flexShrink", "fontWeight", "lineHeight", "opacity", "zIndex"}
_UPPER = re.compile(r"([A-Z])")


def install_tool(folder: str = ".") -> Path:
    """`npm ci` in tools/tailwind/<folder> unless its lock file is already installed."""
    subprocess.run([str(TOOLS / "install"), folder], check=True, timeout=600)
    return TOOLS / folder


@functools.lru_cache(maxsize=8)
def _tailwind_css(classes: tuple[str, ...]) -> str:
    install_tool()
    done = subprocess.run(
        ["node", str(TOOLS / "css.js")],
        input=json.dumps(list(classes)),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def tailwind_css(classes) -> str:
    """Tailwind v3's own CSS for `classes` (base variables + utilities, no Preflight)."""
    return _tailwind_css(tuple(sorted(set(classes))))


def _visible(node: TreeNode, values: dict[str, str]) -> bool:
    return not (node.when and values.get(node.when, "") == "")


def tree_classes(template: TreeTemplate, params: dict[str, str]) -> set[str]:
    values = param_values(template, params)
    return {name for node in template.tree.walk() for name in interpolate(node.tw, values).split()}


def _css_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, int | float) and name not in _UNITLESS:
        return f"{value}px"
    return str(value)


def _node_html(node: TreeNode, values: dict[str, str]) -> str:
    if not _visible(node, values):
        return ""
    attrs = [f'data-path="{html.escape(node.path)}"']
    tw = interpolate(node.tw, values).strip()
    if tw:
        attrs.append(f'class="{html.escape(tw)}"')
    declarations = []
    for name, value in node.style:
        if isinstance(value, str):
            value = interpolate(value, values)
            if not value.strip():
                continue  # an empty param leaves the property unset (resolve.py)
        prop = name if name.startswith("--") else _UPPER.sub(r"-\1", name).lower()
        declarations.append(f"{prop}: {_css_value(name, value)}")
    if declarations:
        attrs.append(f'style="{html.escape("; ".join(declarations))}"')
    if node.type == "img":
        src = interpolate(node.src or "", values).strip()
        return f'<img {" ".join(attrs)} src="{html.escape(src)}" alt="">'
    if node.text is not None:
        attrs.append("data-leaf")
        text = html.escape(interpolate(node.text, values))
        return f"<{node.type} {' '.join(attrs)}>{text}</{node.type}>"
    inner = "".join(_node_html(child, values) for child in node.children)
    return f"<{node.type} {' '.join(attrs)}>{inner}</{node.type}>"


def tree_html(
    template: TreeTemplate,
    params: dict[str, str],
    *,
    width: int,
    height: int,
    css: str,
    family: str = "Inter",
) -> str:
    """The whole page: base CSS, Tailwind's CSS, the canvas and the tree in it."""
    values = param_values(template, params)
    body = _node_html(template.tree, values)
    canvas = f"width: {width}px; height: {height}px; font-family: {json.dumps(family)}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<style>{BASE_CSS}</style><style>{css}</style></head>"
        f"<body><div id=\"canvas\" style='{canvas}'>{body}</div></body></html>"
    )


class BrowserBoxes:
    """One headless Chromium for measuring pages; `close()` when done. Debian's Chromium
    with the browser pool's launch arguments (its own network stack a dead end), and
    every request of a page refused: pages are set with `set_content` and need nothing
    but data: URLs and system fonts."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        from workers.browser.process import LAUNCH_ARGS, find_chromium

        executable = find_chromium()
        if executable is None:
            raise RuntimeError("no Chromium on PATH (bin/system-deps installs Debian's)")
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=executable,
                args=list(LAUNCH_ARGS),
            )
        except BaseException:
            self._playwright.stop()
            raise

    def render(self, page_html: str, width: int, height: int) -> tuple[dict[str, dict], bytes]:
        """Every node's boxes ({path: {"box", "content_box", "lines"}}) and the page's
        `width` × `height` PNG at 1 device px per CSS px."""
        context = self._browser.new_context(
            viewport={"width": width, "height": height},
            device_scale_factor=1,
            java_script_enabled=True,
        )
        try:
            # Nothing may leave the page: every request but the document's data is refused.
            context.route("**/*", lambda route: route.abort())
            page = context.new_page()
            page.set_content(page_html, wait_until="load")
            page.evaluate("document.fonts.ready.then(() => true)")
            boxes = page.evaluate(_MEASURE_JS)
            png = page.screenshot(clip={"x": 0, "y": 0, "width": width, "height": height})
        finally:
            context.close()
        return boxes, png

    def close(self) -> None:
        try:
            self._browser.close()
        finally:
            self._playwright.stop()

"""Tree templates: the JSON a user writes (a Satori-style node tree with Tailwind `tw`
classes), read and checked once, when it is saved. Plain Python.

    {"name": "hero", "defaultSize": {"w": 1200, "h": 630}, "required": ["title"],
     "sampleParams": {...}, "defaults": {"eyebrow": "My Site"},
     "tree": {"type": "div", "tw": "flex flex-col ...", "style": {...}, "children": [
         {"type": "div", "tw": "text-7xl font-bold", "text": "{{title}}"},
         {"type": "img", "src": "{{logo}}", "when": "logo", "tw": "w-16 h-16"}]}}

A node is `type` (div, span, p, img, h1-h6) with `tw`, `style`, `when` and either
`text` (a leaf), `src` (img only) or `children`. `{{name}}` may appear in `text`, `src`,
`tw` and `style` string values. Everything that does not depend on params is checked
here: every static class must be in the table, every style property supported and every
static value readable, so a saved template fails only on what a request brings.
`TreeTemplateError.path` names the node (`tree.children[1]`).

Satori's rule that a node with more than one child must say `display: flex` (or
`none`) is checked here on the template's children, even those a `when` may drop:
Satori fails such a template only for the requests that keep both, we fail it on save.
Unknown keys in a node are errors (a typo such as `chidren` would otherwise drop
content silently); unknown top-level keys (`id`, `updatedAt`, ...) are metadata, ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from workers.tree.css import parse_declaration, property_name
from workers.tree.tailwind import tailwind_style

NODE_TYPES = frozenset({"div", "span", "p", "img", "h1", "h2", "h3", "h4", "h5", "h6"})
NODE_KEYS = frozenset({"type", "tw", "style", "text", "src", "when", "children"})
MAX_DEPTH = 32
MAX_NODES = 500
MAX_SOURCE_CHARS = 256_000
MAX_SIZE = 4096
PARAM = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class TreeTemplateError(Exception):
    """The template cannot be used as written (or with these params); `path` names the
    node (`tree.children[1]`), "" for the template as a whole."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class TreeNode:
    type: str
    path: str
    tw: str = ""
    style: tuple[tuple[str, Any], ...] = ()  # (property as written, value)
    text: str | None = None
    src: str | None = None
    when: str | None = None
    children: tuple[TreeNode, ...] = ()

    def walk(self) -> Iterator[TreeNode]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class TreeTemplate:
    name: str
    default_width: int
    default_height: int
    required: tuple[str, ...]
    sample_params: dict[str, str] = field(hash=False)
    defaults: dict[str, str] = field(hash=False)
    tree: TreeNode = field(hash=False)

    def params(self) -> tuple[str, ...]:
        """Every param the template uses, in order of first use (tree order, then
        required and defaults not used in the tree): what a param schema must cover."""
        names: dict[str, None] = {}
        for node in self.tree.walk():
            if node.when:
                names[node.when] = None
            for value in (node.text, node.src, node.tw, *(str(v) for _, v in node.style)):
                for name in PARAM.findall(value or ""):
                    names[name] = None
        for name in (*self.required, *self.defaults):
            names[name] = None
        return tuple(names)


def _class_style(name: str, path: str) -> dict[str, str]:
    style = tailwind_style(name)
    if style is None:
        raise TreeTemplateError(f"unknown Tailwind class '{name}'", path)
    return style


def check_class(name: str, path: str) -> tuple[tuple[str, Any], ...]:
    """The parsed declarations of one class (TreeTemplateError if it is unknown)."""
    declarations: list[tuple[str, Any]] = []
    for prop, value in _class_style(name, path).items():
        try:
            declarations += parse_declaration(prop, value)
        except ValueError as exc:
            raise TreeTemplateError(f"class '{name}': {exc}", path) from None
    return tuple(declarations)


def _string(node: dict, key: str, path: str) -> str | None:
    value = node.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TreeTemplateError(f"'{key}' must be a string", path)
    return str(value)


def _declares_display(tw: str, style: tuple[tuple[str, Any], ...]) -> bool:
    """Does the node set `display` (or may a param set it)?"""
    if "{{" in tw or any("{{" in str(value) for _, value in style):
        return True  # decided by a param: the layout treats every node as flex anyway
    if any("display" in (tailwind_style(name) or {}) for name in tw.split()):
        return True
    return any(property_name(name) == "display" for name, _ in style)


class _Parser:
    def __init__(self) -> None:
        self.count = 0

    def node(self, raw: Any, path: str, depth: int) -> TreeNode:
        if not isinstance(raw, dict):
            raise TreeTemplateError("a node must be a JSON object", path)
        self.count += 1
        if self.count > MAX_NODES:
            raise TreeTemplateError(f"too many nodes (at most {MAX_NODES})", path)
        if depth > MAX_DEPTH:
            raise TreeTemplateError(f"nested too deep (at most {MAX_DEPTH} levels)", path)
        unknown = sorted(set(raw) - NODE_KEYS)
        if unknown:
            raise TreeTemplateError(f"unknown key '{unknown[0]}' in a node", path)
        kind = raw.get("type")
        if kind not in NODE_TYPES:
            allowed = ", ".join(sorted(NODE_TYPES))
            raise TreeTemplateError(f"unknown node type {kind!r} (one of {allowed})", path)

        tw = _string(raw, "tw", path) or ""
        for name in tw.split():
            if "{{" not in name:
                check_class(name, path)
        style = self.style(raw.get("style"), path)
        text, src = _string(raw, "text", path), _string(raw, "src", path)
        when = _string(raw, "when", path)
        if when is not None:
            when = when.strip().removeprefix("{{").removesuffix("}}").strip()
            if not PARAM_NAME.match(when):
                raise TreeTemplateError(f"'when' must name a param, not {when!r}", path)
        children_raw = raw.get("children", [])
        if not isinstance(children_raw, list):
            raise TreeTemplateError("'children' must be a list of nodes", path)

        if kind == "img":
            if text is not None or children_raw:
                raise TreeTemplateError("an img has no text or children", path)
            if not src:
                raise TreeTemplateError("an img needs a 'src'", path)
        elif src is not None:
            raise TreeTemplateError(f"'src' is only for img nodes, not {kind}", path)
        if text is not None and children_raw:
            raise TreeTemplateError("a node has either 'text' or 'children', not both", path)
        if len(children_raw) > 1 and not _declares_display(tw, style):
            raise TreeTemplateError(
                "a node with more than one child needs 'flex' (or 'hidden'), as in Satori",
                path,
            )
        children = tuple(
            self.node(child, f"{path}.children[{i}]", depth + 1)
            for i, child in enumerate(children_raw)
        )
        return TreeNode(kind, path, tw, style, text, src, when, children)

    def style(self, raw: Any, path: str) -> tuple[tuple[str, Any], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            raise TreeTemplateError("'style' must be an object of CSS properties", path)
        for name, value in raw.items():
            try:
                if isinstance(value, str) and "{{" in value:
                    property_name(name)  # the value comes from a param: read at render
                else:
                    parse_declaration(name, value)
            except ValueError as exc:
                raise TreeTemplateError(f"style: {exc}", path) from None
        return tuple(raw.items())


def _size(raw: Any) -> tuple[int, int]:
    if raw is None:
        return 1200, 630
    if not isinstance(raw, dict):
        raise TreeTemplateError('\'defaultSize\' must be {"w": …, "h": …}', "defaultSize")
    sizes = []
    for key in ("w", "h"):
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
            raise TreeTemplateError(f"'{key}' must be a whole number 1-{MAX_SIZE}", "defaultSize")
        sizes.append(value)
    return sizes[0], sizes[1]


def _string_map(raw: Any, key: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TreeTemplateError(f"'{key}' must be an object of param values", key)
    result = {}
    for name, value in raw.items():
        if not PARAM_NAME.match(str(name)):
            raise TreeTemplateError(f"{name!r} is not a param name", key)
        if value is None or isinstance(value, dict | list):
            raise TreeTemplateError(f"the value of {name!r} must be a string", key)
        result[str(name)] = str(value).lower() if isinstance(value, bool) else str(value)
    return result


def parse_tree_template(source: str | dict) -> TreeTemplate:
    """Read and check a tree template (JSON text or the decoded object)."""
    if isinstance(source, str | bytes):
        if len(source) > MAX_SOURCE_CHARS:
            raise TreeTemplateError(f"the template is too large (at most {MAX_SOURCE_CHARS} chars)")
        try:
            source = json.loads(source)
        except (ValueError, RecursionError) as exc:
            raise TreeTemplateError(f"not valid JSON: {exc}") from None
    if not isinstance(source, dict):
        raise TreeTemplateError("a template is a JSON object")
    name = source.get("name", "")
    if not isinstance(name, str):
        raise TreeTemplateError("'name' must be a string", "name")
    width, height = _size(source.get("defaultSize"))
    required = source.get("required", [])
    if not isinstance(required, list) or not all(
        isinstance(r, str) and PARAM_NAME.match(r) for r in required
    ):
        raise TreeTemplateError("'required' must be a list of param names", "required")
    if "tree" not in source:
        raise TreeTemplateError("the template has no 'tree'", "tree")
    tree = _Parser().node(source["tree"], "tree", 1)
    return TreeTemplate(
        name=name,
        default_width=width,
        default_height=height,
        required=tuple(dict.fromkeys(required)),
        sample_params=_string_map(source.get("sampleParams"), "sampleParams"),
        defaults=_string_map(source.get("defaults"), "defaults"),
        tree=tree,
    )

"""Tree templates as saved: the JSON format, what is refused (and where), the params a
template uses. No layout, no drawing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.tree_reference import REFERENCE_HERO
from workers.tree import TreeTemplateError, parse_tree_template

BUILTIN = Path(__file__).resolve().parents[2] / "renders" / "builtin_templates" / "tree"


def tree(node: dict, **extra) -> dict:
    return {"name": "t", "tree": node, **extra}


def error_of(source) -> TreeTemplateError:
    with pytest.raises(TreeTemplateError) as caught:
        parse_tree_template(source)
    return caught.value


def test_the_reference_hero_is_read_as_written():
    template = parse_tree_template(json.dumps(REFERENCE_HERO))

    assert template.name == "hero"
    assert (template.default_width, template.default_height) == (1200, 630)
    assert template.required == ("title",)
    assert template.sample_params == {"title": "Hello", "subtitle": "World"}
    assert template.defaults == {"eyebrow": "My Site"}
    assert template.tree.type == "div"
    assert [c.text for c in template.tree.children] == ["{{eyebrow}}", "{{title}}", "{{subtitle}}"]
    assert template.tree.children[0].when == "eyebrow"
    assert template.tree.children[1].path == "tree.children[1]"


def test_a_decoded_object_is_accepted_as_well_as_text():
    assert parse_tree_template(REFERENCE_HERO) == parse_tree_template(json.dumps(REFERENCE_HERO))


@pytest.mark.parametrize("name", ["hero", "card", "promo"])
def test_the_shipped_templates_parse(name):
    template = parse_tree_template((BUILTIN / f"{name}.json").read_text())

    assert template.name == name
    assert (template.default_width, template.default_height) == (1200, 630)
    assert template.required == ("title",)
    assert "title" in template.params()


def test_params_lists_every_name_in_order_of_first_use():
    template = parse_tree_template(
        tree(
            {
                "type": "div",
                "tw": "flex bg-{{tone}}-500",
                "style": {"color": "{{ink}}"},
                "children": [
                    {"type": "img", "src": "{{logo}}", "when": "logo"},
                    {"type": "p", "text": "{{title}} by {{author}}", "when": "show"},
                ],
            },
            required=["title", "extra"],
            defaults={"author": "me", "unused": "x"},
        )
    )

    assert template.params() == (
        "tone",
        "ink",
        "logo",
        "show",
        "title",
        "author",
        "extra",
        "unused",
    )


def test_defaults_and_sizes_are_optional():
    template = parse_tree_template(tree({"type": "div", "text": "hi"}))

    assert (template.default_width, template.default_height) == (1200, 630)
    assert template.required == () and template.defaults == {} and template.params() == ()


def test_unknown_top_level_keys_are_metadata():
    template = parse_tree_template({**REFERENCE_HERO, "id": 7, "updatedAt": "2025-01-01"})
    assert template.name == "hero"


# --- what is refused, and where --------------------------------------------------------


def test_bad_json_says_where():
    error = error_of('{"tree": {"type": "div",}')
    assert "not valid JSON" in error.message and "column" in error.message


def test_an_unknown_node_type_names_the_node():
    error = error_of(
        tree({"type": "div", "tw": "flex", "children": [{"type": "p"}, {"type": "section"}]})
    )
    assert error.path == "tree.children[1]"
    assert "'section'" in error.message
    assert str(error).startswith("tree.children[1]: ")


def test_an_unknown_tailwind_class_is_named():
    error = error_of(
        tree({"type": "div", "children": [{"type": "p", "tw": "p-4 bg-grape-500", "text": "x"}]})
    )
    assert error.path == "tree.children[0]"
    assert error.message == "unknown Tailwind class 'bg-grape-500'"


@pytest.mark.parametrize("name", ["md:p-4", "hover:bg-black", "grid", "space-x-4", "z-10"])
def test_variants_and_classes_outside_the_subset_are_refused(name):
    assert f"'{name}'" in error_of(tree({"type": "div", "tw": name})).message


def test_an_unsupported_style_property_is_named():
    error = error_of(tree({"type": "div", "style": {"transform": "rotate(3deg)"}}))
    assert error.path == "tree"
    assert "unsupported style property 'transform'" in error.message


def test_an_unreadable_static_style_value_is_refused_on_save():
    error = error_of(tree({"type": "div", "style": {"backgroundColor": "blurple"}}))
    assert "backgroundColor" in error.message and "not a colour" in error.message


def test_a_style_value_from_a_param_is_checked_at_render_not_on_save():
    template = parse_tree_template(
        tree({"type": "div", "style": {"backgroundColor": "{{bg}}", "border-width": "2px"}})
    )
    assert dict(template.tree.style)["backgroundColor"] == "{{bg}}"


def test_text_on_an_img_and_src_on_a_div_are_refused():
    assert (
        "img has no text"
        in error_of(tree({"type": "img", "src": "https://x/a.png", "text": "hi"})).message
    )
    assert "'src' is only for img" in error_of(tree({"type": "div", "src": "https://x"})).message
    assert "needs a 'src'" in error_of(tree({"type": "img"})).message
    assert (
        "either 'text' or 'children'"
        in error_of(tree({"type": "div", "text": "a", "children": [{"type": "p"}]})).message
    )


def test_an_unknown_key_in_a_node_is_refused():
    error = error_of(tree({"type": "div", "chidren": []}))
    assert error.message == "unknown key 'chidren' in a node"


def test_more_than_one_child_needs_flex_as_in_satori():
    error = error_of(tree({"type": "div", "children": [{"type": "p"}, {"type": "p"}]}))
    assert error.path == "tree" and "flex" in error.message
    parse_tree_template(tree({"type": "div", "tw": "hidden", "children": [{}] * 0}))
    parse_tree_template(
        tree({"type": "div", "style": {"display": "flex"}, "children": [{"type": "p"}] * 2})
    )


def test_depth_is_bounded():
    node: dict = {"type": "div", "text": "leaf"}
    for _ in range(32):
        node = {"type": "div", "children": [node]}
    error = error_of(tree(node))
    assert "too deep" in error.message
    assert error.path.count("children[0]") == 32


def test_node_count_is_bounded():
    children = [{"type": "div"} for _ in range(500)]
    error = error_of(tree({"type": "div", "tw": "flex", "children": children}))
    assert "too many nodes" in error.message
    assert error.path == "tree.children[499]"


@pytest.mark.parametrize(
    ("source", "path", "fragment"),
    [
        (tree({"type": "div"}, defaultSize={"w": 0, "h": 630}), "defaultSize", "'w'"),
        (tree({"type": "div"}, required="title"), "required", "list"),
        (tree({"type": "div"}, defaults={"a b": "x"}), "defaults", "param name"),
        ({"name": "t"}, "tree", "no 'tree'"),
        (tree({"type": "div", "when": "not a name"}), "tree", "'when'"),
        (tree({"type": "div", "style": "color: red"}), "tree", "'style' must be an object"),
        (tree({"type": "div", "children": {"type": "p"}}), "tree", "'children' must be a list"),
        ([1, 2], "", "JSON object"),
    ],
)
def test_malformed_fields_are_refused_with_their_place(source, path, fragment):
    error = error_of(source)
    assert error.path == path
    assert fragment in error.message


def test_a_when_may_be_written_with_braces():
    template = parse_tree_template(tree({"type": "div", "when": "{{ logo }}"}))
    assert template.tree.when == "logo"

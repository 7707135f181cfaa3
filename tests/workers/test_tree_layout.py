"""Layout of tree templates with Taffy: boxes of flex layouts, and text measured by the
text engine (wrapping, right-to-left, line clamps, truncation)."""

from __future__ import annotations

import re

import pytest

from workers.text import ELLIPSIS
from workers.tree import layout_tree, parse_tree_template
from workers.tree.layout import text_box


def laid_out(node: dict, params: dict | None = None, width: int = 1000, height: int = 500):
    template = parse_tree_template({"tree": node})
    root = layout_tree(template, params or {}, width=width, height=height)
    return {element.path: element for element in root.walk()}


def box(elements, path: str) -> tuple[float, ...]:
    return tuple(round(v, 2) for v in elements[path].box)


def block(tw: str = "", **extra) -> dict:
    return {"type": "div", "tw": tw, **extra}


ROOT = "flex w-full h-full"


def test_a_row_places_children_side_by_side_after_padding():
    elements = laid_out(
        block(f"{ROOT} p-10 gap-4", children=[block("w-20 h-10"), block("w-32 h-16")])
    )
    assert box(elements, "tree") == (0, 0, 1000, 500)
    assert elements["tree"].content_box == (40, 40, 920, 420)
    assert box(elements, "tree.children[0]") == (40, 40, 80, 40)
    assert box(elements, "tree.children[1]") == (136, 40, 128, 64)


def test_a_column_stretches_children_across():
    elements = laid_out(
        block(f"{ROOT} flex-col px-20 py-8", children=[block("h-10"), block("h-12 mt-6")])
    )
    assert box(elements, "tree.children[0]") == (80, 32, 840, 40)
    assert box(elements, "tree.children[1]") == (80, 96, 840, 48)


@pytest.mark.parametrize(
    ("classes", "first_x", "second_x"),
    [
        ("justify-start", 0, 100),
        ("justify-center", 350, 450),
        ("justify-end", 700, 800),
        ("justify-between", 0, 800),
        ("justify-around", 175, 625),
        ("justify-evenly", 233.33, 566.67),
    ],
)
def test_justify_content_distributes_along_the_row(classes, first_x, second_x):
    elements = laid_out(
        block(f"{ROOT} {classes}", children=[block("w-[100px] h-10"), block("w-[200px] h-10")])
    )
    assert box(elements, "tree.children[0]")[0] == first_x
    assert box(elements, "tree.children[1]")[0] == second_x


@pytest.mark.parametrize(
    ("classes", "y", "height"),
    [("items-start", 0, 40), ("items-center", 230, 40), ("items-end", 460, 40), ("", 0, 500)],
)
def test_align_items_places_across_the_row(classes, y, height):
    elements = laid_out(
        block(f"{ROOT} {classes}", children=[block("w-10 h-10" if height == 40 else "w-10")])
    )
    assert box(elements, "tree.children[0]")[1::2] == (y, height)


def test_self_overrides_the_containers_alignment():
    elements = laid_out(
        block(f"{ROOT} flex-col items-start", children=[block("h-4"), block("h-4 self-end w-8")])
    )
    assert box(elements, "tree.children[0]")[0] == 0
    assert box(elements, "tree.children[1]")[0] == 1000 - 32


def test_fractions_grow_and_fixed_widths_share_a_row():
    elements = laid_out(
        block(
            f"{ROOT} p-[10px]",
            children=[block("w-1/2 h-4"), block("flex-1 h-4"), block("w-[100px] h-4 shrink-0")],
        )
    )
    assert box(elements, "tree.children[0]")[2] == 490  # half the content box (980)
    assert box(elements, "tree.children[1]")[:3:2] == (500, 390)
    assert box(elements, "tree.children[2]")[0] == 890


def test_absolute_inset_fills_its_parent_and_leaves_the_flow():
    elements = laid_out(
        block(
            f"{ROOT} relative p-8",
            children=[
                block("absolute inset-0 bg-black/50"),
                block("w-10 h-10"),
                block("absolute right-4 bottom-[10%] w-8 h-8"),
            ],
        )
    )
    assert box(elements, "tree.children[0]") == (0, 0, 1000, 500)
    assert box(elements, "tree.children[1]") == (32, 32, 40, 40)
    assert box(elements, "tree.children[2]") == (1000 - 16 - 32, 500 - 50 - 32, 32, 32)


def test_borders_and_padding_shape_the_inner_boxes():
    elements = laid_out(block(f"{ROOT} border-4 border-t-8 p-2", children=[block("h-4")]))
    root = elements["tree"]
    assert root.borders == (8, 4, 4, 4)
    assert root.padding_box == (4, 8, 992, 488)
    assert root.content_box == (12, 16, 976, 472)


def test_the_root_without_a_size_takes_its_contents_size():
    elements = laid_out(block("p-4", children=[block("w-10 h-10")]))
    assert box(elements, "tree") == (0, 0, 72, 72)


def test_rem_em_vw_and_percent_lengths():
    elements = laid_out(
        block(
            f"{ROOT} flex-col",
            style={"fontSize": "20px"},
            children=[
                block("", style={"width": "2em", "height": "1rem"}),
                block("", style={"width": "10vw", "height": "10vh"}),
                block("h-[5%] w-[25%]"),
            ],
        )
    )
    assert box(elements, "tree.children[0]")[2:] == (40, 16)
    assert box(elements, "tree.children[1]")[2:] == (100, 50)
    assert box(elements, "tree.children[2]")[2:] == (250, 25)


# --- text -----------------------------------------------------------------------------

LONG = "The quick brown fox jumps over the lazy dog and keeps on running far away"


def test_text_wraps_in_a_narrow_box_and_the_box_grows_to_fit():
    elements = laid_out(
        block(f"{ROOT} flex-col items-start", children=[block("w-[240px] text-2xl", text=LONG)])
    )
    text = elements["tree.children[0]"]
    lines = text_box(text, text.content_box[2]).lines
    assert len(lines) >= 4
    assert " ".join(lines) == LONG
    assert box(elements, "tree.children[0]")[2:] == (240, len(lines) * 32)  # text-2xl: 32 px lines


def test_text_takes_its_natural_width_in_a_row():
    elements = laid_out(
        block(f"{ROOT} items-start", children=[block("text-base", text="Hi"), block("w-4 h-4")])
    )
    width = box(elements, "tree.children[0]")[2]
    assert 10 < width < 30
    assert box(elements, "tree.children[1]")[0] == pytest.approx(width, abs=0.01)


def test_text_shrinks_and_wraps_when_the_row_is_full():
    elements = laid_out(
        block(
            f"{ROOT} items-start",
            children=[block("w-[700px] h-4 shrink-0"), block("text-xl", text=LONG)],
        )
    )
    text = elements["tree.children[1]"]
    assert box(elements, "tree.children[1]")[:3:2] == (700, 300)
    assert len(text_box(text, 300).lines) > 1


def test_rtl_text_aligns_right_by_default_and_left_when_asked():
    arabic = "مرحبا بالعالم"
    elements = laid_out(
        block(
            f"{ROOT} flex-col",
            children=[block("text-4xl", text=arabic), block("text-4xl text-left", text=arabic)],
        )
    )
    right = text_box(elements["tree.children[0]"], 1000)
    left = text_box(elements["tree.children[1]"], 1000)
    assert min_x(right.svg) > 700  # set against the right edge
    assert min_x(left.svg) < 10


def test_text_center_and_right_align_lines():
    elements = laid_out(
        block(
            f"{ROOT} flex-col",
            children=[block("text-center", text="centre"), block("text-right", text="right")],
        )
    )
    assert 440 < min_x(text_box(elements["tree.children[0]"], 1000).svg) < 500
    assert min_x(text_box(elements["tree.children[1]"], 1000).svg) > 950


def test_line_clamp_stops_at_n_lines_with_an_ellipsis():
    elements = laid_out(
        block(
            f"{ROOT} flex-col items-start",
            children=[block("w-[200px] text-xl line-clamp-2", text=LONG)],
        )
    )
    text = elements["tree.children[0]"]
    laid = text_box(text, 200)
    assert len(laid.lines) == 2 and laid.truncated
    assert laid.lines[-1].endswith(ELLIPSIS)
    assert box(elements, "tree.children[0]")[3] == 2 * 28  # text-xl: 28 px lines


def test_truncate_keeps_one_line_with_an_ellipsis():
    elements = laid_out(
        block(f"{ROOT} flex-col", children=[block("w-[200px] text-xl truncate", text=LONG)])
    )
    laid = text_box(elements["tree.children[0]"], 200)
    assert len(laid.lines) == 1 and laid.lines[0].endswith(ELLIPSIS)
    assert box(elements, "tree.children[0]")[3] == 28


def test_text_inherits_and_em_follows_the_font_size():
    elements = laid_out(
        block(
            f"{ROOT} flex-col text-2xl font-bold text-red-500 leading-none",
            children=[block("", text="x"), block("", style={"fontSize": "2em"}, text="y")],
        )
    )
    first, second = elements["tree.children[0]"].font, elements["tree.children[1]"].font
    assert (first.size, first.weight, first.color) == (24, 700, (239, 68, 68, 1.0))
    assert second.size == 48 and second.line_height_ratio == 1.0


def test_headings_carry_satoris_html_presets():
    elements = laid_out(block(f"{ROOT} flex-col", children=[{"type": "h1", "text": "Title"}]))
    heading = elements["tree.children[0]"]
    assert heading.font.size == 32 and heading.font.weight == 700
    assert box(elements, "tree.children[0]")[1] == pytest.approx(0.67 * 32, abs=0.01)


def test_cjk_text_wraps_between_characters():
    elements = laid_out(
        block(
            f"{ROOT} flex-col",
            children=[block("w-[300px] text-3xl", text="东京举办的国际会议通知用中文写的标题")],
        )
    )
    laid = text_box(elements["tree.children[0]"], 300)
    assert len(laid.lines) >= 2 and all(len(line) > 1 for line in laid.lines)


def slot_of_a_new_taffy_node() -> int:
    from stretchable import Style, taffylib
    from stretchable.context import taffy

    node = taffylib.node_create(taffy._ptr, Style().to_dict())
    taffylib.node_drop(taffy._ptr, node)
    return node & 0xFFFFFFFF  # a slotmap key: version << 32 | slot


def test_layouts_release_their_taffy_nodes():
    laid_out(block(ROOT, children=[block("", text="measured"), block("w-4")]))
    before = slot_of_a_new_taffy_node()
    for _ in range(20):
        laid_out(block(ROOT, children=[block("", text="measured"), block("w-4")]))
    assert slot_of_a_new_taffy_node() <= before + 4  # slots are reused, not piled up


def min_x(svg: str) -> float:
    """The leftmost glyph start point in a TextBox's path data."""
    return min(float(x) for x in re.findall(r"M(-?[\d.]+) ", svg))


def test_an_error_while_measuring_is_raised_not_laid_out_as_nan(monkeypatch):
    import workers.tree.layout as layout

    def broken(*args, **kwargs):
        raise ValueError("no face for this text")

    monkeypatch.setattr(layout, "text_box", broken)
    with pytest.raises(ValueError, match="no face"):
        laid_out(block(ROOT, children=[block("", text="measured")]))
    monkeypatch.undo()
    assert laid_out(block(ROOT, children=[block("", text="fine")]))["tree.children[0]"].box[2] > 0

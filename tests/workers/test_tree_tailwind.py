"""The Tailwind table, class by class: the style each class stands for, the dynamic
forms (opacity modifier, arbitrary values) and what is not in the subset."""

from __future__ import annotations

import pytest

from workers.tree.css import Gradient, Len, parse_declaration
from workers.tree.tailwind import COLORS, SPACING, TAILWIND, tailwind_style

CLASSES = {
    # spacing
    "p-4": {"padding": "16px"},
    "px-20": {"paddingLeft": "80px", "paddingRight": "80px"},
    "py-0.5": {"paddingTop": "2px", "paddingBottom": "2px"},
    "pt-px": {"paddingTop": "1px"},
    "pr-2.5": {"paddingRight": "10px"},
    "pb-96": {"paddingBottom": "384px"},
    "pl-[12px]": {"paddingLeft": "12px"},
    "m-auto": {"margin": "auto"},
    "mx-auto": {"marginLeft": "auto", "marginRight": "auto"},
    "mt-6": {"marginTop": "24px"},
    "-mt-4": {"marginTop": "-16px"},
    "-ml-[3px]": {"marginLeft": "-3px"},
    "gap-3": {"gap": "12px"},
    "gap-x-0.5": {"columnGap": "2px"},
    "gap-y-[12px]": {"rowGap": "12px"},
    # sizing
    "w-16": {"width": "64px"},
    "w-full": {"width": "100%"},
    "h-full": {"height": "100%"},
    "w-1/2": {"width": "50%"},
    "w-2/3": {"width": "66.6667%"},
    "h-1/4": {"height": "25%"},
    "w-screen": {"width": "100vw"},
    "h-screen": {"height": "100vh"},
    "w-auto": {"width": "auto"},
    "w-[38%]": {"width": "38%"},
    "size-10": {"width": "40px", "height": "40px"},
    "min-w-0": {"minWidth": "0px"},
    "min-h-full": {"minHeight": "100%"},
    "max-w-2xl": {"maxWidth": "42rem"},
    "max-w-none": {"maxWidth": "none"},
    "max-h-screen": {"maxHeight": "100vh"},
    # flex
    "flex": {"display": "flex"},
    "flex-row": {"flexDirection": "row"},
    "flex-col": {"flexDirection": "column"},
    "flex-col-reverse": {"flexDirection": "column-reverse"},
    "flex-wrap": {"flexWrap": "wrap"},
    "items-center": {"alignItems": "center"},
    "items-start": {"alignItems": "flex-start"},
    "items-baseline": {"alignItems": "baseline"},
    "justify-between": {"justifyContent": "space-between"},
    "justify-end": {"justifyContent": "flex-end"},
    "justify-evenly": {"justifyContent": "space-evenly"},
    "self-start": {"alignSelf": "flex-start"},
    "self-stretch": {"alignSelf": "stretch"},
    "content-center": {"alignContent": "center"},
    "grow": {"flexGrow": "1"},
    "grow-0": {"flexGrow": "0"},
    "shrink-0": {"flexShrink": "0"},
    "flex-1": {"flex": "1 1 0%"},
    "flex-none": {"flex": "none"},
    "basis-1/3": {"flexBasis": "33.3333%"},
    "basis-24": {"flexBasis": "96px"},
    # colour
    "bg-slate-950": {"backgroundColor": "#020617"},
    "bg-rose-50": {"backgroundColor": "#fff1f2"},
    "bg-white": {"backgroundColor": "#ffffff"},
    "bg-transparent": {"backgroundColor": "transparent"},
    "text-indigo-500": {"color": "#6366f1"},
    "border-emerald-600": {"borderColor": "#059669"},
    "bg-black/50": {"backgroundColor": "rgba(0, 0, 0, 0.5)"},
    "text-white/80": {"color": "rgba(255, 255, 255, 0.8)"},
    "bg-sky-500/[0.35]": {"backgroundColor": "rgba(14, 165, 233, 0.35)"},
    "bg-[#0b0d12]": {"backgroundColor": "#0b0d12"},
    "text-[rgb(1,2,3)]": {"color": "rgb(1,2,3)"},
    # type
    "text-xs": {"fontSize": "0.75rem", "lineHeight": "1rem"},
    "text-base": {"fontSize": "1rem", "lineHeight": "1.5rem"},
    "text-2xl": {"fontSize": "1.5rem", "lineHeight": "2rem"},
    "text-7xl": {"fontSize": "4.5rem", "lineHeight": "1"},
    "text-9xl": {"fontSize": "8rem", "lineHeight": "1"},
    "text-[40px]": {"fontSize": "40px"},
    "font-thin": {"fontWeight": "100"},
    "font-semibold": {"fontWeight": "600"},
    "font-black": {"fontWeight": "900"},
    "font-sans": {"fontFamily": "sans-serif"},
    "font-serif": {"fontFamily": "serif"},
    "font-mono": {"fontFamily": "monospace"},
    "italic": {"fontStyle": "italic"},
    "tracking-tight": {"letterSpacing": "-0.025em"},
    "tracking-widest": {"letterSpacing": "0.1em"},
    "tracking-[0.2em]": {"letterSpacing": "0.2em"},
    "leading-none": {"lineHeight": "1"},
    "leading-snug": {"lineHeight": "1.375"},
    "leading-8": {"lineHeight": "2rem"},
    "leading-[1.1]": {"lineHeight": "1.1"},
    "text-left": {"textAlign": "left"},
    "text-center": {"textAlign": "center"},
    "text-right": {"textAlign": "right"},
    "line-clamp-2": {"overflow": "hidden", "lineClamp": "2"},
    "truncate": {"overflow": "hidden", "textOverflow": "ellipsis", "whiteSpace": "nowrap"},
    "uppercase": {"textTransform": "uppercase"},
    # borders, radii
    "border": {"borderWidth": "1px"},
    "border-2": {"borderWidth": "2px"},
    "border-t": {"borderTopWidth": "1px"},
    "border-x-4": {"borderLeftWidth": "4px", "borderRightWidth": "4px"},
    "border-b-0": {"borderBottomWidth": "0px"},
    "rounded": {"borderRadius": "0.25rem"},
    "rounded-lg": {"borderRadius": "0.5rem"},
    "rounded-full": {"borderRadius": "9999px"},
    "rounded-t-xl": {"borderTopLeftRadius": "0.75rem", "borderTopRightRadius": "0.75rem"},
    "rounded-br-2xl": {"borderBottomRightRadius": "1rem"},
    "rounded-[20px]": {"borderRadius": "20px"},
    # backgrounds, effects
    "bg-gradient-to-r": {"backgroundImage": "linear-gradient(to right, var(--tw-gradient-stops))"},
    "bg-gradient-to-tl": {
        "backgroundImage": "linear-gradient(to top left, var(--tw-gradient-stops))"
    },
    "from-indigo-500": {"--tw-gradient-from": "#6366f1"},
    "via-purple-500": {"--tw-gradient-via": "#a855f7"},
    "to-pink-500": {"--tw-gradient-to": "#ec4899"},
    "to-transparent": {"--tw-gradient-to": "transparent"},
    "opacity-0": {"opacity": "0"},
    "opacity-75": {"opacity": "0.75"},
    "shadow-sm": {"boxShadow": "0 1px 2px 0 rgba(0, 0, 0, 0.05)"},
    "shadow-2xl": {"boxShadow": "0 25px 50px -12px rgba(0, 0, 0, 0.25)"},
    "shadow-none": {"boxShadow": "none"},
    # position, visibility
    "absolute": {"position": "absolute"},
    "relative": {"position": "relative"},
    "inset-0": {"inset": "0px"},
    "inset-x-4": {"left": "16px", "right": "16px"},
    "top-1/2": {"top": "50%"},
    "-left-2": {"left": "-8px"},
    "bottom-[10%]": {"bottom": "10%"},
    "hidden": {"display": "none"},
    "overflow-hidden": {"overflow": "hidden"},
    "aspect-video": {"aspectRatio": "16 / 9"},
    "object-cover": {"objectFit": "cover"},
}


@pytest.mark.parametrize(("name", "style"), sorted(CLASSES.items()))
def test_class_maps_to_style(name, style):
    assert tailwind_style(name) == style


@pytest.mark.parametrize(("name", "style"), sorted(CLASSES.items()))
def test_every_mapped_style_parses(name, style):
    for prop, value in style.items():
        assert parse_declaration(prop, value)


def test_the_whole_table_parses():
    for name, style in TAILWIND.items():
        for prop, value in style.items():
            try:
                parse_declaration(prop, value)
            except ValueError as exc:  # pragma: no cover - the message is the point
                pytest.fail(f"{name}: {exc}")


def test_the_palette_has_every_colour_and_shade():
    families = "slate gray zinc neutral stone red orange amber yellow lime green emerald"
    families += " teal cyan sky blue indigo violet purple fuchsia pink rose"
    shades = [50, *range(100, 1000, 100), 950]
    for family in families.split():
        for shade in shades:
            assert COLORS[f"{family}-{shade}"].startswith("#")
    assert len(COLORS) == 22 * 11 + 4


def test_the_spacing_scale_is_tailwinds():
    assert SPACING["px"] == "1px"
    assert SPACING["0.5"] == "2px"
    assert SPACING["3.5"] == "14px"
    assert SPACING["72"] == "288px"
    assert len(SPACING) == 35


@pytest.mark.parametrize(
    "name",
    [
        "bg-grape-500",
        "bg-red-550",
        "p-13",
        "w-1/7",
        "text-huge",
        "-p-4",  # padding cannot be negative
        "w-screen/50",  # an opacity modifier on a non-colour
        "bg-black/150",
        "rounded-xxl",
        "md:flex",
        "flex-col-",
        "",
    ],
)
def test_classes_outside_the_subset_are_unknown(name):
    assert tailwind_style(name) is None


def test_gradient_classes_parse_to_a_gradient_filled_from_stops():
    ((prop, gradient),) = parse_declaration(*next(iter(TAILWIND["bg-gradient-to-br"].items())))
    assert prop == "backgroundImage"
    assert gradient == Gradient(angle=None, to=("bottom", "right"), stops=None)


def test_units_are_kept_until_a_node_resolves_them():
    assert parse_declaration("fontSize", "4.5rem") == (("fontSize", Len(4.5, "rem")),)
    assert parse_declaration("letterSpacing", "-0.025em") == (("letterSpacing", Len(-0.025, "em")),)

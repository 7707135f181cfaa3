"""Tailwind class → inline style: the one table of the `tree` engine. Plain Python.

`TAILWIND` maps every static class of the subset Satori's `tw` supports to the style it
stands for, written exactly as a template's `style` object would write it (camelCase
properties, CSS string values), so one parser (workers/tree/css.py) reads both. The table
is generated once, at import, from Tailwind v3's default theme (spacing scale, palette,
type scale, radii, shadows) below. Two dynamic forms are derived from the same utility
definitions rather than listed: an opacity modifier on a colour (`bg-black/50`,
`text-white/[0.35]`) and an arbitrary value (`p-[12px]`, `w-[38%]`, `bg-[#0b0d12]`,
`text-[40px]`, `tracking-[0.2em]`, `leading-[1.1]`; `_` stands for a space).

Not covered (an unknown class is an error when the template is parsed): variants
(`md:`, `hover:`, `dark:`), grid, `space-x/y`, `divide`, `ring`, `blur`/filters,
transforms, `z-*`, `underline`, `inline`/`block`/`contents`, `shadow-inner`, coloured
shadows, dashed/dotted borders, per-side border colours, `bg-[url(...)]`.
"""

from __future__ import annotations

import functools
import re

REM = 16.0

# Tailwind v3.4's default palette (50…950), hex.
_PALETTE_HEX = {
    "slate": "f8fafc f1f5f9 e2e8f0 cbd5e1 94a3b8 64748b 475569 334155 1e293b 0f172a 020617",
    "gray": "f9fafb f3f4f6 e5e7eb d1d5db 9ca3af 6b7280 4b5563 374151 1f2937 111827 030712",
    "zinc": "fafafa f4f4f5 e4e4e7 d4d4d8 a1a1aa 71717a 52525b 3f3f46 27272a 18181b 09090b",
    "neutral": "fafafa f5f5f5 e5e5e5 d4d4d4 a3a3a3 737373 525252 404040 262626 171717 0a0a0a",
    "stone": "fafaf9 f5f5f4 e7e5e4 d6d3d1 a8a29e 78716c 57534e 44403c 292524 1c1917 0c0a09",
    "red": "fef2f2 fee2e2 fecaca fca5a5 f87171 ef4444 dc2626 b91c1c 991b1b 7f1d1d 450a0a",
    "orange": "fff7ed ffedd5 fed7aa fdba74 fb923c f97316 ea580c c2410c 9a3412 7c2d12 431407",
    "amber": "fffbeb fef3c7 fde68a fcd34d fbbf24 f59e0b d97706 b45309 92400e 78350f 451a03",
    "yellow": "fefce8 fef9c3 fef08a fde047 facc15 eab308 ca8a04 a16207 854d0e 713f12 422006",
    "lime": "f7fee7 ecfccb d9f99d bef264 a3e635 84cc16 65a30d 4d7c0f 3f6212 365314 1a2e05",
    "green": "f0fdf4 dcfce7 bbf7d0 86efac 4ade80 22c55e 16a34a 15803d 166534 14532d 052e16",
    "emerald": "ecfdf5 d1fae5 a7f3d0 6ee7b7 34d399 10b981 059669 047857 065f46 064e3b 022c22",
    "teal": "f0fdfa ccfbf1 99f6e4 5eead4 2dd4bf 14b8a6 0d9488 0f766e 115e59 134e4a 042f2e",
    "cyan": "ecfeff cffafe a5f3fc 67e8f9 22d3ee 06b6d4 0891b2 0e7490 155e75 164e63 083344",
    "sky": "f0f9ff e0f2fe bae6fd 7dd3fc 38bdf8 0ea5e9 0284c7 0369a1 075985 0c4a6e 082f49",
    "blue": "eff6ff dbeafe bfdbfe 93c5fd 60a5fa 3b82f6 2563eb 1d4ed8 1e40af 1e3a8a 172554",
    "indigo": "eef2ff e0e7ff c7d2fe a5b4fc 818cf8 6366f1 4f46e5 4338ca 3730a3 312e81 1e1b4b",
    "violet": "f5f3ff ede9fe ddd6fe c4b5fd a78bfa 8b5cf6 7c3aed 6d28d9 5b21b6 4c1d95 2e1065",
    "purple": "faf5ff f3e8ff e9d5ff d8b4fe c084fc a855f7 9333ea 7e22ce 6b21a8 581c87 3b0764",
    "fuchsia": "fdf4ff fae8ff f5d0fe f0abfc e879f9 d946ef c026d3 a21caf 86198f 701a75 4a044e",
    "pink": "fdf2f8 fce7f3 fbcfe8 f9a8d4 f472b6 ec4899 db2777 be185d 9d174d 831843 500724",
    "rose": "fff1f2 ffe4e6 fecdd3 fda4af fb7185 f43f5e e11d48 be123c 9f1239 881337 4c0519",
}
_SHADES = ("50", "100", "200", "300", "400", "500", "600", "700", "800", "900", "950")
COLORS: dict[str, str] = {
    "white": "#ffffff",
    "black": "#000000",
    "transparent": "transparent",
    "current": "currentColor",
    **{
        f"{name}-{shade}": f"#{code}"
        for name, codes in _PALETTE_HEX.items()
        for shade, code in zip(_SHADES, codes.split(), strict=True)
    },
}

# The spacing scale (px): 0, px, 0.5 … 96 (n × 4 px).
_STEPS = "0 0.5 1 1.5 2 2.5 3 3.5 4 5 6 7 8 9 10 11 12 14 16 20 24 28 32 36 40 44 48 52 56 60 64"
_STEPS += " 72 80 96"
SPACING: dict[str, str] = {"px": "1px", **{s: f"{float(s) * 4:g}px" for s in _STEPS.split()}}
_FRACTIONS = {f"{n}/{d}": f"{n / d * 100:.6g}%" for d in (2, 3, 4, 5, 6, 12) for n in range(1, d)}
_MAX_WIDTHS = {
    "xs": "20rem", "sm": "24rem", "md": "28rem", "lg": "32rem", "xl": "36rem",
    "2xl": "42rem", "3xl": "48rem", "4xl": "56rem", "5xl": "64rem", "6xl": "72rem",
    "7xl": "80rem", "none": "none",
}  # fmt: skip

# Utility prefix → the properties a length sets, and which scales it takes.
_LENGTHS: dict[str, tuple[tuple[str, ...], str]] = {
    "p": (("padding",), "s"),
    "px": (("paddingLeft", "paddingRight"), "s"),
    "py": (("paddingTop", "paddingBottom"), "s"),
    "pt": (("paddingTop",), "s"),
    "pr": (("paddingRight",), "s"),
    "pb": (("paddingBottom",), "s"),
    "pl": (("paddingLeft",), "s"),
    "m": (("margin",), "sna"),
    "mx": (("marginLeft", "marginRight"), "sna"),
    "my": (("marginTop", "marginBottom"), "sna"),
    "mt": (("marginTop",), "sna"),
    "mr": (("marginRight",), "sna"),
    "mb": (("marginBottom",), "sna"),
    "ml": (("marginLeft",), "sna"),
    "gap": (("gap",), "s"),
    "gap-x": (("columnGap",), "s"),
    "gap-y": (("rowGap",), "s"),
    "w": (("width",), "sfaFx"),
    "h": (("height",), "sfaFy"),
    "size": (("width", "height"), "sfaF"),
    "min-w": (("minWidth",), "sfF"),
    "min-h": (("minHeight",), "sfFy"),
    "max-w": (("maxWidth",), "sfFxm"),
    "max-h": (("maxHeight",), "sfFy"),
    "basis": (("flexBasis",), "sfaF"),
    "inset": (("inset",), "snfaF"),
    "inset-x": (("left", "right"), "snfaF"),
    "inset-y": (("top", "bottom"), "snfaF"),
    "top": (("top",), "snfaF"),
    "right": (("right",), "snfaF"),
    "bottom": (("bottom",), "snfaF"),
    "left": (("left",), "snfaF"),
}
_COLOR_UTILITIES = {
    "bg": "backgroundColor",
    "text": "color",
    "border": "borderColor",
    "from": "--tw-gradient-from",
    "via": "--tw-gradient-via",
    "to": "--tw-gradient-to",
}
# (class, font size, line height)
_TEXT_SIZES = (
    ("xs", "0.75rem", "1rem"),
    ("sm", "0.875rem", "1.25rem"),
    ("base", "1rem", "1.5rem"),
    ("lg", "1.125rem", "1.75rem"),
    ("xl", "1.25rem", "1.75rem"),
    ("2xl", "1.5rem", "2rem"),
    ("3xl", "1.875rem", "2.25rem"),
    ("4xl", "2.25rem", "2.5rem"),
    ("5xl", "3rem", "1"),
    ("6xl", "3.75rem", "1"),
    ("7xl", "4.5rem", "1"),
    ("8xl", "6rem", "1"),
    ("9xl", "8rem", "1"),
)
_WEIGHTS = {
    "thin": 100, "extralight": 200, "light": 300, "normal": 400, "medium": 500,
    "semibold": 600, "bold": 700, "extrabold": 800, "black": 900,
}  # fmt: skip
_TRACKING = {
    "tighter": "-0.05em", "tight": "-0.025em", "normal": "0em",
    "wide": "0.025em", "wider": "0.05em", "widest": "0.1em",
}  # fmt: skip
_LEADING = {
    "none": "1", "tight": "1.25", "snug": "1.375", "normal": "1.5", "relaxed": "1.625",
    "loose": "2", **{str(n): f"{n / 4:g}rem" for n in range(3, 11)},
}  # fmt: skip
_RADII = {
    "none": "0px", "sm": "0.125rem", "": "0.25rem", "md": "0.375rem", "lg": "0.5rem",
    "xl": "0.75rem", "2xl": "1rem", "3xl": "1.5rem", "full": "9999px",
}  # fmt: skip
_CORNERS = {
    "": ("borderRadius",),
    "t": ("borderTopLeftRadius", "borderTopRightRadius"),
    "r": ("borderTopRightRadius", "borderBottomRightRadius"),
    "b": ("borderBottomRightRadius", "borderBottomLeftRadius"),
    "l": ("borderTopLeftRadius", "borderBottomLeftRadius"),
    "tl": ("borderTopLeftRadius",),
    "tr": ("borderTopRightRadius",),
    "br": ("borderBottomRightRadius",),
    "bl": ("borderBottomLeftRadius",),
}
_BORDER_SIDES = {
    "": ("borderWidth",),
    "x": ("borderLeftWidth", "borderRightWidth"),
    "y": ("borderTopWidth", "borderBottomWidth"),
    "t": ("borderTopWidth",),
    "r": ("borderRightWidth",),
    "b": ("borderBottomWidth",),
    "l": ("borderLeftWidth",),
}
_SHADOWS = {
    "sm": "0 1px 2px 0 rgba(0, 0, 0, 0.05)",
    "": "0 1px 3px 0 rgba(0, 0, 0, 0.1), 0 1px 2px -1px rgba(0, 0, 0, 0.1)",
    "md": "0 4px 6px -1px rgba(0, 0, 0, 0.1), 0 2px 4px -2px rgba(0, 0, 0, 0.1)",
    "lg": "0 10px 15px -3px rgba(0, 0, 0, 0.1), 0 4px 6px -4px rgba(0, 0, 0, 0.1)",
    "xl": "0 20px 25px -5px rgba(0, 0, 0, 0.1), 0 8px 10px -6px rgba(0, 0, 0, 0.1)",
    "2xl": "0 25px 50px -12px rgba(0, 0, 0, 0.25)",
    "none": "none",
}
_GRADIENT_SIDES = {
    "t": "top", "tr": "top right", "r": "right", "br": "bottom right",
    "b": "bottom", "bl": "bottom left", "l": "left", "tl": "top left",
}  # fmt: skip
_ALIGN = {"start": "flex-start", "end": "flex-end", "center": "center"}
_JUSTIFY = {
    **_ALIGN,
    "between": "space-between",
    "around": "space-around",
    "evenly": "space-evenly",
}


def _scale(kinds: str) -> dict[str, str]:
    """The values a length utility takes: s spacing, f fractions, a auto, F full,
    x/y screen width/height, m named max widths (n, negatives, is added by the caller)."""
    values = dict(SPACING) if "s" in kinds else {}
    if "f" in kinds:
        values.update(_FRACTIONS)
    if "a" in kinds:
        values["auto"] = "auto"
    if "F" in kinds:
        values["full"] = "100%"
    if "x" in kinds:
        values["screen"] = "100vw"
    if "y" in kinds:
        values["screen"] = "100vh"
    if "m" in kinds:
        values.update(_MAX_WIDTHS)
    return values


def _build() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}

    def add(name: str, style: dict[str, str]) -> None:
        assert name not in table, name
        table[name] = style

    for prefix, (props, kinds) in _LENGTHS.items():
        for key, value in _scale(kinds).items():
            add(f"{prefix}-{key}", dict.fromkeys(props, value))
            if "n" in kinds and value not in ("0px", "auto") and not value.startswith("-"):
                add(f"-{prefix}-{key}", dict.fromkeys(props, f"-{value}"))
    for prefix, prop in _COLOR_UTILITIES.items():
        for key, value in COLORS.items():
            add(f"{prefix}-{key}", {prop: value})
    for key, size, leading in _TEXT_SIZES:
        add(f"text-{key}", {"fontSize": size, "lineHeight": leading})
    for key, weight in _WEIGHTS.items():
        add(f"font-{key}", {"fontWeight": str(weight)})
    for key, family in (("sans", "sans-serif"), ("serif", "serif"), ("mono", "monospace")):
        add(f"font-{key}", {"fontFamily": family})
    for key, value in _TRACKING.items():
        add(f"tracking-{key}", {"letterSpacing": value})
    for key, value in _LEADING.items():
        add(f"leading-{key}", {"lineHeight": value})
    for key in ("left", "center", "right", "justify", "start", "end"):
        add(f"text-{key}", {"textAlign": key})
    for n in range(1, 7):
        add(f"line-clamp-{n}", {"overflow": "hidden", "lineClamp": str(n)})
    add("line-clamp-none", {"overflow": "visible", "lineClamp": "none"})
    add("truncate", {"overflow": "hidden", "textOverflow": "ellipsis", "whiteSpace": "nowrap"})
    add("text-ellipsis", {"textOverflow": "ellipsis"})
    add("text-clip", {"textOverflow": "clip"})
    add("whitespace-normal", {"whiteSpace": "normal"})
    add("whitespace-nowrap", {"whiteSpace": "nowrap"})
    add("italic", {"fontStyle": "italic"})
    add("not-italic", {"fontStyle": "normal"})
    for key in ("uppercase", "lowercase", "capitalize"):
        add(key, {"textTransform": key})
    add("normal-case", {"textTransform": "none"})

    for side, props in _BORDER_SIDES.items():
        stem = f"border-{side}" if side else "border"
        add(stem, dict.fromkeys(props, "1px"))
        for width in ("0", "2", "4", "8"):
            add(f"{stem}-{width}", dict.fromkeys(props, f"{width}px"))
    for corner, props in _CORNERS.items():
        stem = f"rounded-{corner}" if corner else "rounded"
        for key, value in _RADII.items():
            add(f"{stem}-{key}" if key else stem, dict.fromkeys(props, value))

    add("flex", {"display": "flex"})
    add("hidden", {"display": "none"})
    add("relative", {"position": "relative"})
    add("absolute", {"position": "absolute"})
    add("overflow-hidden", {"overflow": "hidden"})
    add("overflow-visible", {"overflow": "visible"})
    for key, value in (("row", "row"), ("row-reverse", "row-reverse"), ("col", "column")):
        add(f"flex-{key}", {"flexDirection": value})
    add("flex-col-reverse", {"flexDirection": "column-reverse"})
    for key in ("wrap", "wrap-reverse", "nowrap"):
        add(f"flex-{key}", {"flexWrap": key})
    for key, value in (("1", "1 1 0%"), ("auto", "1 1 auto"), ("initial", "0 1 auto")):
        add(f"flex-{key}", {"flex": value})
    add("flex-none", {"flex": "none"})
    for stem in ("grow", "flex-grow"):
        add(stem, {"flexGrow": "1"})
        add(f"{stem}-0", {"flexGrow": "0"})
    for stem in ("shrink", "flex-shrink"):
        add(stem, {"flexShrink": "1"})
        add(f"{stem}-0", {"flexShrink": "0"})
    for key, value in {**_ALIGN, "baseline": "baseline", "stretch": "stretch"}.items():
        add(f"items-{key}", {"alignItems": value})
        add(f"self-{key}", {"alignSelf": value})
    add("self-auto", {"alignSelf": "auto"})
    for key, value in _JUSTIFY.items():
        add(f"justify-{key}", {"justifyContent": value})
        add(f"content-{key}", {"alignContent": value})
    add("content-stretch", {"alignContent": "stretch"})
    for key, value in (("square", "1 / 1"), ("video", "16 / 9"), ("auto", "auto")):
        add(f"aspect-{key}", {"aspectRatio": value})
    for key in ("cover", "contain", "fill", "none", "scale-down"):
        add(f"object-{key}", {"objectFit": key})

    for key, value in _GRADIENT_SIDES.items():
        add(
            f"bg-gradient-to-{key}",
            {"backgroundImage": f"linear-gradient(to {value}, var(--tw-gradient-stops))"},
        )
    add("bg-none", {"backgroundImage": "none"})
    for n in range(0, 101, 5):
        add(f"opacity-{n}", {"opacity": f"{n / 100:g}"})
    for key, value in _SHADOWS.items():
        add(f"shadow-{key}" if key else "shadow", {"boxShadow": value})
    return table


TAILWIND: dict[str, dict[str, str]] = _build()

_MODIFIED = re.compile(r"^(.+)/(\d{1,3}|\[(?:0?\.\d+|1(?:\.0+)?)\])$")
_ARBITRARY = re.compile(r"^(-?)([a-z-]+?)-\[([^\]\s]+)\]$")
_ARBITRARY_ONE = {  # prefixes whose arbitrary value is not a length utility's
    "tracking": "letterSpacing",
    "leading": "lineHeight",
    "opacity": "opacity",
    "line-clamp": "lineClamp",
    "font": "fontWeight",
}
_HEXISH = re.compile(r"^(#|rgba?\(|hsla?\()")


def _with_alpha(color: str, alpha: float) -> str | None:
    match = re.fullmatch(r"#([0-9a-fA-F]{6})", color)
    if not match:
        return None if color != "transparent" else color
    digits = match.group(1)
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha:g})"


@functools.lru_cache(maxsize=4096)
def tailwind_style(name: str) -> dict[str, str] | None:
    """The style a class stands for, or None if it is not in the supported subset."""
    if name in TAILWIND:
        return TAILWIND[name]
    modified = _MODIFIED.match(name)
    if modified:
        base = tailwind_style(modified.group(1))
        raw = modified.group(2)
        alpha = float(raw[1:-1]) if raw.startswith("[") else int(raw) / 100
        if base is None or len(base) != 1 or alpha > 1:
            return None
        ((prop, color),) = base.items()
        if prop not in _COLOR_UTILITIES.values():
            return None
        faded = _with_alpha(color, alpha)
        return None if faded is None else {prop: faded}
    arbitrary = _ARBITRARY.match(name)
    if arbitrary:
        return _arbitrary(*arbitrary.groups())
    return None


def _arbitrary(negative: str, prefix: str, value: str) -> dict[str, str] | None:
    value = value.replace("_", " ")
    if prefix in _COLOR_UTILITIES and (_HEXISH.match(value) or value in ("transparent",)):
        return None if negative else {_COLOR_UTILITIES[prefix]: value}
    if prefix == "text":
        return None if negative else {"fontSize": value}
    if prefix == "border":
        return None if negative else {"borderWidth": value}
    if prefix == "rounded":
        return None if negative else {"borderRadius": value}
    if prefix in _ARBITRARY_ONE:
        return None if negative else {_ARBITRARY_ONE[prefix]: value}
    if prefix in _LENGTHS:
        props, kinds = _LENGTHS[prefix]
        if negative and "n" not in kinds:
            return None
        return dict.fromkeys(props, f"-{value}" if negative else value)
    return None

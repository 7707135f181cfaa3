"""The reference's own tree template example (reference 002, "Template structure")."""

# The reference's own example, verbatim: it must be accepted unchanged.
REFERENCE_HERO = {
    "name": "hero",
    "defaultSize": {"w": 1200, "h": 630},
    "required": ["title"],
    "sampleParams": {"title": "Hello", "subtitle": "World"},
    "defaults": {"eyebrow": "My Site"},
    "tree": {
        "type": "div",
        "tw": "flex h-full w-full flex-col justify-center bg-slate-950 text-white px-20",
        "children": [
            {
                "type": "div",
                "tw": "text-2xl text-slate-400",
                "text": "{{eyebrow}}",
                "when": "eyebrow",
            },
            {"type": "div", "tw": "text-7xl font-bold", "text": "{{title}}"},
            {
                "type": "div",
                "tw": "text-4xl text-slate-300 mt-6",
                "text": "{{subtitle}}",
                "when": "subtitle",
            },
        ],
    },
}

"""Placeholder routes (SPEC §7), included last in config/urls.py: `/{w}x{h}` sits at the
root, so every other route is tried first and none can be shadowed by it.

The root size is matched strictly (`[0-9]+x[0-9]+`); a last segment that only looks like
a size (`/0.5x100`, `/-1x10`, `/100x`) reaches the same view to be answered a 400 glyph
instead of a 404. Under /color, /gradient, /seed and /glyph any size segment reaches the
view, which validates it.
"""

from django.urls import re_path

from renders import placeholder_views as views

EXT = r"(?:\.(?P<ext>svg|png|webp))?"
ANY_SIZE = r"(?P<size>[^/]+?)" + EXT

urlpatterns = [
    re_path(r"^(?P<size>[0-9]+x[0-9]+)" + EXT + "$", views.size_label, name="placeholder"),
    re_path(
        r"^color/(?P<color>[^/]+)/" + ANY_SIZE + "$", views.solid_color, name="placeholder-color"
    ),
    re_path(r"^gradient/" + ANY_SIZE + "$", views.gradient, name="placeholder-gradient"),
    re_path(r"^seed/(?P<seed>[^/]+)/" + ANY_SIZE + "$", views.seeded, name="placeholder-seed"),
    re_path(r"^glyph/" + ANY_SIZE + "$", views.icon, name="placeholder-glyph"),
    # A root segment with a digit and an "x" that is not a valid size: a 400, not a 404.
    re_path(r"^(?P<size>(?=[^/]*[0-9])[-+.0-9a-zA-Z]*x[-+.0-9a-zA-Z]*)$", views.size_label),
]

"""Settings of the bench's web server: the farm's own settings, with bench/urls.py as the
URL conf (the farm's routes plus the constant-SVG baseline of bench/placeholders.py)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

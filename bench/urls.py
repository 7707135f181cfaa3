"""The farm's routes plus the bench's constant views: the least a Django view can do (a
constant body, no parsing, no headers of its own), served only by the bench's web server.

- `/bench/constant.svg`: the very bytes `/1200x630?text=hello` answers (bench/placeholders.py).
- `/bench/constant.png`: the bytes of a rendered `/og/…png` (bench/render_path.py), read
  once per process from the file named by `KILN_BENCH_CONSTANT_PNG`, which the bench
  writes after the web server has started (so it is read lazily, on the first request).

Both routes move the same payload as their counterpart through the same middleware; the
constant routes are resolved first, so whatever routing costs counts against the farm's.
"""

import functools
import os
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import handler404, handler500
from config.urls import urlpatterns as farm_urlpatterns
from workers.placeholders import label_svg

CONSTANT_SVG = label_svg(1200, 630, text="hello").encode()


def constant_svg(request: HttpRequest) -> HttpResponse:
    return HttpResponse(CONSTANT_SVG, content_type="image/svg+xml")


@functools.cache
def _constant_png() -> bytes:
    return Path(os.environ["KILN_BENCH_CONSTANT_PNG"]).read_bytes()


def constant_png(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_constant_png(), content_type="image/png")


urlpatterns = [
    path("bench/constant.svg", constant_svg),
    path("bench/constant.png", constant_png),
    *farm_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]

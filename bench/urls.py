"""The farm's routes plus `/bench/constant.svg`: the least a Django view can do (a constant
body, no parsing, no headers of its own), served only by the bench's web server.

The body is the very bytes `/1200x630?text=hello` answers, so both routes move the same
payload through the same middleware; the constant route is resolved first, so whatever
routing costs counts against the placeholder.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import handler404, handler500
from config.urls import urlpatterns as farm_urlpatterns
from workers.placeholders import label_svg

CONSTANT_SVG = label_svg(1200, 630, text="hello").encode()


def constant_svg(request: HttpRequest) -> HttpResponse:
    return HttpResponse(CONSTANT_SVG, content_type="image/svg+xml")


urlpatterns = [path("bench/constant.svg", constant_svg), *farm_urlpatterns]

__all__ = ["handler404", "handler500", "urlpatterns"]

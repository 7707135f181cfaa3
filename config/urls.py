from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from config import health
from config.errors import error_body

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # The public image routes first: they are the hottest (og:image hits).
    path("", include("renders.public_urls")),
    path("v1/", include("renders.urls")),
    path("ai", include("ai_jobs.urls")),
    path("", include("renders.placeholder_urls")),  # last: /{w}x{h} sits at the root
]


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    return JsonResponse(error_body("NOT_FOUND", f"no route for {request.path}"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        error_body("RENDER_FAILED", "internal error; it has been logged"), status=500
    )


handler404 = not_found
handler500 = server_error

"""Public image routes for og:image and <img src> (errors answer as glyphs)."""

from django.urls import path, re_path

from renders import views

urlpatterns = [
    re_path(
        r"^og/(?P<slug>[-a-zA-Z0-9_]+)\.(?P<ext>png|jpg|jpeg|webp|svg|pdf)$",
        views.OgImageView.as_view(),
        name="og-image",
    ),
    path("render", views.RenderImageView.as_view(), name="render-image"),
    path("i/<str:token>", views.SignedImageView.as_view(), name="signed-image"),
]

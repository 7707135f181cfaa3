"""Public image routes for og:image and <img src> (errors answer as glyphs)."""

from django.urls import path, re_path

from renders.apis import public, reference

urlpatterns = [
    re_path(
        r"^og/(?P<slug>[-a-zA-Z0-9_]+)\.(?P<ext>png|jpg|jpeg|webp|svg|pdf)$",
        public.og_image,
        name="og-image",
    ),
    path("render", public.RenderImageView.as_view(), name="render-image"),
    path("i/<str:token>", public.SignedImageView.as_view(), name="signed-image"),
    path("template/<slug:name>", reference.TemplateImageView.as_view(), name="template-image"),
]

"""Routes under /ai (SPEC §8); included by config/urls.py as `path("ai", …)`."""

from django.urls import include, path, re_path

from ai_jobs import apis as views

job_routes = [
    path("replicate-webhook", views.ReplicateWebhookView.as_view(), name="ai-replicate-webhook"),
    re_path(
        r"^(?P<width>[0-9]{1,5})x(?P<height>[0-9]{1,5})/(?P<job_id>[0-9a-f]{24})\.png$",
        views.AiImageView.as_view(),
        name="ai-image",
    ),
    re_path(r"^(?P<job_id>[0-9a-f]{24})/status$", views.AiStatusView.as_view(), name="ai-status"),
]

urlpatterns = [
    path("", views.AiSubmitApi.as_view(), name="ai-submit"),
    # "/ai" itself is the submit route, so the rest hang below "/ai/".
    path("/", include(job_routes)),
]

from django.urls import path

from renders import views

urlpatterns = [
    path("usage", views.UsageApi.as_view(), name="usage"),
    path("images", views.ImageCreateApi.as_view(), name="image-create"),
    path("jobs/<uuid:job_id>", views.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/image", views.JobImageApi.as_view(), name="job-image"),
    path("templates", views.TemplateListApi.as_view(), name="template-list"),
    path("templates/<slug:slug>", views.TemplateDetailApi.as_view(), name="template-detail"),
    path(
        "templates/<slug:slug>/preview",
        views.TemplatePreviewApi.as_view(),
        name="template-preview",
    ),
    path("screenshots", views.ScreenshotCreateApi.as_view(), name="screenshot-create"),
    path("sizes", views.SizesApi.as_view(), name="sizes"),
    path("sign", views.SignApi.as_view(), name="sign"),
    path("batches", views.BatchCreateApi.as_view(), name="batch-create"),
    path("batches/<uuid:batch_id>", views.BatchDetailApi.as_view(), name="batch-detail"),
]

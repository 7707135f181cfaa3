from django.urls import path

from accounts.apis import UsageApi
from renders.apis import batches, images, jobs, screenshots, signing, templates
from webhooks import apis as webhooks

urlpatterns = [
    path("usage", UsageApi.as_view(), name="usage"),
    path("images", images.ImageCreateApi.as_view(), name="image-create"),
    path("jobs/<uuid:job_id>", jobs.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/image", jobs.JobImageApi.as_view(), name="job-image"),
    # Any job's id: a render's, a batch's or an AI job's (24 hex).
    path(
        "jobs/<str:job_id>/deliveries",
        webhooks.JobDeliveriesApi.as_view(),
        name="job-deliveries",
    ),
    path("templates", templates.TemplateListApi.as_view(), name="template-list"),
    path("templates/<slug:slug>", templates.TemplateDetailApi.as_view(), name="template-detail"),
    path(
        "templates/<slug:slug>/preview",
        templates.TemplatePreviewApi.as_view(),
        name="template-preview",
    ),
    path("screenshots", screenshots.ScreenshotCreateApi.as_view(), name="screenshot-create"),
    path("sizes", jobs.SizesApi.as_view(), name="sizes"),
    path("sign", signing.SignApi.as_view(), name="sign"),
    path("batches", batches.BatchCreateApi.as_view(), name="batch-create"),
    path("batches/<uuid:batch_id>", batches.BatchDetailApi.as_view(), name="batch-detail"),
]

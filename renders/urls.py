from django.urls import path

from renders import views

urlpatterns = [
    path("usage", views.UsageApi.as_view(), name="usage"),
    path("images", views.ImageCreateApi.as_view(), name="image-create"),
    path("jobs/<uuid:job_id>", views.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/image", views.JobImageApi.as_view(), name="job-image"),
]

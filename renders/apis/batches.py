"""POST /v1/batches and GET /v1/batches/{id}: one template at many sizes."""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import project_for_key
from config.api import KilnAPIView, base_url
from renders.selectors import (
    batch_get,
    batch_jobs,
    batch_state,
    render_bytes_base64,
    render_job_wait,
    template_get,
)
from renders.serializers import (
    BatchCreateInputSerializer,
    batch_json,
    template_output,
    template_params,
)
from renders.services.batches import batch_create


class BatchCreateApi(KilnAPIView):
    def post(self, request: Request) -> Response:
        serializer = BatchCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        template = template_get(project=project, slug=data["template"])
        batch = batch_create(
            account=request.user,
            project=project,
            template=template,
            params=template_params(data),
            options=template_output(data),
            sizes=data["sizes"],
            force=data["force"],
            webhook_url=data.get("webhook_url", ""),
        )
        jobs = batch_jobs(batch=batch)
        if not data["async"]:
            deadline = time.monotonic() + settings.KILN_SYNC_TIMEOUT
            jobs = [
                render_job_wait(job=job, timeout=max(0.0, deadline - time.monotonic()))
                for job in jobs
            ]
        state = batch_state(jobs=jobs)
        images = render_bytes_base64(jobs=jobs) if data["encoding"] == "base64" else None
        body = batch_json(state, batch=batch, base=base_url(request), images=images)
        return Response(body, status=status.HTTP_200_OK if state.finished else 202)


class BatchDetailApi(KilnAPIView):
    def get(self, request: Request, batch_id: str) -> Response:
        batch = batch_get(account=request.user, batch_id=batch_id)
        state = batch_state(jobs=batch_jobs(batch=batch))
        return Response(batch_json(state, batch=batch, base=base_url(request)))

"""GET /v1/jobs/{id}/deliveries: the webhook deliveries of a job and their attempts."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from config.api import KilnAPIView
from webhooks.selectors import job_deliveries
from webhooks.serializers import delivery_json


class JobDeliveriesApi(KilnAPIView):
    def get(self, request: Request, job_id: str) -> Response:
        deliveries = job_deliveries(account=request.user, job_id=job_id)
        return Response({"job": job_id, "deliveries": [delivery_json(d) for d in deliveries]})

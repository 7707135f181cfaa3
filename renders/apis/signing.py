"""POST /v1/sign: a signed, expiring URL for a template render that needs no key."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import project_for_key
from config.api import KilnAPIView, base_url
from renders.selectors import template_get
from renders.serializers import SignInputSerializer, template_output, template_params
from renders.services.signing import signed_url_create


class SignApi(KilnAPIView):
    def post(self, request: Request) -> Response:
        serializer = SignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_for_key(api_key=request.auth, slug=data.get("project"))
        signed = signed_url_create(
            api_key=request.auth,
            project=project,
            template=template_get(project=project, slug=data["template"]),
            params=template_params(data),
            options=template_output(data),
            expires_in=data["expires_in"],
            base_url=base_url(request),
        )
        return Response(
            {
                "url": signed.url,
                "token": signed.token,
                "og_url": signed.og_url,
                "expires_at": signed.expires_at.isoformat().replace("+00:00", "Z"),
            }
        )

"""GET /template/{name}: a tree template as PNG, in the URL shape of the reference
worker (reference 002): `?param=…&w=&h=&dpr=&digest=&force=&api_key=`."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request

from accounts.selectors import project_for_key
from config.api import parsed_once
from config.errors import KilnError
from renders.params import params_from_data
from renders.responses import PublicImageView, image_when_done
from renders.selectors import tree_template_named
from renders.serializers import REFERENCE_RESERVED, ReferenceTemplateQuerySerializer
from renders.services.jobs import render_job_create
from renders.services.kinds import iso_week, template_render_spec


class TemplateImageView(PublicImageView):
    def get(self, request: Request, name: str) -> HttpResponse:
        if request.auth is None:
            raise KilnError("UNAUTHORIZED", "pass ?api_key= or Authorization: Bearer <key>")
        api_key = request.auth

        def read():
            query = {k: v for k, v in request.query_params.items()}
            serializer = ReferenceTemplateQuerySerializer(data=query)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            project = project_for_key(api_key=api_key, slug=data.get("project"))
            template = tree_template_named(project=project, name=name)
            params = params_from_data(
                {k: v for k, v in query.items() if k not in REFERENCE_RESERVED}
            )
            tag = data.get("digest") or f"{iso_week()}.{template.updated_at:%Y%m%d%H%M%S}"
            spec = template_render_spec(
                account=api_key.account,
                template=template,
                params=params,
                options={
                    "width": _clamp(data.get("w")),
                    "height": _clamp(data.get("h")),
                    "dpr": data.get("dpr"),
                    "format": "png",
                },
                from_query=True,
            )
            return project, spec.replace(tag=tag), data.get("force", False)

        project, spec, force = parsed_once(request, read)
        job = render_job_create(account=api_key.account, project=project, spec=spec, force=force)
        return image_when_done(request, job)


def _clamp(side: int | None) -> int | None:
    """The reference clamps w and h to 1–4096 rather than refusing them."""
    return None if side is None else max(1, min(4096, side))

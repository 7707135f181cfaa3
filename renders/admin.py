"""Admin: templates (with a live preview and line-numbered errors), jobs, batches."""

from __future__ import annotations

import base64
import json

from django import forms
from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config.errors import KilnError
from renders.models import Batch, Font, RenderJob, Template
from renders.services.templates import template_digest, template_sample_document, template_save
from workers.rasterise import RenderInputError
from workers.templating import TemplateSourceError


class TemplateAdminForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = (
            "slug",
            "project",
            "engine",
            "name",
            "description",
            "source",
            "param_schema",
            "sample_params",
            "default_width",
            "default_height",
            "default_font",
        )
        widgets = {
            "source": forms.Textarea(
                attrs={"rows": 30, "cols": 120, "style": "font-family: monospace"}
            )
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = Template(pk=self.instance.pk, project=cleaned.get("project"))
        fields = {name: cleaned[name] for name in cleaned if name != "project"}
        try:
            # Validate exactly as the API does, without saving: compile, sandbox checks,
            # a render of the sample params.
            _validate_only(candidate, fields)
        except KilnError as exc:
            raise forms.ValidationError(exc.message) from None
        return cleaned


def _validate_only(template: Template, fields: dict) -> None:
    from django.db import IntegrityError, transaction

    class _Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            template_save(template=template, fields=fields)
            raise _Rollback
    except _Rollback:
        pass
    except IntegrityError:
        raise KilnError("CONFLICT", "a template with this slug exists in this project") from None


def preview_png(template: Template) -> bytes:
    """Render the sample params in-process (no queue) for the admin page: SVG and tree
    templates with the rasteriser, HTML templates in this process's browser pool."""
    from workers.specs import RenderSpec

    document = template_sample_document(template=template)
    output = RenderSpec(width=template.default_width, height=template.default_height)
    if template.engine == Template.Engine.HTML:
        from workers.browser import render_html

        return render_html(document, output).data
    from workers.rasterise import render_spec_svg
    from workers.specs import CanvasSpec

    return render_spec_svg(document.encode(), CanvasSpec(**output.to_json())).data


PREVIEW_FIELDS = (
    "engine",
    "source",
    "param_schema",
    "sample_params",
    "default_width",
    "default_height",
    "default_font",
)


def preview_of_draft(draft: dict) -> tuple[bytes | None, str]:
    """The preview of a template as it stands in the form (nothing saved): (PNG, "") or
    (None, the error), exactly as saving would judge it."""
    template = Template(slug="preview", engine=draft.get("engine") or Template.Engine.SVG)
    try:
        fields = {name: draft[name] for name in PREVIEW_FIELDS if name in draft}
        for name in ("param_schema", "sample_params"):
            if isinstance(fields.get(name), str):
                fields[name] = json.loads(fields[name] or "{}")
        for name in ("default_width", "default_height"):
            if name in fields:
                fields[name] = max(1, min(4096, int(fields[name])))
        _validate_only(template, fields)
        for name, value in fields.items():
            setattr(template, name, value)
        return preview_png(template), ""
    except (ValueError, TypeError) as exc:
        return None, f"invalid field: {exc}"
    except (KilnError, TemplateSourceError, RenderInputError) as exc:
        return None, getattr(exc, "message", str(exc))


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    form = TemplateAdminForm
    list_display = (
        "slug",
        "project",
        "engine",
        "name",
        "default_width",
        "default_height",
        "updated_at",
    )
    list_filter = ("engine", ("project", admin.EmptyFieldListFilter))
    search_fields = ("slug", "name")
    readonly_fields = ("digest", "preview", "created_at", "updated_at")

    class Media:
        # Re-renders the preview as the source, schema or samples change (debounced).
        js = ("kiln/template-preview.js",)

    @admin.display(description="Live preview (sample params)")
    def preview(self, obj: Template) -> str:
        image, error = (None, "Edit the source to see a preview.")
        if obj.pk is not None:
            try:
                image, error = preview_png(obj), ""
            except (KilnError, TemplateSourceError, RenderInputError) as exc:
                error = getattr(exc, "message", str(exc))
        src = f"data:image/png;base64,{base64.b64encode(image).decode()}" if image else ""
        return format_html(
            '<div id="kiln-preview" data-url="{}"><img src="{}" alt="" '
            'style="max-width:600px;border:1px solid #ccc{}"><pre style="color:#b00">{}</pre>'
            "</div>",
            reverse("admin:renders_template_preview"),
            src,
            "" if image else ";display:none",
            error,
        )

    def get_urls(self):
        preview = path(
            "preview/",
            self.admin_site.admin_view(self.preview_view),
            name="renders_template_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """POST the form's fields as JSON → {"png": base64} or {"error": message}."""
        if request.method != "POST" or not self.has_view_or_change_permission(request):
            return JsonResponse({"error": "POST the template's fields"}, status=405)
        try:
            draft = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"error": "the body must be JSON"}, status=400)
        image, error = preview_of_draft(draft if isinstance(draft, dict) else {})
        if image is None:
            return JsonResponse({"error": error})
        return JsonResponse({"png": base64.b64encode(image).decode()})

    def save_model(self, request, obj, form, change):
        obj.digest = template_digest(obj)
        super().save_model(request, obj, form, change)


@admin.register(RenderJob)
class RenderJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "account",
        "kind",
        "status",
        "format",
        "width",
        "height",
        "cached",
        "generation_ms",
        "attempts",
        "error_code",
        "created_at",
    )
    list_filter = ("status", "kind", "format", "cached", "error_code")
    search_fields = ("id", "cache_key", "account__slug")
    readonly_fields = [f.name for f in RenderJob._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("id", "account", "template_slug", "created_at")
    readonly_fields = ("id", "account", "template_slug", "webhook_url", "created_at")


class FontAdminForm(forms.ModelForm):
    class Meta:
        model = Font
        fields = ("family", "file")

    def clean(self):
        """Refuse a file that is not a font before anything is stored."""
        import tempfile
        from pathlib import Path

        from workers.fonts import font_file_face

        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is None or not hasattr(upload, "chunks"):
            return cleaned
        suffix = Path(upload.name).suffix.lower()
        if suffix not in (".ttf", ".otf", ".woff2"):
            raise forms.ValidationError("upload a .ttf, .otf or .woff2 file")
        with tempfile.NamedTemporaryFile(suffix=suffix) as copy:
            for chunk in upload.chunks():
                copy.write(chunk)
            copy.flush()
            try:
                face = font_file_face(copy.name, cleaned.get("family") or None)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        upload.seek(0)
        cleaned["family"] = face.family
        return cleaned


@admin.register(Font)
class FontAdmin(admin.ModelAdmin):
    form = FontAdminForm
    list_display = ("family", "file", "uploaded_at")
    readonly_fields = ("uploaded_at",)

    def save_model(self, request, obj, form, change):
        from renders.fonts import font_upload_register

        obj.family = form.cleaned_data["family"]
        super().save_model(request, obj, form, change)
        family = font_upload_register(obj)
        self.message_user(request, f"Font family '{family}' is available to templates.")

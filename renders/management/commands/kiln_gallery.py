"""manage.py kiln_gallery [--out docs/gallery.png] [--sizes]: render every built-in
template with its sample params into a contact sheet, in-process (no worker, no database,
no network: image params are left empty).

With --sizes, also write one sheet per template with every size preset to
/tmp/kiln-gallery/<slug>-sizes.png, for checking that nothing overflows or looks empty.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from PIL import Image

from config.errors import KilnError
from renders.builtins import builtin_files
from renders.params import params_validate
from renders.sizes import SIZE_PRESETS
from workers.rasterise import RenderInputError, render_svg
from workers.templating import TemplateContext, TemplateSourceError, render_template_svg

SIZES_DIR = Path("var/gallery")  # under the checkout, like the rest of var/
OG_SIZE = SIZE_PRESETS["og"]
SHEET_BG = "#0e0f13"
LABEL = "#f4f4f5"
LABEL_MUTED = "#8b8d98"


@dataclass(frozen=True)
class Builtin:
    slug: str
    name: str
    source: str
    schema: dict
    sample_params: dict
    font: str

    def params(self, **overrides) -> dict:
        given = {**self.sample_params, **overrides}
        return params_validate(slug=self.slug, schema=self.schema, given=given, from_query=False)


def builtins() -> list[Builtin]:
    """Every built-in, read from its files."""
    found = []
    for slug, meta_path, source_path in builtin_files():
        meta = json.loads(meta_path.read_text())
        found.append(
            Builtin(
                slug=slug,
                name=meta.get("name", slug),
                source=source_path.read_text(),
                schema=meta["param_schema"],
                sample_params=meta.get("sample_params", {}),
                font=meta.get("default_font", "Inter"),
            )
        )
    return found


def render_svg_source(template: Builtin, params: dict, width: int, height: int) -> str:
    return render_template_svg(
        template.source, params, TemplateContext(width=width, height=height, family=template.font)
    )


def render_png(template: Builtin, params: dict, width: int, height: int) -> bytes:
    """One built-in as PNG bytes, the way the svg worker renders it."""
    svg = render_svg_source(template, params, width, height)
    return render_svg(svg.encode(), format="png", width=width, height=height).data


@dataclass(frozen=True)
class Tile:
    title: str
    caption: str
    png: bytes
    width: int  # as drawn on the sheet
    height: int


def tile(title: str, caption: str, png: bytes, scale: float) -> Tile:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    size = (round(image.width * scale), round(image.height * scale))
    small = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "PNG")
    return Tile(title, caption, buffer.getvalue(), size[0], size[1])


def contact_sheet(tiles: list[Tile], *, max_width: int, gap: int = 32) -> bytes:
    """Tiles in rows (shelf packing), each with its label under it, as one PNG: an SVG of
    embedded images and text-engine labels, rasterised like any render."""
    from workers.text import layout_text

    label_h = 48
    parts, x, y, row_h, sheet_w = [], gap, gap, 0, 0
    for item in tiles:
        if x > gap and x + item.width + gap > max_width:
            x, y, row_h = gap, y + row_h + gap, 0
        data = base64.b64encode(item.png).decode()
        clip = f"c{len(parts)}"
        parts.append(
            f'<clipPath id="{clip}"><rect x="{x}" y="{y}" width="{item.width}" '
            f'height="{item.height}" rx="10"/></clipPath>'
            f'<image href="data:image/png;base64,{data}" x="{x}" y="{y}" width="{item.width}" '
            f'height="{item.height}" clip-path="url(#{clip})"/>'
            f'<rect x="{x + 0.5}" y="{y + 0.5}" width="{item.width - 1}" '
            f'height="{item.height - 1}" rx="10" fill="none" stroke="#ffffff" '
            f'stroke-opacity="0.08"/>'
        )
        title = layout_text(
            item.title,
            x=x + 2,
            y=y + item.height + 14,
            width=item.width - 4,
            max_lines=1,
            size=20,
            weight=700,
            color=LABEL,
            family="Inter",
        )
        parts.append(title.svg)
        if item.caption:
            caption = layout_text(
                item.caption,
                x=x + title.width + 14,
                y=y + item.height + 16,
                width=max(item.width - title.width - 16, 1),
                max_lines=1,
                size=17,
                weight=500,
                color=LABEL_MUTED,
                family="Inter",
            )
            parts.append(caption.svg)
        x += item.width + gap
        row_h = max(row_h, item.height + label_h)
        sheet_w = max(sheet_w, x)
    width, height = sheet_w, y + row_h + gap
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><rect width="{width}" height="{height}" '
        f'fill="{SHEET_BG}"/>{"".join(parts)}</svg>'
    )
    return render_svg(svg.encode(), format="png", width=width, height=height).data


class Command(BaseCommand):
    help = "Render every built-in template into a contact sheet PNG."

    def add_arguments(self, parser):
        parser.add_argument("--out", default="docs/gallery.png", help="the contact sheet")
        parser.add_argument(
            "--sizes",
            action="store_true",
            help=f"also write {SIZES_DIR}/<slug>-sizes.png with every size preset",
        )

    def handle(self, *args, **options):
        templates = builtins()
        if not templates:
            raise CommandError("no built-in templates found")
        width, height = OG_SIZE
        tiles = []
        for template in templates:
            try:
                png = render_png(template, template.params(), width, height)
            except (KilnError, TemplateSourceError, RenderInputError) as exc:
                raise CommandError(f"{template.slug}: {exc}") from None
            tiles.append(tile(template.slug, template.name, png, 0.5))
            self.stdout.write(f"  {template.slug}")
        out = Path(options["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(contact_sheet(tiles, max_width=2 * width // 2 + 3 * 32))
        self.stdout.write(f"{len(tiles)} templates → {out}")
        if options["sizes"]:
            SIZES_DIR.mkdir(parents=True, exist_ok=True)
            for template in templates:
                params = template.params()
                sheet = [
                    tile(
                        name,
                        f"{w}×{h}",
                        render_png(template, params, w, h),
                        0.5,
                    )
                    for name, (w, h) in SIZE_PRESETS.items()
                ]
                path = SIZES_DIR / f"{template.slug}-sizes.png"
                path.write_bytes(contact_sheet(sheet, max_width=3 * width // 2 + 4 * 32))
                self.stdout.write(f"  {path}")

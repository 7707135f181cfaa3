"""manage.py kiln_templates [--check]: load the built-in gallery; --check also renders
every built-in with its sample params through the full save validation."""

from django.core.management.base import BaseCommand, CommandError

from config.errors import KilnError
from renders.builtins import builtin_templates_sync
from renders.models import Template
from renders.services.templates import template_save


class Command(BaseCommand):
    help = "Load (or update) the built-in templates from renders/builtin_templates/."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="validate and test-render")

    def handle(self, *args, **options):
        changed = builtin_templates_sync()
        self.stdout.write(f"{changed} built-in template(s) loaded or updated")
        if options["check"]:
            for template in Template.objects.filter(project__isnull=True):
                try:
                    template_save(template=template, fields={})
                except KilnError as exc:
                    raise CommandError(f"{template.slug}: {exc.message}") from None
                self.stdout.write(f"  {template.slug}: ok")

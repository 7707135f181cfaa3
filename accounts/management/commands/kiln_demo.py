"""manage.py kiln_demo: the embedded default's demo account; prints a fresh secret key."""

from django.core.management.base import BaseCommand

from accounts.services import demo_account_ensure


class Command(BaseCommand):
    help = "Ensure the demo account exists and print a new secret key for it."

    def handle(self, *args, **options):
        _, raw_key = demo_account_ensure()
        self.stdout.write(raw_key)

"""manage.py kiln_webhook_secret show|rotate --account SLUG [--grace SECONDS]"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Account
from webhooks.models import RetiredSecret
from webhooks.services import webhook_secret_rotate


class Command(BaseCommand):
    help = (
        "Show an account's webhook signing secret, or rotate it: the old secret keeps "
        "signing beside the new one for a grace period (KILN_WEBHOOK_SECRET_GRACE)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["show", "rotate"])
        parser.add_argument("--account", required=True, help="account slug")
        parser.add_argument(
            "--grace",
            type=int,
            help="seconds the old secret keeps signing (default KILN_WEBHOOK_SECRET_GRACE)",
        )

    def handle(self, *args, **options):
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"no account '{options['account']}'")
        if options["action"] == "rotate":
            webhook_secret_rotate(account=account, grace_seconds=options["grace"])
        self.stdout.write(account.webhook_secret)
        retired = RetiredSecret.objects.filter(account=account, expires_at__gt=timezone.now())
        for old in retired:
            self.stdout.write(
                f"{old.secret} (retired, signs until {old.expires_at:%Y-%m-%dT%H:%M:%SZ})"
            )

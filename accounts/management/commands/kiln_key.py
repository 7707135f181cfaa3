"""manage.py kiln_key create --account SLUG [--project SLUG] [--publishable] | revoke PREFIX"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Account, ApiKey, Project
from accounts.services import api_key_create, api_key_revoke


class Command(BaseCommand):
    help = "Create or revoke API keys. A created key is printed once and never stored."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a key and print it")
        create.add_argument("--account", required=True, help="account slug")
        create.add_argument("--project", help="scope the key to this project slug")
        create.add_argument("--publishable", action="store_true", help="kiln_pk_ key")
        create.add_argument("--name", default="")
        create.add_argument("--expires-in-days", type=int)
        revoke = sub.add_parser("revoke", help="revoke a key by its prefix or whole key")
        revoke.add_argument("key", help="the key, or its first 16 characters")

    def handle(self, *args, **options):
        if options["action"] == "create":
            return self._create(options)
        return self._revoke(options)

    def _create(self, options) -> None:
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"no account '{options['account']}'")
        project = None
        if options["project"]:
            project = Project.objects.filter(account=account, slug=options["project"]).first()
            if project is None:
                raise CommandError(f"no project '{options['project']}' in {account.slug}")
        days = options["expires_in_days"]
        _, raw_key = api_key_create(
            account=account,
            project=project,
            kind=ApiKey.Kind.PUBLISHABLE if options["publishable"] else ApiKey.Kind.SECRET,
            name=options["name"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
        self.stdout.write(raw_key)

    def _revoke(self, options) -> None:
        prefix = options["key"][:16]
        keys = list(ApiKey.objects.filter(prefix=prefix))
        if len(keys) != 1:
            raise CommandError(f"{len(keys)} keys match '{prefix}'; give the whole prefix")
        api_key_revoke(api_key=keys[0])
        self.stdout.write(f"revoked {prefix}…")

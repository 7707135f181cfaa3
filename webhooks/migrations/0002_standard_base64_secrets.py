"""Accounts made before webhooks were sent had `whsec_` + URL-safe base64 secrets, which
Standard Webhooks' libraries decode to a different key than Kiln would sign with. Nothing
was ever signed with them: give those accounts a standard one."""

import base64
import binascii
import secrets

from django.db import migrations


def _is_standard(secret: str) -> bool:
    encoded = secret.removeprefix("whsec_")
    try:
        return secret.startswith("whsec_") and len(base64.b64decode(encoded, validate=True)) >= 16
    except (binascii.Error, ValueError):
        return False


def standard_secrets(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    for account in Account.objects.only("id", "webhook_secret"):
        if not _is_standard(account.webhook_secret):
            account.webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
            account.save(update_fields=["webhook_secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_monthlyusage_cache_hits"),
        ("webhooks", "0001_initial"),
    ]

    operations = [migrations.RunPython(standard_secrets, migrations.RunPython.noop)]

"""API keys: created once in plain text, stored as prefix + digest, checked strictly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    api_keys_last_used_flush,
    key_digest,
)
from config.errors import KilnError
from tests.factories import AccountFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_secret_and_publishable_keys_have_their_prefixes():
    account = AccountFactory()
    _, secret = api_key_create(account=account)
    _, publishable = api_key_create(account=account, kind=ApiKey.Kind.PUBLISHABLE)

    assert secret.startswith("kiln_sk_") and len(secret) > 40
    assert publishable.startswith("kiln_pk_")


def test_the_plain_key_is_never_stored():
    api_key, raw_key = api_key_create(account=AccountFactory())

    api_key.refresh_from_db()
    stored = [str(getattr(api_key, f.attname)) for f in ApiKey._meta.fields]
    assert raw_key not in " ".join(stored)
    assert api_key.digest == key_digest(raw_key)
    assert api_key.prefix == raw_key[:16]


def test_authenticate_finds_the_key_and_records_its_use_without_writing_the_row():
    api_key, raw_key = api_key_create(account=AccountFactory())

    assert api_key_authenticate(raw_key=raw_key) == api_key
    api_key.refresh_from_db()
    assert api_key.last_used_at is None  # noted in Redis: no write on the request path

    assert api_keys_last_used_flush() >= 1
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_a_revoked_key_stops_working_within_the_local_cache_bound(settings):
    """Another process revokes (here: the row is updated behind this process's back):
    the cached key keeps working for at most KILN_LOCAL_CACHE_SECONDS."""
    import time

    settings.KILN_LOCAL_CACHE_SECONDS = 0.5
    api_key, raw_key = api_key_create(account=AccountFactory())
    api_key_authenticate(raw_key=raw_key)
    ApiKey.objects.filter(id=api_key.id).update(revoked_at=timezone.now())

    api_key_authenticate(raw_key=raw_key)  # still the cached copy
    time.sleep(0.6)
    with pytest.raises(KilnError) as error:
        api_key_authenticate(raw_key=raw_key)
    assert error.value.code == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),
        lambda k: k + "x",
        lambda k: k[:16],
        lambda k: "kiln_xx_" + k[8:],
        lambda k: "",
    ],
)
def test_a_wrong_key_is_unauthorized(tamper):
    _, raw_key = api_key_create(account=AccountFactory())

    with pytest.raises(KilnError) as error:
        api_key_authenticate(raw_key=tamper(raw_key))
    assert error.value.code == "UNAUTHORIZED"


def test_revoked_and_expired_keys_are_unauthorized():
    account = AccountFactory()
    revoked, revoked_raw = api_key_create(account=account)
    api_key_revoke(api_key=revoked)
    _, expired_raw = api_key_create(
        account=account, expires_at=timezone.now() - timedelta(seconds=1)
    )

    for raw_key, message in ((revoked_raw, "revoked"), (expired_raw, "expired")):
        with pytest.raises(KilnError) as error:
            api_key_authenticate(raw_key=raw_key)
        assert error.value.code == "UNAUTHORIZED"
        assert message in error.value.message


def test_a_key_cannot_be_scoped_to_another_accounts_project():
    with pytest.raises(KilnError):
        api_key_create(account=AccountFactory(), project=ProjectFactory())


def test_kiln_key_command_creates_and_revokes(capsys):
    account = AccountFactory(slug="acme")
    project = ProjectFactory(account=account, slug="site")

    call_command("kiln_key", "create", "--account", "acme", "--project", "site")
    raw_key = capsys.readouterr().out.strip()
    api_key = api_key_authenticate(raw_key=raw_key)
    assert api_key.project == project

    call_command("kiln_key", "revoke", raw_key[:16])
    with pytest.raises(KilnError):
        api_key_authenticate(raw_key=raw_key)


def test_the_rate_limit_counts_in_batches_and_still_stops_at_the_limit():
    """Limit 500 a minute: this process adds to the shared count 5 at a time (1%), and
    refuses the 501st request all the same."""
    import time

    import redis
    from django.conf import settings

    from accounts.services import rate_limit_hit

    account = AccountFactory(plan__slug="rpm-500", plan__requests_per_minute=500)
    if timezone.now().second >= 58:  # all within one minute's window
        time.sleep(3)
    for _ in range(500):
        rate_limit_hit(account=account)
    with pytest.raises(KilnError) as error:
        rate_limit_hit(account=account)

    assert error.value.code == "RATE_LIMITED" and "Retry-After" in error.value.headers
    client = redis.Redis.from_url(settings.REDIS_URL)
    shared = sum(int(client.get(k)) for k in client.scan_iter(f"kiln:rate:{account.id}:*"))
    assert 495 <= shared <= 501  # the farm-wide count lags this process by < one batch

"""The Django admin issues keys: the plain key is shown once, in the confirmation."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from accounts.models import ApiKey
from accounts.services import api_key_authenticate
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.login(username="admin", password="pw")
    return client


def test_creating_a_key_in_the_admin_shows_it_once(admin_client):
    account = AccountFactory()

    response = admin_client.post(
        "/admin/accounts/apikey/add/",
        {"account": account.id, "kind": "secret", "name": "ci"},
        follow=True,
    )

    page = response.content.decode()
    shown = re.findall(r"kiln_sk_[A-Za-z0-9_-]{40,}", page)
    assert len(shown) == 1
    assert api_key_authenticate(raw_key=shown[0]).account == account
    listing = admin_client.get("/admin/accounts/apikey/").content.decode()
    assert shown[0] not in listing
    assert shown[0][:16] in listing


def test_revoke_action_revokes(admin_client):
    from accounts.services import api_key_create

    api_key, _ = api_key_create(account=AccountFactory())

    admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [api_key.id]},
        follow=True,
    )

    assert ApiKey.objects.get(id=api_key.id).revoked_at is not None


@pytest.mark.parametrize(
    "page",
    [
        "/admin/accounts/account/",
        "/admin/accounts/plan/",
        "/admin/accounts/project/",
        "/admin/renders/renderjob/",
        "/admin/accounts/monthlyusage/",
    ],
)
def test_admin_lists_open(admin_client, page):
    assert admin_client.get(page).status_code == 200

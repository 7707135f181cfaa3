"""Reads for accounts."""

from __future__ import annotations

from accounts.models import Account, ApiKey, MonthlyUsage, Project
from config.errors import KilnError


def usage_images_this_month(*, account: Account) -> int:
    from accounts.services import current_month

    row = MonthlyUsage.objects.filter(account=account, month=current_month()).first()
    return row.images if row else 0


def project_for_key(*, api_key: ApiKey, slug: str | None) -> Project | None:
    """The project a request acts on: the named one, else the key's own scope.

    A key scoped to one project may not act on another (403); an unknown slug is 404.
    """
    if not slug:
        return api_key.project
    project = Project.objects.filter(account_id=api_key.account_id, slug=slug).first()
    if project is None:
        raise KilnError("NOT_FOUND", f"no project '{slug}' in this account")
    if api_key.project_id is not None and api_key.project_id != project.id:
        raise KilnError("FORBIDDEN", f"this key is scoped to another project than '{slug}'")
    return project

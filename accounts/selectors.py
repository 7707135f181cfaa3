"""Reads for accounts: the month's usage, the project a key acts on.

Both sit on the hot path, so both are answered from a short cache when they can: the
month's usage from Redis (refreshed whenever it changes), projects in-process for
KILN_LOCAL_CACHE_SECONDS.
"""

from __future__ import annotations

from django.core.cache import cache
from django.utils import timezone

from accounts.models import Account, ApiKey, MonthlyUsage, Project
from config.errors import KilnError
from config.local_cache import TtlCache, local_cache_ttl

USAGE_CACHE_SECONDS = 300


def current_month() -> str:
    return timezone.now().strftime("%Y-%m")


def usage_cache_name(account_id: int, month: str) -> str:
    return f"usage:{account_id}:{month}"


_usage: TtlCache[int] = TtlCache(ttl=local_cache_ttl)


def usage_images_this_month(*, account: Account) -> int:
    """This month's rendered images: from this process's memory (for at most
    KILN_LOCAL_CACHE_SECONDS, refreshed at once by a render in this process), then
    Redis, then the row. Quota decisions never read this: quota_reserve is atomic."""
    month = current_month()
    name = usage_cache_name(account.id, month)
    used = _usage.get(name)
    if used is not None:
        return used
    used = cache.get(name)
    if used is None:
        row = MonthlyUsage.objects.filter(account=account, month=month).first()
        used = row.images if row else 0
        cache.set(name, used, timeout=USAGE_CACHE_SECONDS)
    return _usage.put(name, used)


def usage_forget(*, account_id: int, month: str) -> None:
    _usage.discard(usage_cache_name(account_id, month))


_projects: TtlCache[Project] = TtlCache(ttl=local_cache_ttl)


def project_for_key(*, api_key: ApiKey, slug: str | None) -> Project | None:
    """The project a request acts on: the named one, else the key's own scope.

    A key scoped to one project may not act on another (403); an unknown slug is 404.
    """
    if not slug:
        return api_key.project
    key = (api_key.account_id, slug)
    project = _projects.get(key)
    if project is None:
        project = Project.objects.filter(account_id=api_key.account_id, slug=slug).first()
        if project is None:
            raise KilnError("NOT_FOUND", f"no project '{slug}' in this account")
        _projects.put(key, project)
    if api_key.project_id is not None and api_key.project_id != project.id:
        raise KilnError("FORBIDDEN", f"this key is scoped to another project than '{slug}'")
    return project


def account_for_public_renders(*, slug: str) -> Account | None:
    """The account GET /render without a key is billed to (KILN_RENDER_PUBLIC_ACCOUNT)."""
    if not slug:
        return None
    return Account.objects.select_related("plan").filter(slug=slug).first()

"""Identical concurrent requests share one render (SPEC §1 single-flight)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from renders.models import RenderJob
from tests.factories import slow_svg_document

pytestmark = pytest.mark.usefixtures("farm")


def test_identical_concurrent_requests_share_one_render(live_server, secret_key):
    body = {"svg": slow_svg_document(layers=200, size=2500)}

    def post(_):
        return requests.post(
            f"{live_server.url}/v1/images",
            json=body,
            headers={"Authorization": f"Bearer {secret_key}"},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(post, range(8)))

    jobs = [response.json() for response in responses]
    assert [r.status_code for r in responses] == [200] * 8, jobs
    assert {job["status"] for job in jobs} == {"succeeded"}
    assert len({job["id"] for job in jobs}) == 8
    rows = RenderJob.objects.filter(id__in=[job["id"] for job in jobs])
    leaders = [row for row in rows if row.follows_id is None and not row.cached]
    assert len(leaders) == 1, [(r.follows_id, r.cached, r.attempts) for r in rows]
    assert sum(row.attempts for row in rows) == 1
    assert {row.storage_path for row in rows} == {leaders[0].storage_path}
    # At least one request really waited on the leader instead of hitting the cache.
    assert any(row.follows_id == leaders[0].id for row in rows)


def test_a_follower_that_arrives_after_the_leader_finished_is_completed_at_once(api):
    from renders.services.jobs import _follower_create

    response = api.post("/v1/images", {"svg": slow_svg_document(3, 50)}, format="json")
    leader = RenderJob.objects.get(id=response.json()["id"])
    fields = {
        name: getattr(leader, name)
        for name in ("account", "project", "kind", "params", "cache_key", "format")
    }

    follower = _follower_create(leader=leader, fields=fields)

    assert follower.status == "succeeded"
    assert follower.storage_path == leader.storage_path

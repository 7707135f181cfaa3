"""Webhooks in `make run`'s embedded default (SQLite, tasks in-process, no beat): the
delivery is made in-process when the job finishes; a due retry goes out with the next
delivery."""

from __future__ import annotations

import subprocess
import sys
import time

import requests

from tests.factories import svg_document
from tests.support.fixture_http import FixtureServer, Reply
from tests.support.processes import ROOT, free_port, start_embedded
from tests.support.webhook_receiver import WebhookReceiver


def test_the_embedded_default_delivers_and_retries(tmp_path):
    receiver_site = FixtureServer("127.0.0.1").start()
    port = free_port()
    server, key, env = start_embedded(
        tmp_path / "var",
        port,
        name="embedded-hooks",
        WEB_CONCURRENCY="1",
        # The receiver is on loopback: a trusted-LAN setting, as an operator would set it.
        KILN_ALLOW_PRIVATE_TARGETS="true",
        KILN_WEBHOOK_RETRY_SCHEDULE="0.5",
        KILN_WEBHOOK_SWEEP_INTERVAL="0.1",
    )
    try:
        secret = subprocess.run(
            [sys.executable, "manage.py", "kiln_webhook_secret", "show", "--account", "demo"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[0]
        receiver = WebhookReceiver(receiver_site, [secret], [Reply("later", status=500)])

        def render(fill: str) -> dict:
            response = requests.post(
                f"http://127.0.0.1:{port}/v1/images",
                json={"svg": svg_document(fill=fill), "webhook_url": receiver.url},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            return response.json()

        first = render("#101010")
        receiver.wait_requests(1)
        time.sleep(1)  # the retry is due now; nothing sends it until the next delivery
        assert len(receiver.received) == 1
        second = render("#202020")

        delivered = receiver.wait_delivered(2)
        assert {r.payload["data"]["id"] for r in delivered} == {first["id"], second["id"]}
        assert all(r.verified for r in receiver.received)
        retried = [r for r in receiver.received if r.payload["data"]["id"] == first["id"]]
        assert [r.answered for r in retried] == [500, 200]
        assert retried[0].webhook_id == retried[1].webhook_id
    finally:
        server.stop()
        receiver_site.stop()

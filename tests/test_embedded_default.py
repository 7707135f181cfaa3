"""`make run`'s embedded default, exactly as it starts: SQLite, local files, tasks
in-process, no DATABASE_URL or REDIS_URL, served by bin/kiln-run over HTTP."""

from __future__ import annotations

import io
import subprocess
import sys

import requests
from PIL import Image

from tests.factories import svg_document
from tests.support.processes import ROOT, free_port, start_embedded, wait_until


def test_embedded_default_serves_a_png(tmp_path):
    port = free_port()
    server, key, env = start_embedded(tmp_path / "var", port)
    try:
        response = requests.post(
            f"http://127.0.0.1:{port}/v1/images",
            json={"svg": svg_document(300, 150)},
            headers={"Authorization": f"Bearer {key}", "Accept": "image/png"},
            timeout=30,
        )

        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(response.content)).size == (300, 150)
        assert (tmp_path / "var" / "kiln.sqlite3").exists()
        assert list((tmp_path / "var" / "media" / "renders").rglob("*.png"))
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()
        assert ready["status"] == "ready"
        assert "embedded" in ready["checks"]["queue:svg"]

        # A publishable key in the query string (as in an <img src>) is never logged.
        publishable = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "kiln_key",
                "create",
                "--account",
                "demo",
                "--publishable",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        job = requests.post(
            f"http://127.0.0.1:{port}/v1/images",
            json={"svg": svg_document(30, 30)},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ).json()
        image = requests.get(f"{job['image_url']}?api_key={publishable}", timeout=30)
        assert image.status_code == 200
        # The access log has the line (gunicorn writes it just after the response).
        wait_until(
            lambda: f"/v1/jobs/{job['id']}/image" in server.output(),
            timeout=10,
            what="the access log line",
        )
        assert publishable not in server.output()
        assert publishable[8:] not in server.output()

        # The built-in templates are there too, rendered in-process: an og:image URL.
        card = requests.get(
            f"http://127.0.0.1:{port}/og/blog-post.png?title=Embedded&api_key={publishable}",
            timeout=60,
        )
        assert card.status_code == 200, card.text[:300]
        assert Image.open(io.BytesIO(card.content)).size == (1200, 630)
    finally:
        server.stop()

"""AI images on the real farm: gunicorn, a Celery worker on the `ai` queue, celery beat
(the poller), PostgreSQL and Redis, with the fake Replicate server sending real signed
webhooks to the running web server; and the <ai-img> element in headless Chromium.

The processes run on their own Redis database, so the shared test worker (which also
consumes `ai`) never takes these jobs.
"""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import redis
import requests
from PIL import Image

from ai_jobs.models import AiJob
from tests.factories import AccountFactory, PlanFactory, api_key_for
from tests.support.processes import (
    ROOT,
    Process,
    free_port,
    service_env,
    start_beat,
    start_web,
    start_worker,
    wait_until,
)

REDIS_URL = "redis://127.0.0.1:6379/9"


@dataclass
class AiFarm:
    url: str
    processes: list[Process]

    def logs(self) -> str:
        return "\n".join(p.output()[-2000:] for p in self.processes)


@pytest.fixture(scope="module")
def ai_farm(test_database_name, fake_replicate, tmp_path_factory):
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    static_root = tmp_path_factory.mktemp("static")
    env = service_env(
        test_database_name,
        REDIS_URL=REDIS_URL,
        KILN_PUBLIC_URL=f"http://127.0.0.1:{port}",
        KILN_STATIC_ROOT=str(static_root),
        REPLICATE_BASE_URL=fake_replicate.url,
        REPLICATE_API_TOKEN=fake_replicate.token,
        # The fake's output files are on 127.0.0.1.
        KILN_ALLOW_PRIVATE_TARGETS="true",
        KILN_AI_MAX_OUTPUT_BYTES="1000000",
        # Poll quickly: a job quiet for 2 s is asked about at the next 1 s beat.
        KILN_AI_POLL_AFTER="2",
        KILN_AI_POLL_INTERVAL="1",
    )
    # As in production (README, "The farm"): whitenoise serves the collected files.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        env=env,
        cwd=ROOT,
        check=True,
    )
    with ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(start_web, env, name="ai-web", port=port),
            pool.submit(start_worker, env, name="ai-worker", queues="ai", concurrency=2),
            pool.submit(start_beat, env, static_root / "beat-schedule", name="ai-beat"),
        ]
    processes = [f.result() for f in futures]
    yield AiFarm(f"http://127.0.0.1:{port}", processes)
    for process in processes:
        process.stop()
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def farm_key(transactional_db):
    account = AccountFactory(plan=PlanFactory(slug="farm-ai", ai_allowed=True))
    return api_key_for(account)


def submit(farm: AiFarm, key: str, **body) -> dict:
    response = requests.post(
        f"{farm.url}/ai", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_state(farm: AiFarm, job: dict, state: str, timeout: float = 20) -> dict:
    status: dict = {}

    def reached() -> bool:
        nonlocal status
        status = requests.get(f"{farm.url}{job['status_url']}", timeout=5).json()
        return status["state"] == state

    try:
        wait_until(reached, timeout=timeout, what=f"state {state}")
    except TimeoutError:
        raise AssertionError(f"last status {status}\n{farm.logs()}") from None
    return status


def test_the_whole_happy_path_over_the_ai_queue_and_signed_webhooks(
    ai_farm, farm_key, fake_replicate
):
    job = submit(ai_farm, farm_key, prompt="farm fox in snow", w=400, h=240)
    first = requests.get(f"{ai_farm.url}{job['url']}", timeout=10)

    status = wait_for_state(ai_farm, job, "ready")
    final = requests.get(f"{ai_farm.url}{status['url']}", timeout=10)

    assert first.status_code == 200
    assert first.headers["X-AI-State"] in ("pending", "generating")
    assert first.headers["Cache-Control"] == "public, max-age=5"
    assert status["url"] == job["url"]  # one stable URL, placeholder then image
    assert final.status_code == 200
    assert final.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert final.content != first.content
    assert Image.open(io.BytesIO(final.content)).size == (400, 240)
    (create,) = fake_replicate.creates_for("farm fox in snow")
    assert create["body"]["webhook"] == f"{ai_farm.url}/ai/replicate-webhook?job={job['id']}"
    prediction = fake_replicate.prediction_for("farm fox in snow")
    sent = fake_replicate.webhooks_for(prediction["id"])
    assert [(w.event, w.status) for w in sent] == [("start", 200), ("completed", 200)]
    row = AiJob.objects.get(id=job["id"])
    assert row.started_at is not None and row.finished_at >= row.started_at


def test_racing_identical_submissions_start_one_prediction(ai_farm, farm_key, fake_replicate):
    body = {"prompt": "farm fox racing itself", "w": 256, "h": 256, "seed": 3}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: submit(ai_farm, farm_key, **body), range(8)))

    assert len({a["id"] for a in answers}) == 1
    wait_for_state(ai_farm, answers[0], "ready")
    assert len(fake_replicate.creates_for("farm fox racing itself")) == 1
    assert AiJob.objects.filter(id=answers[0]["id"]).count() == 1


def test_webhooks_out_of_order_or_twice_end_ready_with_one_download(
    ai_farm, farm_key, fake_replicate
):
    reverse = submit(ai_farm, farm_key, prompt="[reverse] farm fox", w=256, h=256)
    twice = submit(ai_farm, farm_key, prompt="[duplicate] farm fox", w=256, h=256)

    wait_for_state(ai_farm, reverse, "ready")
    wait_for_state(ai_farm, twice, "ready")

    for marker in ("[reverse]", "[duplicate]"):
        prediction = fake_replicate.prediction_for(f"{marker} farm fox")
        assert all(w.status == 200 for w in fake_replicate.webhooks_for(prediction["id"]))
        assert fake_replicate.downloads[f"{prediction['id']}.png"] == 1


def test_a_job_whose_webhook_never_arrives_is_finished_by_the_poller(
    ai_farm, farm_key, fake_replicate
):
    job = submit(ai_farm, farm_key, prompt="[no-webhook] farm fox", w=256, h=256)

    wait_for_state(ai_farm, job, "ready", timeout=30)

    prediction = fake_replicate.prediction_for("[no-webhook] farm fox")
    assert fake_replicate.webhooks_for(prediction["id"]) == []


def test_the_ai_img_element_shows_the_placeholder_then_the_image_and_backs_off(ai_farm, farm_key):
    from playwright.sync_api import sync_playwright

    page_url = f"{ai_farm.url}/__ai_img_test__.html"
    html = f"""<!doctype html><html><body>
      <script>
        window.events = [];
        for (const name of ["ai-img:ready", "ai-img:failed"]) {{
          document.addEventListener(name, (e) => window.events.push(
            {{name, tag: e.target.tagName, state: e.detail.state, url: e.detail.url || null}}));
        }}
      </script>
      <script type="module" src="/static/kiln/ai-img.js"></script>
      <ai-img id="fox" prompt="[slow] browser fox" w="320" h="190" api-key="{farm_key}"
              alt="a fox"></ai-img>
    </body></html>"""
    status_times: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            page = browser.new_page()
            # The test page is served on Kiln's own origin, like a site hosting Kiln.
            page.route(page_url, lambda route: route.fulfill(body=html, content_type="text/html"))
            page.on(
                "request",
                lambda r: status_times.append(time.monotonic()) if "/status" in r.url else None,
            )
            page.goto(page_url)

            # The placeholder is there at once, and then the server's, while it generates.
            page.wait_for_function(
                "() => { const i = document.querySelector('#fox img');"
                " return i && i.complete && i.naturalWidth > 0; }"
            )
            page.wait_for_function(
                "() => document.querySelector('#fox img').src.includes('/ai/320x192/')"
            )
            placeholder = page.eval_on_selector("#fox", "e => e.dataset.state")
            assert placeholder in ("pending", "generating")

            page.wait_for_function(
                "() => document.querySelector('#fox').dataset.state === 'ready'", timeout=20_000
            )
            image = page.eval_on_selector(
                "#fox img",
                "i => ({src: i.src, w: i.naturalWidth, h: i.naturalHeight, alt: i.alt,"
                " done: i.complete})",
            )
            events = page.evaluate("window.events")
            polls = list(status_times)  # this element's polls (the next one polls too)
            job_id = image["src"].split("/")[-1].split(".")[0]

            # URL mode: the stable URL and its status URL, no key, no POST.
            page.evaluate(
                """([src, status]) => {
                  const el = document.createElement('ai-img');
                  el.id = 'by-url'; el.setAttribute('w', '320'); el.setAttribute('h', '192');
                  el.setAttribute('src', src); el.setAttribute('status', status);
                  document.body.append(el);
                }""",
                [f"/ai/320x192/{job_id}.png", f"/ai/{job_id}/status"],
            )
            page.wait_for_function(
                "() => document.querySelector('#by-url').dataset.state === 'ready'"
            )
            by_url = page.evaluate("window.events")[-1]
        finally:
            browser.close()

    assert image["done"] and (image["w"], image["h"]) == (320, 192)
    assert image["alt"] == "a fox"
    assert f"/ai/320x192/{job_id}.png" in image["src"]
    assert events == [
        {
            "name": "ai-img:ready",
            "tag": "AI-IMG",
            "state": "ready",
            "url": f"{ai_farm.url}/ai/320x192/{job_id}.png",
        }
    ]
    assert by_url["name"] == "ai-img:ready" and by_url["url"] == events[0]["url"]
    # Backoff: 500 ms, then doubling (a gap is the wait plus the previous poll's answer).
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert len(gaps) >= 3, polls
    for i, gap in enumerate(gaps[:4]):
        wait = 0.5 * 2**i
        assert wait * 0.95 <= gap <= wait + 1.5, gaps
    assert AiJob.objects.get(id=job_id).state == "ready"

"""Deliveries under faults, on a farm of their own that the tests may break: a private
Redis, gunicorn, an `svg` worker, a `webhooks` worker that gets SIGKILLed, celery beat
(the sweep), and a receiver that goes down and comes back on the same port.

Also the reliability figure of the webhooks issue: 200 renders with a webhook_url while
the webhooks worker is SIGKILLed 3 times and the receiver answers 503 to every third
request: every delivery arrives (distinct webhook-ids), duplicates are counted.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import redis
import requests
from django.conf import settings

from tests.factories import api_key_for, svg_document
from tests.support.fixture_http import FixtureServer, Reply
from tests.support.processes import (
    Process,
    free_port,
    service_env,
    start_beat,
    start_redis,
    start_web,
    start_worker,
)
from tests.support.webhook_receiver import OK, WebhookReceiver
from tests.webhooks.conftest import RELIABILITY
from tests.webhooks.test_deliveries import delivery_of

# Short everything: a 5 s attempt timeout (a 10 s lease), a sweep every second, and a
# retry schedule long enough that a receiver failing a third of the time never exhausts it.
FARM_SETTINGS = {
    "KILN_WEBHOOK_TIMEOUT": "5",
    "KILN_WEBHOOK_SWEEP_INTERVAL": "1",
    "KILN_WEBHOOK_RETRY_SCHEDULE": "0.5,1,1,1,2,2,2,2,2,2,2,2",
    "KILN_TASK_TIME_LIMIT": "15",
    "KILN_VISIBILITY_TIMEOUT": "20",
}


@dataclass
class HooksFarm:
    url: str
    env: dict[str, str]
    broker: redis.Redis
    receiver_port: int
    webhooks_worker: Process
    processes: list[Process]
    server: FixtureServer | None = None
    restarts: int = 0
    routes: dict = field(default_factory=dict)

    def receiver(self, account, answers=()) -> WebhookReceiver:
        made = WebhookReceiver(self.server, [account.webhook_secret], answers)
        self.routes[made.path] = self.server.routes[made.path]
        return made

    def receiver_down(self) -> None:
        self.server.stop()

    def receiver_up(self) -> None:
        self.server = FixtureServer("127.0.0.1", port=self.receiver_port).start()
        self.server.routes.update(self.routes)

    def kill_webhooks_worker(self) -> None:
        self.webhooks_worker.kill()  # SIGKILL to the worker and its children

    def start_webhooks_worker(self) -> None:
        self.restarts += 1
        self.webhooks_worker = start_worker(
            self.env, name=f"hooks-webhooks-{self.restarts}", queues="webhooks", concurrency=2
        )
        self.processes.append(self.webhooks_worker)

    def render(self, key: str, receiver: WebhookReceiver, session=requests) -> dict:
        response = session.post(
            f"{self.url}/v1/images",
            json={
                "svg": svg_document(fill=f"#{uuid.uuid4().hex[:6]}"),
                "webhook_url": receiver.url,
                "async": True,
            },
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        return response.json()

    def logs(self) -> str:
        return "\n".join(p.output()[-3000:] for p in self.processes)


@pytest.fixture(scope="module")
def hooks_farm(test_database_name, tmp_path_factory):
    redis_port, web_port, receiver_port = free_port(), free_port(), free_port()
    broker = start_redis(redis_port, "hooks-redis")
    server = FixtureServer("127.0.0.1", port=receiver_port).start()
    env = service_env(
        test_database_name,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        KILN_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
        KILN_TEST_GUARD_ENDPOINTS=server.endpoint,
        **FARM_SETTINGS,
    )
    schedule = tmp_path_factory.mktemp("beat") / "schedule"
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(start_web, env, name="hooks-web", port=web_port),
            pool.submit(start_worker, env, name="hooks-svg", queues="svg", concurrency=2),
            pool.submit(
                start_worker, env, name="hooks-webhooks-0", queues="webhooks", concurrency=2
            ),
            pool.submit(start_beat, env, schedule, name="hooks-beat"),
        ]
    web, svg, webhooks, beat = (f.result() for f in futures)
    farm = HooksFarm(
        url=f"http://127.0.0.1:{web_port}",
        env=env,
        broker=redis.Redis(port=redis_port),
        receiver_port=receiver_port,
        webhooks_worker=webhooks,
        processes=[web, svg, webhooks, beat, broker],
        server=server,
    )
    yield farm
    for process in farm.processes:
        process.stop_quietly()
    if farm.server is not None:
        farm.server.stop()


@pytest.fixture
def farm_account(transactional_db, settled):
    from tests.factories import AccountFactory

    account = AccountFactory()
    return account, api_key_for(account)


def test_a_receiver_that_is_down_then_up_gets_the_delivery(hooks_farm, farm_account):
    account, key = farm_account
    receiver = hooks_farm.receiver(account)
    hooks_farm.receiver_down()
    try:
        job = hooks_farm.render(key, receiver)
        delivery_of(job["id"], state=None, attempts__gte=3)
    finally:
        hooks_farm.receiver_up()

    delivery = delivery_of(job["id"], timeout=60)

    failures = [a for a in delivery.attempt_log.all() if a.outcome == "retry"]
    assert len(failures) >= 3
    assert all("could not connect" in a.error for a in failures)
    assert delivery.attempt_log.last().status == 200
    (got,) = receiver.received  # nothing reached it while it was down
    assert got.verified and got.webhook_id == delivery.webhook_id


def test_a_worker_killed_mid_delivery_leads_to_a_resend_with_the_same_id(hooks_farm, farm_account):
    account, key = farm_account
    # The first request is held for 3 s (within the 5 s timeout): the worker dies meanwhile.
    receiver = hooks_farm.receiver(account, [Reply('{"ok": true}', delay=3)])

    job = hooks_farm.render(key, receiver)
    receiver.wait_requests(1, timeout=30)
    hooks_farm.kill_webhooks_worker()
    hooks_farm.start_webhooks_worker()

    delivery = delivery_of(job["id"], timeout=60)
    first, second = receiver.received[:2]
    assert first.webhook_id == second.webhook_id == delivery.webhook_id
    assert first.body == second.body and first.verified and second.verified
    # The killed attempt never got to record itself; its number is not reused.
    assert [a.number for a in delivery.attempt_log.all()] == [2]
    assert delivery.attempts == 2


def test_a_lost_message_is_picked_up_by_the_sweep(hooks_farm, farm_account):
    account, key = farm_account
    receiver = hooks_farm.receiver(account)
    hooks_farm.kill_webhooks_worker()
    try:
        job = hooks_farm.render(key, receiver)
        delivery_of(job["id"], state=None)
        time.sleep(0.5)  # its message is in the queue by now: lose it
        lost = [k for k in hooks_farm.broker.keys("webhooks*") if not k.endswith(b"binding")]
        assert lost, hooks_farm.broker.keys("*")
        hooks_farm.broker.delete(*lost)
    finally:
        hooks_farm.start_webhooks_worker()

    delivery = delivery_of(job["id"])

    assert delivery.attempts == 1
    assert len(receiver.received) == 1
    assert "webhook sweep: queued" in hooks_farm.webhooks_worker.output()


RENDERS = 200
KILLS = 3


def test_reliability_figure(hooks_farm, farm_account):
    account, key = farm_account
    served = {"n": 0, "503": 0}
    lock = threading.Lock()

    def every_third_is_503(number: int) -> Reply:
        with lock:
            served["n"] += 1
            if served["n"] % 3 == 0:
                served["503"] += 1
                return Reply("busy", status=503, content_type="text/plain", delay=0.05)
        return Reply(OK.body, content_type=OK.content_type, delay=0.05)

    receiver = hooks_farm.receiver(account, every_third_is_503)
    started = time.monotonic()
    session = requests.Session()
    with ThreadPoolExecutor(4) as pool:
        jobs = list(pool.map(lambda _: hooks_farm.render(key, receiver, session), range(RENDERS)))

    kills = 0
    for threshold in (RENDERS * (k + 1) // (KILLS + 2) for k in range(KILLS)):
        receiver.wait_for(
            lambda got, t=threshold: len({r.webhook_id for r in got}) >= t,
            timeout=90,
            what=f"{threshold} webhook-ids before kill {kills + 1}",
        )
        hooks_farm.kill_webhooks_worker()
        kills += 1
        hooks_farm.start_webhooks_worker()
    receiver.wait_delivered(RENDERS, timeout=120)
    elapsed = time.monotonic() - started

    accepted = [r for r in receiver.received if 200 <= r.answered < 300]
    ids = {r.webhook_id for r in accepted}
    subjects = {r.payload["data"]["id"] for r in accepted}
    figure = {
        "renders": RENDERS,
        "worker_kills": kills,
        "requests_received": len(receiver.received),
        "answered_503": served["503"],
        "distinct_webhook_ids_delivered": len(ids),
        "lost": RENDERS - len(subjects),
        "duplicates": len(accepted) - len(ids),
        "seconds": round(elapsed, 1),
    }
    RELIABILITY.update(figure)
    out = settings.KILN_VAR_DIR / "webhook-reliability.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figure, indent=2))
    assert subjects == {job["id"] for job in jobs}
    assert figure["lost"] == 0 and len(ids) == RENDERS
    assert all(r.verified for r in receiver.received)
    assert served["503"] > 0 and kills == KILLS

"""The webhook engine (workers/webhooks.py): signatures checked with the official
`standardwebhooks` library, one attempt against a local receiver, the retry schedule."""

from __future__ import annotations

import base64
import email.utils
import random
import socket
import time

import pytest
from standardwebhooks import Webhook

from tests.support.fixture_http import FixtureServer, Reply
from tests.support.processes import free_port
from tests.support.webhook_receiver import WebhookReceiver
from workers import webhooks
from workers.address_guard import GuardPolicy

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
BODY = b'{"type":"render.completed","timestamp":"2026-01-01T00:00:00Z","data":{"id":"\xc3\xa9"}}'


@pytest.fixture(scope="module")
def server():
    server = FixtureServer("127.0.0.1").start()
    yield server
    server.stop()


@pytest.fixture
def policy(server) -> GuardPolicy:
    return GuardPolicy(exempt_endpoints=frozenset({server.endpoint}))


def send(url: str, policy: GuardPolicy, *, timeout: float = 5.0, secrets=(SECRET,)):
    return webhooks.send(
        url, msg_id="msg_1", body=BODY, secrets=list(secrets), timeout=timeout, policy=policy
    )


# --- signing --------------------------------------------------------------------------


def test_the_signature_verifies_with_the_standard_library():
    headers = webhooks.signed_headers(
        secrets=[SECRET], msg_id="msg_abc", timestamp=int(time.time()), body=BODY
    )

    assert Webhook(SECRET).verify(BODY, headers)["data"]["id"] == "é"
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-signature"].startswith("v1,")


def test_during_a_rotation_each_secret_signs_and_each_verifies():
    headers = webhooks.signed_headers(
        secrets=[SECRET, OTHER], msg_id="msg_abc", timestamp=int(time.time()), body=BODY
    )

    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(BODY, headers)
    Webhook(OTHER).verify(BODY, headers)


def test_a_tampered_body_or_an_old_timestamp_does_not_verify():
    from standardwebhooks.webhooks import WebhookVerificationError

    fresh = webhooks.signed_headers(
        secrets=[SECRET], msg_id="m", timestamp=int(time.time()), body=BODY
    )
    stale = webhooks.signed_headers(
        secrets=[SECRET], msg_id="m", timestamp=int(time.time()) - 3600, body=BODY
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"render", b"batch"), fresh)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, stale)


def test_only_standard_base64_secrets_are_secrets():
    assert webhooks.is_secret(SECRET)
    assert webhooks.is_secret(SECRET.rstrip("="))  # unpadded reads the same
    assert not webhooks.is_secret("whsec_" + "-_" * 22)  # URL-safe: another key elsewhere
    assert not webhooks.is_secret("whsec_c2hvcnQ=")  # 5 bytes
    with pytest.raises(ValueError):
        webhooks.sign(secrets=["whsec_%%%"], msg_id="m", timestamp=1, body=b"")


# --- one attempt ----------------------------------------------------------------------


def test_a_2xx_is_delivered_with_the_signed_headers_and_an_excerpt(server, policy):
    receiver = WebhookReceiver(server, [SECRET], [Reply("thanks", status=202)])

    attempt = send(receiver.url, policy)

    assert attempt.outcome == webhooks.DELIVERED
    assert (attempt.status, attempt.excerpt, attempt.error) == (202, "thanks", "")
    (got,) = receiver.received
    assert got.verified and got.webhook_id == "msg_1" and got.body == BODY
    assert abs(int(got.timestamp) - time.time()) < 5
    assert got.headers["content-type"] == "application/json"


def test_a_long_answer_is_cut_to_one_kilobyte_and_still_delivered(server, policy):
    receiver = WebhookReceiver(server, [SECRET], [Reply("é" * 5000, status=200)])

    attempt = send(receiver.url, policy)

    assert attempt.outcome == webhooks.DELIVERED
    assert len(attempt.excerpt.encode()) <= webhooks.EXCERPT_BYTES + 3  # a cut character
    assert attempt.excerpt.startswith("éé")


def test_410_gone_stops_and_500_retries(server, policy):
    gone = WebhookReceiver(server, [SECRET], [410])
    broken = WebhookReceiver(server, [SECRET], [Reply("oops", status=500)])

    assert send(gone.url, policy).outcome == webhooks.GONE
    attempt = send(broken.url, policy)
    assert (attempt.outcome, attempt.status, attempt.error) == ("retry", 500, "HTTP 500")
    assert attempt.excerpt == "oops"


def test_a_redirect_is_a_failure_and_is_not_followed(server, policy):
    target = WebhookReceiver(server, [SECRET])
    moved = WebhookReceiver(
        server, [SECRET], [Reply("", status=301, headers={"Location": target.url})]
    )

    attempt = send(moved.url, policy)

    assert attempt.outcome == webhooks.RETRY
    assert attempt.status == 301 and "not followed" in attempt.error
    assert target.received == []


def test_retry_after_is_read_from_a_429(server, policy):
    receiver = WebhookReceiver(
        server, [SECRET], [Reply("", status=429, headers={"Retry-After": "7"})]
    )

    attempt = send(receiver.url, policy)

    assert (attempt.outcome, attempt.status, attempt.retry_after) == ("retry", 429, 7.0)


def test_a_receiver_slower_than_the_timeout_is_a_retry(server, policy):
    receiver = WebhookReceiver(server, [SECRET], [Reply("late", delay=3)])

    started = time.monotonic()
    attempt = send(receiver.url, policy, timeout=0.5)

    assert time.monotonic() - started < 2
    assert attempt.outcome == webhooks.RETRY and attempt.status is None
    assert "timed out" in attempt.error


def test_nobody_listening_is_a_retry():
    port = free_port()
    policy = GuardPolicy(exempt_endpoints=frozenset({f"127.0.0.1:{port}"}))

    attempt = send(f"http://127.0.0.1:{port}/hook", policy)

    assert attempt.outcome == webhooks.RETRY and attempt.status is None
    assert "could not connect" in attempt.error


def test_a_private_address_is_refused_and_never_contacted(server):
    receiver = WebhookReceiver(server, [SECRET])

    attempt = send(receiver.url, GuardPolicy())  # the default policy: no exemption

    assert attempt.outcome == webhooks.REFUSED
    assert attempt.error == "forbidden_address:127.0.0.1"
    assert receiver.received == []


def test_a_name_that_resolves_to_loopback_is_refused_at_connect(server, monkeypatch):
    # A rebinding DNS answer, at the resolver (the boundary of this machine): the name
    # passed the submit-time check, and now points at loopback.
    name = "rebind.test"
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != name:
            return real(host, port, family, type, proto, flags)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    receiver = WebhookReceiver(server, [SECRET])
    url = receiver.url.replace("127.0.0.1", name)

    attempt = send(url, GuardPolicy())

    assert attempt.outcome == webhooks.REFUSED
    assert attempt.error == f"forbidden_address:{name}"
    assert receiver.received == []


# --- the schedule ---------------------------------------------------------------------


def test_the_schedule_is_followed_with_jitter_and_ends():
    schedule = [5.0, 300.0, 1800.0]
    rng = random.Random(7)

    delays = [webhooks.retry_delay(schedule, n, jitter=0.2, rng=rng) for n in (1, 2, 3)]

    assert all(
        base * 0.8 <= delay <= base * 1.2 for base, delay in zip(schedule, delays, strict=True)
    )
    assert webhooks.retry_delay(schedule, 1, jitter=0) == 5.0
    assert webhooks.retry_delay(schedule, 4, jitter=0.2) is None  # spent: give up


def test_retry_after_is_honoured_but_bounded():
    assert webhooks.retry_delay([5.0], 1, jitter=0, retry_after=120) == 120
    assert webhooks.retry_delay([5.0], 1, jitter=0, retry_after=1) == 5.0  # never sooner
    assert webhooks.retry_delay([5.0], 1, jitter=0, retry_after=10**9) == webhooks.RETRY_AFTER_MAX


def test_retry_after_reads_seconds_and_http_dates():
    now = time.time()
    date = email.utils.formatdate(now + 90, usegmt=True)

    assert webhooks.retry_after_seconds("30") == 30
    assert 88 <= webhooks.retry_after_seconds(date, now=now) <= 91
    assert webhooks.retry_after_seconds("soon") is None
    assert webhooks.retry_after_seconds("") is None

"""A Standard Webhooks receiver for the tests: a route on a FixtureServer that checks
every POST with the official `standardwebhooks` library (not Kiln's own code), records
it, and answers what the test scripted (a list of replies, then 200; or a function)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.fixture_http import FixtureServer, Hit, Reply

OK = Reply('{"ok": true}', status=200, content_type="application/json")


@dataclass(frozen=True)
class Received:
    webhook_id: str
    timestamp: str
    signature: str
    headers: dict[str, str]
    body: bytes
    verified_by: tuple[int, ...]  # which of the receiver's secrets verify it
    answered: int
    at: float

    @property
    def verified(self) -> bool:
        return bool(self.verified_by)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


def verifying_secrets(secrets: Sequence[str], headers: dict[str, str], body: bytes) -> tuple:
    found = []
    for index, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
        found.append(index)
    return tuple(found)


class WebhookReceiver:
    def __init__(
        self,
        server: FixtureServer,
        secrets: Sequence[str],
        answers: Sequence[Reply | int] | Callable[[int], Reply | int] = (),
        path: str | None = None,
    ) -> None:
        self.secrets = list(secrets)
        self.answers = answers
        self.received: list[Received] = []
        self.lock = threading.Condition()
        self.path = path or f"/hooks/{uuid.uuid4().hex}"
        self.url = server.add(self.path, self._handle)

    def _reply(self, number: int) -> Reply:
        if callable(self.answers):
            answer = self.answers(number)
        elif number < len(self.answers):
            answer = self.answers[number]
        else:
            answer = OK
        return answer if isinstance(answer, Reply) else Reply("", status=answer, content_type=None)

    def _handle(self, hit: Hit) -> Reply:
        with self.lock:
            reply = self._reply(len(self.received))
            self.received.append(
                Received(
                    webhook_id=hit.headers.get("webhook-id", ""),
                    timestamp=hit.headers.get("webhook-timestamp", ""),
                    signature=hit.headers.get("webhook-signature", ""),
                    headers=dict(hit.headers),
                    body=hit.body,
                    verified_by=verifying_secrets(self.secrets, hit.headers, hit.body),
                    answered=reply.status,
                    at=time.monotonic(),
                )
            )
            self.lock.notify_all()
        return reply

    def wait_for(self, check: Callable[[list[Received]], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        with self.lock:
            while not check(self.received):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{what} not within {timeout}s: {self.summary()}")
                self.lock.wait(left)

    def wait_requests(self, count: int, timeout: float = 30) -> list[Received]:
        self.wait_for(lambda got: len(got) >= count, timeout, f"{count} requests")
        return list(self.received)

    def delivered_ids(self) -> set[str]:
        return {r.webhook_id for r in self.received if 200 <= r.answered < 300}

    def wait_delivered(self, count: int = 1, timeout: float = 30) -> list[Received]:
        """The accepted (2xx) requests, once `count` distinct webhook-ids were accepted."""
        self.wait_for(
            lambda got: len({r.webhook_id for r in got if 200 <= r.answered < 300}) >= count,
            timeout,
            f"{count} deliveries",
        )
        return [r for r in self.received if 200 <= r.answered < 300]

    def summary(self) -> list[tuple[str, int, bool]]:
        return [(r.webhook_id[:12], r.answered, r.verified) for r in self.received]

"""Render-finished notifications: the worker publishes on a Redis channel per cache key,
and each web process keeps ONE subscriber thread that wakes the request threads waiting
on that key (a subscription per wait cost a new Redis connection and ~10 ms per miss).

Waiters never rely on the message alone: the database stays the truth and they re-read
it at least every `POLL_SECONDS`, so a lost message or a Redis outage costs latency,
never a wrong answer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import defaultdict

import redis.exceptions

from config.redis_client import get_redis

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "kiln:render-done:"
POLL_SECONDS = 0.5


def done_channel(cache_key: str) -> str:
    return CHANNEL_PREFIX + cache_key


def render_done_publish(cache_key: str, job_id: str) -> None:
    """Wake whoever waits on `cache_key` (best effort: waiters also poll)."""
    client = get_redis()
    if client is None:
        return
    try:
        client.publish(done_channel(cache_key), job_id)
    except redis.exceptions.RedisError:
        logger.warning("could not announce job %s; waiters will poll", job_id)


class DoneListener:
    """One pattern subscription per process; request threads wait on Events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = defaultdict(set)
        self._thread: threading.Thread | None = None

    def register(self, cache_key: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._waiters[cache_key].add(event)
            if get_redis() is not None and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._listen, daemon=True, name="kiln-done")
                self._thread.start()
        return event

    def unregister(self, cache_key: str, event: threading.Event) -> None:
        with self._lock:
            events = self._waiters.get(cache_key)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiters[cache_key]

    def _wake(self, cache_key: str) -> None:
        with self._lock:
            for event in self._waiters.get(cache_key, ()):
                event.set()

    def _listen(self) -> None:
        backoff = 0.1
        while True:
            client = get_redis()
            if client is None:
                return
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(CHANNEL_PREFIX + "*")
                backoff = 0.1
                while True:
                    message = pubsub.get_message(timeout=30)
                    if message is None:
                        continue
                    channel = message["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    self._wake(channel.removeprefix(CHANNEL_PREFIX))
            except (redis.exceptions.RedisError, OSError, ValueError):
                time.sleep(backoff)  # waiters poll the database meanwhile
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(redis.exceptions.RedisError, OSError):
                    pubsub.close()


_listener = DoneListener()


def done_event(cache_key: str) -> threading.Event:
    return _listener.register(cache_key)


def done_event_release(cache_key: str, event: threading.Event) -> None:
    _listener.unregister(cache_key, event)


def _new_listener_after_fork() -> None:
    global _listener
    _listener = DoneListener()


os.register_at_fork(after_in_child=_new_listener_after_fork)

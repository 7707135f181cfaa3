"""Short in-process caches for the hot path: a TTL map (keys, templates, projects, the
font list) and a byte-bounded LRU of response bodies.

Anything kept here may be stale for at most its TTL (`KILN_LOCAL_CACHE_SECONDS`, 5 s by
default): a revoked key or an edited template stops serving within that bound. Bodies
are keyed by what they are (a digest of their bytes), so they are never stale.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")

_ALL: list[TtlCache] = []


class TtlCache(Generic[V]):
    """name → value for `ttl` seconds, at most `max_items` (oldest dropped first)."""

    def __init__(self, *, ttl: Callable[[], float], max_items: int = 10_000) -> None:
        self._ttl = ttl
        self._max_items = max_items
        self._items: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        _ALL.append(self)

    def get(self, key: Hashable) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        expires, value = found
        if expires < time.monotonic():
            with self._lock:
                self._items.pop(key, None)
            return None
        return value

    def put(self, key: Hashable, value: V) -> V:
        ttl = self._ttl()
        if ttl <= 0:
            return value
        with self._lock:
            self._items[key] = (time.monotonic() + ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self._max_items:
                self._items.popitem(last=False)
        return value

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        found = self.get(key)
        if found is not None:
            return found
        return self.put(key, load())

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def local_cache_ttl() -> float:
    from django.conf import settings

    return settings.KILN_LOCAL_CACHE_SECONDS


def local_caches_clear() -> None:
    """Forget everything every TtlCache of this process holds (tests, admin saves)."""
    for cache in _ALL:
        cache.clear()


@dataclass(frozen=True)
class Body:
    data: bytes
    content_type: str
    etag: str


class BodyCache:
    """Least-recently-used bodies, bounded by their total bytes (a count bound would not
    do: one 2048×2048 PNG weighs as much as a thousand SVG labels)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Body] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # gunicorn's threads share the process

    def get(self, key: Hashable) -> Body | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: Hashable, body: Body) -> None:
        size = len(body.data)
        if size > self.max_bytes // 4:
            return  # one huge body must not flush everything else
        with self._lock:
            if key in self._items:
                return
            self._items[key] = body
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted.data)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _forget_after_fork() -> None:
    for cache in _ALL:
        cache._lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)

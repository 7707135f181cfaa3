"""The shared Redis connection (farm mode only) for job notifications."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def get_redis() -> redis.Redis | None:
    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        health_check_interval=30,
    )


def redis_hash_drain(name: str) -> dict[bytes, bytes]:
    """Take every field of the hash `name` at once ({} if none): it is renamed first, so
    counts added meanwhile go to a fresh hash and none is read twice."""
    client = get_redis()
    if client is None:
        return {}
    taken = f"{name}:draining"
    try:
        client.rename(name, taken)
    except redis.exceptions.ResponseError:  # no such hash: nothing since the last drain
        return {}
    fields = client.hgetall(taken)
    client.delete(taken)
    return fields

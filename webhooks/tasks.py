"""Tasks of webhooks, on queue `webhooks`: thin. Each takes an id, lets the service do the
work and returns what happened in a word (the worker logs it: never a URL or a header)."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from webhooks.services import deliveries_expire, deliveries_sweep, delivery_attempt


@shared_task(pool_queue="webhooks")
def deliver_webhook(delivery_id: str) -> str:
    """One attempt of a delivery, if it is due and nobody else is sending it."""
    close_old_connections()  # the worker keeps its connection between tasks (renders.tasks)
    return delivery_attempt(delivery_id=delivery_id)


@shared_task(pool_queue="webhooks")
def sweep_deliveries() -> int:
    """Beat: queue deliveries whose message was lost or whose worker died; drop finished
    ones past the render cache's TTL."""
    close_old_connections()
    deliveries_expire()
    return deliveries_sweep()

"""AI image providers behind one interface (ai_jobs.providers.base.Provider).

`get_provider()` builds the configured one (KILN_AI_PROVIDER) from settings, once per
process. Adding a provider: a module with a class implementing `Provider`, and a branch
here.
"""

from __future__ import annotations

import threading

from django.conf import settings

from ai_jobs.providers.base import (
    GenerationRequest,
    ModelSpec,
    Provider,
    ProviderError,
    ProviderPrediction,
    WebhookRejected,
)

__all__ = [
    "GenerationRequest",
    "ModelSpec",
    "Provider",
    "ProviderError",
    "ProviderPrediction",
    "WebhookRejected",
    "get_provider",
    "reset_provider",
]

_lock = threading.Lock()
_provider: Provider | None = None


def provider_missing_setting() -> str | None:
    """The setting an operator must set before AI images work, or None when set."""
    if settings.KILN_AI_PROVIDER == "replicate" and not settings.REPLICATE_API_TOKEN:
        return "REPLICATE_API_TOKEN"
    return None


def _build() -> Provider:
    name = settings.KILN_AI_PROVIDER
    if name == "replicate":
        from ai_jobs.providers.replicate import ReplicateProvider

        return ReplicateProvider(
            api_token=settings.REPLICATE_API_TOKEN,
            base_url=settings.REPLICATE_BASE_URL,
            webhook_secret=settings.REPLICATE_WEBHOOK_SECRET,
            webhook_tolerance=settings.KILN_AI_WEBHOOK_TOLERANCE,
            timeout=settings.KILN_AI_PROVIDER_TIMEOUT,
        )
    raise ValueError(f"unknown KILN_AI_PROVIDER {name!r} (known: replicate)")


def get_provider() -> Provider:
    global _provider
    if _provider is None:
        with _lock:
            if _provider is None:
                _provider = _build()
    return _provider


def reset_provider() -> None:
    """Forget the built provider (settings changed: tests, or a reloaded process)."""
    global _provider
    with _lock:
        _provider = None

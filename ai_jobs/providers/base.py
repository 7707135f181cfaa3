"""The provider interface: what Kiln needs from an image-generation service.

A provider turns a `GenerationRequest` into a prediction, reports on a prediction, and
verifies the webhooks it sends. Everything it reports is normalised into a
`ProviderPrediction` whose `phase` is Kiln's vocabulary, so the services never see a
provider's own status names or error texts' conventions (e.g. which error means the
safety filter refused the prompt). Providers are plain Python: no Django models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Phase = Literal["queued", "running", "succeeded", "failed", "blocked"]
Tier = Literal["standard", "pro"]


@dataclass(frozen=True)
class ModelSpec:
    """An image model Kiln offers, and the sizes it can produce.

    `tier` decides which plans may use it (`standard`: plans with AI; `pro`: plans with
    pro AI). Sizes are scaled down to fit `max_side`, rounded to `multiple` and kept at
    least `min_side`, so every request maps to a size the model accepts.
    """

    name: str
    tier: Tier
    min_side: int
    max_side: int
    multiple: int

    def fit(self, width: int, height: int) -> tuple[int, int]:
        scale = min(1.0, self.max_side / max(width, height))
        sides = []
        for side in (width * scale, height * scale):
            # Half up (not round()'s half-to-even): 200 at a multiple of 16 is 208.
            rounded = max(self.multiple, int(side / self.multiple + 0.5) * self.multiple)
            sides.append(min(self.max_side, max(self.min_side, rounded)))
        return sides[0], sides[1]


@dataclass(frozen=True)
class GenerationRequest:
    job_id: str
    model: str
    prompt: str
    width: int
    height: int
    seed: int | None


@dataclass(frozen=True)
class ProviderPrediction:
    """A prediction as Kiln understands it. `error` is the provider's own message."""

    id: str
    phase: Phase
    output_url: str | None = None
    error: str | None = None


class ProviderError(Exception):
    """The provider refused or failed a request. `retryable`: worth asking again later
    (rate limited, the provider is down); `blocked`: the safety filter refused it."""

    def __init__(self, message: str, *, retryable: bool = False, blocked: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.blocked = blocked


class WebhookRejected(Exception):
    """A webhook that is unsigned, badly signed, stale or unreadable: answered 401."""


class Provider(Protocol):
    name: str
    models: dict[str, ModelSpec]

    def create_prediction(
        self, request: GenerationRequest, *, webhook_url: str | None
    ) -> ProviderPrediction: ...

    def get_prediction(self, prediction_id: str) -> ProviderPrediction: ...

    def verify_webhook(self, headers: dict[str, str], body: bytes) -> ProviderPrediction: ...

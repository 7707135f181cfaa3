"""Size presets (GET /v1/sizes) and resolving a requested size."""

from __future__ import annotations

SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "og": (1200, 630),
    "twitter": (1200, 675),
    "farcaster": (1200, 800),
    "linkedin": (1200, 627),
    "facebook": (1200, 630),
    "instagram-square": (1080, 1080),
    "instagram-story": (1080, 1920),
    "pinterest": (1000, 1500),
}

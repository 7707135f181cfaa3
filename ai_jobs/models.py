"""AI jobs (SPEC §8) are not built yet; this app holds their models when they are."""

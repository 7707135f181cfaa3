"""AI images (SPEC §8): jobs, the provider interface, provider webhooks, the poller and
the `<ai-img>` element (static/kiln/ai-img.js)."""

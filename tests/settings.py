"""Tests run on the farm: PostgreSQL and Redis (database 15), unless the caller says else.

Only defaults are set here; config.settings still reads everything from the environment.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kiln")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# Short limits so a killed worker's job comes back within seconds, not minutes.
os.environ.setdefault("KILN_TASK_TIME_LIMIT", "20")
os.environ.setdefault("KILN_VISIBILITY_TIMEOUT", "25")
os.environ.setdefault("KILN_SYNC_TIMEOUT", "30")
os.environ.setdefault("KILN_VAR_DIR", "/tmp/kiln-test-var")
# Webhook retries in fractions of a second instead of minutes, and a short attempt timeout.
os.environ.setdefault("KILN_WEBHOOK_RETRY_SCHEDULE", "0.3,0.6,1,1,1")
os.environ.setdefault("KILN_WEBHOOK_TIMEOUT", "2")

from config.settings import *  # noqa: F403

# Test fixture servers the farm's processes may reach (exact address:port pairs; see
# workers/address_guard.py). Only this test settings module reads it from the environment.
KILN_GUARD_TEST_ENDPOINTS = [
    e for e in os.environ.get("KILN_TEST_GUARD_ENDPOINTS", "").split(",") if e
]

os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405 - whitenoise wants it to exist

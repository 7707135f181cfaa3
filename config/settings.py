"""Kiln settings: every value comes from the environment (see README, "Settings").

With no variables set this is the embedded default: SQLite and local files under
`var/`, Celery tasks run in-process. `DATABASE_URL` + `REDIS_URL` make it the farm.
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

KILN_VAR_DIR = Path(env.str("KILN_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env.str("SECRET_KEY", default="kiln-embedded-insecure-secret-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "accounts",
    "renders",
    "ai_jobs",
    "webhooks",
    "workers",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "config.middleware.ErrorResponseMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{KILN_VAR_DIR / 'kiln.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers share one file in the embedded default: wait, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 3
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis, cache, celery ---------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Socket timeouts keep a dead Redis a fast 503 instead of a hung request.
REDIS_SOCKET_TIMEOUT = env.float("KILN_REDIS_SOCKET_TIMEOUT", default=2.0)

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
            },
            "KEY_PREFIX": "kiln",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Hard limit per task; soft limit a little earlier so the task can record the timeout.
KILN_TASK_TIME_LIMIT = env.int("KILN_TASK_TIME_LIMIT", default=120)
KILN_TASK_SOFT_TIME_LIMIT = env.int(
    "KILN_TASK_SOFT_TIME_LIMIT",
    default=KILN_TASK_TIME_LIMIT - max(1, min(10, KILN_TASK_TIME_LIMIT // 5)),
)
# Unacked messages come back to a queue after this long; it must exceed the hard limit
# or a slow job would be delivered twice.
KILN_VISIBILITY_TIMEOUT = env.int("KILN_VISIBILITY_TIMEOUT", default=KILN_TASK_TIME_LIMIT + 60)
if KILN_VISIBILITY_TIMEOUT <= KILN_TASK_TIME_LIMIT:
    raise environ.ImproperlyConfigured(
        "KILN_VISIBILITY_TIMEOUT must be longer than KILN_TASK_TIME_LIMIT"
    )
# A RUNNING job untouched for this long belongs to a dead worker and may be reclaimed.
KILN_JOB_STALE_AFTER = env.int("KILN_JOB_STALE_AFTER", default=KILN_VISIBILITY_TIMEOUT)

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = KILN_TASK_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = KILN_TASK_SOFT_TIME_LIMIT
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_SOCKET_TIMEOUT
# How often each worker sweeps for messages a dead worker left unacked. kombu's default
# (every 10 s, scanning on every 10th sweep) can leave a job waiting ~100 s past the
# visibility timeout; scan on every sweep instead.
KILN_UNACKED_RESTORE_INTERVAL = env.int(
    "KILN_UNACKED_RESTORE_INTERVAL", default=max(1, min(10, KILN_VISIBILITY_TIMEOUT // 6))
)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": KILN_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": KILN_UNACKED_RESTORE_INTERVAL,
    "unacked_restore_throttle": 1,
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
}
# Publishing while Redis is down should fail fast (→ 503), not hang the request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_WORKER_SEND_TASK_EVENTS = False

# --- storage ----------------------------------------------------------------------------
MEDIA_ROOT = env.str("KILN_MEDIA_ROOT", default=str(KILN_VAR_DIR / "media"))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = env.str("KILN_STATIC_ROOT", default=str(KILN_VAR_DIR / "static"))

KILN_S3_BUCKET = env.str("KILN_S3_BUCKET", default="")
if KILN_S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": KILN_S3_BUCKET,
            "endpoint_url": env.str("KILN_S3_ENDPOINT_URL", default="") or None,
            "access_key": env.str("KILN_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("KILN_S3_SECRET_ACCESS_KEY", default="") or None,
            "region_name": env.str("KILN_S3_REGION", default="us-east-1"),
            "location": env.str("KILN_S3_PREFIX", default=""),
            "addressing_style": env.str("KILN_S3_ADDRESSING_STYLE", default="path"),
            "default_acl": None,
            "file_overwrite": True,
            "querystring_auth": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Content-addressed paths: a forced re-render replaces the bytes at its path.
        "OPTIONS": {"location": MEDIA_ROOT, "allow_overwrite": True},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasSecretKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.JsonOrBytesNegotiation",
    "UNAUTHENTICATED_USER": None,
}

# --- Kiln -------------------------------------------------------------------------------
KILN_PUBLIC_URL = env.str("KILN_PUBLIC_URL", default="").rstrip("/")
KILN_SYNC_TIMEOUT = env.float("KILN_SYNC_TIMEOUT", default=30.0)
KILN_CACHE_TTL_DAYS = env.int("KILN_CACHE_TTL_DAYS", default=30)
KILN_MAX_SVG_BYTES = env.int("KILN_MAX_SVG_BYTES", default=1_000_000)
KILN_MAX_PIXELS = env.int("KILN_MAX_PIXELS", default=40_000_000)
KILN_RENDER_MAX_ATTEMPTS = env.int("KILN_RENDER_MAX_ATTEMPTS", default=3)
# Request bodies above this are refused with 413 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("KILN_MAX_BODY_BYTES", default=2_500_000)

# --- outbound fetches (workers/address_guard.py) -------------------------------------------
# Exact host names outbound fetches may reach (empty = any public host).
KILN_ALLOWED_HOSTS = env.list("KILN_ALLOWED_HOSTS", default=[])
# Let fetches reach loopback/private/link-local addresses (never cloud metadata). Only for
# a trusted LAN or local tests: the default refuses them.
KILN_ALLOW_PRIVATE_TARGETS = env.bool("KILN_ALLOW_PRIVATE_TARGETS", default=False)
# KILN_GUARD_TEST_ENDPOINTS (exact "address:port" pairs past the address policy) exists for
# tests only and is deliberately not read from the environment: it is never set here.

# --- browser pool (workers/browser.py, queue browser) -----------------------------------------
# Chromium's executable; empty = the first of chromium, chromium-browser, google-chrome on PATH.
KILN_CHROMIUM_PATH = env.str("KILN_CHROMIUM_PATH", default="")
# Chromium's sandbox: on unless the worker runs as root, where Chromium refuses to start it.
KILN_BROWSER_SANDBOX = env.bool("KILN_BROWSER_SANDBOX", default=os.geteuid() != 0)
# A worker's browser is replaced after this many renders, or when its process tree's own
# resident memory (anonymous + shared, from /proc) passes KILN_BROWSER_MAX_RSS_MB; a page
# that pushes it past the limit mid-render has its renderer killed (RENDER_FAILED).
KILN_BROWSER_MAX_RENDERS = env.int("KILN_BROWSER_MAX_RENDERS", default=1000)
KILN_BROWSER_MAX_RSS_MB = env.int("KILN_BROWSER_MAX_RSS_MB", default=1024)
# Seconds for one navigation (the page's load event) and for a whole render.
KILN_BROWSER_NAVIGATION_TIMEOUT = env.float("KILN_BROWSER_NAVIGATION_TIMEOUT", default=15.0)
KILN_BROWSER_RENDER_TIMEOUT = env.float("KILN_BROWSER_RENDER_TIMEOUT", default=30.0)

# --- AI images (ai_jobs, queue ai) ------------------------------------------------------------
KILN_AI_PROVIDER = env.str("KILN_AI_PROVIDER", default="replicate")
KILN_AI_DEFAULT_MODEL = env.str("KILN_AI_DEFAULT_MODEL", default="black-forest-labs/flux-schnell")
# Ask the provider about a job when no webhook has arrived for this many seconds.
KILN_AI_POLL_AFTER = env.int("KILN_AI_POLL_AFTER", default=60)
# How often beat runs the poller (seconds).
KILN_AI_POLL_INTERVAL = env.float("KILN_AI_POLL_INTERVAL", default=30.0)
# A job not finished this long after it was queued fails: nothing stays pending forever.
KILN_AI_MAX_AGE = env.int("KILN_AI_MAX_AGE", default=900)
# Largest provider output Kiln downloads, and how long the download may take.
KILN_AI_MAX_OUTPUT_BYTES = env.int("KILN_AI_MAX_OUTPUT_BYTES", default=20_000_000)
KILN_AI_DOWNLOAD_TIMEOUT = env.float("KILN_AI_DOWNLOAD_TIMEOUT", default=30.0)
# Timeout of each call to the provider's API (seconds).
KILN_AI_PROVIDER_TIMEOUT = env.float("KILN_AI_PROVIDER_TIMEOUT", default=30.0)
# Provider webhooks older (or further in the future) than this are refused (seconds).
KILN_AI_WEBHOOK_TOLERANCE = env.int("KILN_AI_WEBHOOK_TOLERANCE", default=300)
REPLICATE_API_TOKEN = env.str("REPLICATE_API_TOKEN", default="")
REPLICATE_BASE_URL = env.str("REPLICATE_BASE_URL", default="https://api.replicate.com")
# whsec_… from Replicate's account settings; empty = fetched once from the API.
REPLICATE_WEBHOOK_SECRET = env.str("REPLICATE_WEBHOOK_SECRET", default="")

# --- outgoing webhooks (webhooks/, workers/webhooks.py, queue webhooks) ---------------------
# Seconds before each retry (Standard Webhooks' schedule: an attempt at once, then 5 s,
# 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 8 attempts over a day and a half), spread by ±jitter.
KILN_WEBHOOK_RETRY_SCHEDULE = [
    float(s) for s in env.list("KILN_WEBHOOK_RETRY_SCHEDULE", default=[]) if s.strip()
] or [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
KILN_WEBHOOK_RETRY_JITTER = env.float("KILN_WEBHOOK_RETRY_JITTER", default=0.2)
# One attempt's deadline (DNS, connect, request, answer).
KILN_WEBHOOK_TIMEOUT = env.float("KILN_WEBHOOK_TIMEOUT", default=10.0)
# How often beat queues deliveries whose message was lost or whose worker died (seconds).
KILN_WEBHOOK_SWEEP_INTERVAL = env.float("KILN_WEBHOOK_SWEEP_INTERVAL", default=10.0)
# After `kiln_webhook_secret rotate`, the old secret keeps signing this long (seconds).
KILN_WEBHOOK_SECRET_GRACE = env.int("KILN_WEBHOOK_SECRET_GRACE", default=86400)

# --- security ---------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- logging: one JSON object a line, with the request and job ids ------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.logging.ContextFilter"}},
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
    },
}
# /readyz waits this long for workers to say which queues they consume.
KILN_READYZ_WORKER_TIMEOUT = env.float("KILN_READYZ_WORKER_TIMEOUT", default=1.0)
# Keep render buffers in the heap between renders (workers/memory.py): ~40% faster renders.
KILN_KEEP_RENDER_BUFFERS = env.bool("KILN_KEEP_RENDER_BUFFERS", default=True)

# Placeholders (SPEC §7): larger requested sides are clamped to this many pixels.
KILN_PLACEHOLDER_MAX = env.int("KILN_PLACEHOLDER_MAX", default=2048)

# Text engine: extra font directories (colon-separated), scanned once per process.
KILN_FONT_DIRS = [d for d in env.str("KILN_FONT_DIRS", default="").split(":") if d]
# Fonts on demand: a family no other source has is fetched from a Google Fonts css2
# server (through the address guard), converted to TTF and kept in Kiln's storage.
KILN_GOOGLE_FONTS = env.bool("KILN_GOOGLE_FONTS", default=False)
KILN_GOOGLE_FONTS_URL = env.str("KILN_GOOGLE_FONTS_URL", default="https://fonts.googleapis.com")
# Image routes called without a valid key: "strict" answers 401; "transitional" answers
# a placeholder saying a key is needed (and counts it), as the reference did while its
# callers migrated.
KILN_KEY_ENFORCEMENT = env.str("KILN_KEY_ENFORCEMENT", default="strict")
if KILN_KEY_ENFORCEMENT not in ("strict", "transitional"):
    raise environ.ImproperlyConfigured("KILN_KEY_ENFORCEMENT must be strict or transitional")
# GET /render without a key: the slug of the account such renders are billed to (empty:
# a key is required).
KILN_RENDER_PUBLIC_ACCOUNT = env.str("KILN_RENDER_PUBLIC_ACCOUNT", default="")

# --- the hot path -----------------------------------------------------------------------------
# Keys, templates, projects and the font list are kept in each process this many seconds:
# a revoked key or an edited template stops serving within this bound.
KILN_LOCAL_CACHE_SECONDS = env.float("KILN_LOCAL_CACHE_SECONDS", default=5.0)
# Rendered bytes kept in each web process for cache hits (keyed by their digest).
KILN_LOCAL_BODY_CACHE_MB = env.int("KILN_LOCAL_BODY_CACHE_MB", default=64)
# Celery closes Django's database connection around every task unless told otherwise; a
# render then pays a new PostgreSQL connection. Reuse it (connections that went bad are
# still closed before each task, see renders/tasks.py).
CELERY_DB_REUSE_MAX = env.int("KILN_WORKER_DB_REUSE_MAX", default=1000)

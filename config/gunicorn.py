"""gunicorn settings for `web` (Procfile) and bin/kiln-run; overridable from the environment.

The access log leaves out query strings: `?api_key=` must never reach a log.
"""

import os

bind = f"{os.environ.get('KILN_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'

"""gunicorn settings for the web process (Procfile `web`, `make run`, benchmarks)."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"  # noqa: S104
# Embedded mode (no REDIS_URL) runs its jobs inside the one web process that may run it; a
# second worker would refuse to boot (gateway/embedded.py).
workers = int(os.environ.get("WEB_CONCURRENCY") or (2 if os.environ.get("REDIS_URL") else 1))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
# Intuit wants an answer within 3 s; anything slower than this is stuck.
timeout = 30
graceful_timeout = 25  # Heroku sends SIGKILL 30 s after SIGTERM
keepalive = 5
# "-" is stdout; "" or "off" turns the access log off (Heroku's router logs every request anyway).
_access_log = os.environ.get("GUNICORN_ACCESS_LOG", "-")
accesslog = None if _access_log in ("", "off") else _access_log
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# The app is created in each worker: no database or Redis connection crosses a fork.
preload_app = False


def post_worker_init(worker):
    config = getattr(worker.wsgi, "config", {})  # other apps (the bench's bare one) have none
    if "REDIS_URL" in config and not config["REDIS_URL"]:
        # Before the first request, so leftovers of a crash are recovered without waiting for
        # one; a second embedded worker refuses to boot here, with the reason.
        from gateway import embedded

        embedded.start(worker.wsgi)

"""gunicorn settings for the web process (Procfile `web`, `make run`, benchmarks)."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
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
        # Embedded mode has no worker process: the web process sweeps (and runs the jobs).
        from gateway.batch import schedule
        from gateway.sweeper import start_thread

        start_thread(worker.wsgi)
        schedule.start_thread(worker.wsgi)

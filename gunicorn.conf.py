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
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# The app is created in each worker: no database or Redis connection crosses a fork.
preload_app = False


def post_worker_init(worker):
    app = worker.wsgi
    if not app.config["REDIS_URL"]:
        # Embedded mode has no worker process: the web process sweeps (and runs the jobs).
        from gateway.sweeper import start_thread

        start_thread(app)

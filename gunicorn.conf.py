"""gunicorn settings for the web process (Procfile `web`, `make run`, benchmarks)."""

import os
import sys

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"  # noqa: S104
# Embedded mode (no REDIS_URL) runs its jobs inside the one process that may (gateway/embedded.py).
_embedded = not os.environ.get("REDIS_URL")
workers = int(os.environ.get("WEB_CONCURRENCY") or (1 if _embedded else 2))
if _embedded and workers > 1:
    # Not an exit: platforms such as Heroku set WEB_CONCURRENCY themselves.
    print(
        f"WEB_CONCURRENCY={workers} ignored: without REDIS_URL (embedded mode) the jobs and their "
        "locks live in one process, so gunicorn runs one worker. Set REDIS_URL and run "
        "`python worker.py` to serve with several.",
        file=sys.stderr,
    )
    workers = 1
worker_class = "gthread"
WORKER_BOOT_ERROR = 3  # gunicorn's Arbiter.WORKER_BOOT_ERROR: the master stops, not respawns
threads = int(os.environ.get("WEB_THREADS", "4"))
# Intuit wants an answer within 3 s; anything slower than this is stuck.
timeout = 30
graceful_timeout = 25  # Heroku sends SIGKILL 30 s after SIGTERM
keepalive = 5
# "-" is stdout; "" or "off" turns the access log off (Heroku's router logs every request anyway).
_access_log = os.environ.get("GUNICORN_ACCESS_LOG", "-")
accesslog = None if _access_log in ("", "off") else _access_log
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# The app is created in each worker: no database or Redis connection crosses a fork (the
# master's on_starting makes one only to check the embedded lock, and closes its connections).
preload_app = False


def on_starting(server):
    if not _embedded:
        return
    # In the master, before any worker: a second embedded gateway on this database refuses
    # here, at once and in one line, rather than as a worker that fails to boot.
    from gateway import create_app, embedded

    try:
        embedded.check_free(create_app())
    except embedded.AnotherEmbeddedProcess as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)


def post_worker_init(worker):
    config = getattr(worker.wsgi, "config", {})  # other apps (the bench's bare one) have none
    if "REDIS_URL" in config and not config["REDIS_URL"]:
        # Before the first request, so leftovers of a crash are recovered without waiting for
        # one; a worker of a second gunicorn on the same database refuses to boot here.
        from gateway import embedded

        try:
            embedded.start(worker.wsgi, wait_for_lock=10)  # a reload (HUP) stops the old worker
        except embedded.AnotherEmbeddedProcess as exc:
            # Another gateway took the lock after on_starting checked: the reason, no traceback.
            worker.log.error("%s", exc)
            sys.exit(WORKER_BOOT_ERROR)

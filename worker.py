"""The worker process: RQ with its scheduler, a sweeper thread, graceful on SIGTERM.

`python worker.py` (Procfile `worker`). HerokuWorker turns SIGTERM into a warm shutdown that
lets the running job end, and warns the job shortly before Heroku's SIGKILL.
"""

from __future__ import annotations

import logging
import sys

from rq.serializers import JSONSerializer
from rq.worker import HerokuWorker

from gateway import create_app, jobs
from gateway.batch import schedule
from gateway.queue import RedisBackend
from gateway.sweeper import start_thread

log = logging.getLogger("worker")


def main() -> int:
    app = create_app()
    backend = app.extensions["gateway_backend"]
    if not isinstance(backend, RedisBackend):
        log.error("REDIS_URL is not set: in embedded mode the web process runs the jobs itself.")
        return 2
    with app.app_context():
        from gateway.extensions import db

        # Connections made here must not be shared with forked work-horses.
        db.engine.dispose()
    jobs.use_app(app)
    start_thread(app)
    schedule.start_thread(app)  # resumes batch runs, reconciles; one process at a time
    worker = HerokuWorker(
        backend.queues,
        connection=backend.redis,
        serializer=JSONSerializer,
        default_result_ttl=60,
    )
    worker.work(with_scheduler=True, logging_level="INFO")
    return 0


if __name__ == "__main__":
    sys.exit(main())

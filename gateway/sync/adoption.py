"""One run at a time matches and adopts the unlinked records of one object on one side.

From the match query to the link, the lock is held: the next run then finds the record linked
(claimed), so two runs never adopt the same record. Both directions take it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

from .. import queue
from ..connectors import ConnectorError
from ..queue import LockTimeout

ADOPTION_LOCK_WAIT_SECONDS = 30


@contextmanager
def adoption_lock(name: str, what: str) -> Iterator[None]:
    """Hold the adoption lock `name`; a run that waited too long is retried later."""
    try:
        with queue.backend().lock(
            name,
            timeout=current_app.config["SYNC_LOCK_SECONDS"],
            wait=ADOPTION_LOCK_WAIT_SECONDS,
        ):
            yield
    except LockTimeout as exc:
        raise ConnectorError(
            f"another run has been matching {what} records for over "
            f"{ADOPTION_LOCK_WAIT_SECONDS} s; trying again later",
            retryable=True,
        ) from exc

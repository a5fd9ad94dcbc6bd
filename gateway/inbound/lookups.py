"""What the webhook edge needs to know about our own configuration, cached briefly per
process: every webhook would otherwise pay several queries for answers that rarely change.

Only found companies are cached (a company connected a moment ago is never taken for an unknown
one), and the real-time objects per company live at most LOOKUP_CACHE_SECONDS, so switching real
time on or off takes effect within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select

from .. import realtime
from ..extensions import db
from ..models import Company
from .storable import fits


class Lookups:
    def __init__(self, ttl: float):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._companies: dict[str, tuple[float, int]] = {}
        self._realtime: dict[str, tuple[float, dict[int, frozenset[str]]]] = {}

    def company_ids(self, realms: Iterable[str]) -> dict[str, int]:
        now = time.monotonic()
        found, missing = {}, []
        with self._lock:
            for realm in realms:
                if not fits(realm, Company.__table__.c.realm_id):
                    continue  # no company has it, and the query could not even carry it
                cached = self._companies.get(realm)
                if cached and cached[0] > now:
                    found[realm] = cached[1]
                else:
                    missing.append(realm)
        if missing:
            rows = db.session.execute(
                select(Company.realm_id, Company.id).where(Company.realm_id.in_(missing))
            ).all()
            with self._lock:
                for realm, company_id in rows:
                    self._companies[realm] = (now + self.ttl, company_id)
                    found[realm] = company_id
        return found

    def realtime_objects(
        self, direction: str, company_ids: Iterable[int]
    ) -> dict[int, frozenset[str]]:
        """Company id -> objects synced in real time in `direction` (gateway.realtime).

        A company the cached answer does not know (connected a moment ago) reloads it.
        """
        now = time.monotonic()
        with self._lock:
            expires, objects = self._realtime.get(direction, (0.0, {}))
        if expires > now and all(company_id in objects for company_id in company_ids):
            return objects
        objects = realtime.realtime_objects(direction)
        with self._lock:
            self._realtime[direction] = (now + self.ttl, objects)
        return objects


def lookups() -> Lookups:
    app = current_app
    if "gateway_lookups" not in app.extensions:
        app.extensions["gateway_lookups"] = Lookups(app.config["LOOKUP_CACHE_SECONDS"])
    return app.extensions["gateway_lookups"]

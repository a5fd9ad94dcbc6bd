"""What the webhook edge needs to know about our own configuration, cached briefly per
process: every webhook would otherwise pay two queries for answers that rarely change.

Only found companies are cached (a company connected a moment ago is never taken for an unknown
one), and the set of real-time entities lives at most LOOKUP_CACHE_SECONDS, so switching real
time on or off takes effect within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import Company, ObjectMapping
from .storable import fits


class Lookups:
    def __init__(self, ttl: float):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._companies: dict[str, tuple[float, int]] = {}
        self._realtime: tuple[float, frozenset[str]] = (0.0, frozenset())

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

    def realtime_entities(self) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            expires, entities = self._realtime
        if expires > now:
            return entities
        entities = frozenset(
            db.session.execute(
                select(ObjectMapping.quickbooks_type).where(
                    ObjectMapping.realtime.is_(True),
                    ObjectMapping.direction.in_(("both", "quickbooks_to_salesforce")),
                )
            ).scalars()
        )
        with self._lock:
            self._realtime = (now + self.ttl, entities)
        return entities


def lookups() -> Lookups:
    app = current_app
    if "gateway_lookups" not in app.extensions:
        app.extensions["gateway_lookups"] = Lookups(app.config["LOOKUP_CACHE_SECONDS"])
    return app.extensions["gateway_lookups"]

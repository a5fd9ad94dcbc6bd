"""The reconciler: what no webhook or callout announced, caught up per company from both sides
into the inbox, where the ordinary sync jobs write it (reconcile_quickbooks: QuickBooks CDC;
reconcile_salesforce: Salesforce SystemModstamp). Every RECONCILE_INTERVAL_SECONDS (the batch
schedule) and on demand (`flask sync reconcile`), one reconciler at a time.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select

from .. import queue
from ..extensions import db
from ..models import Company, ConnectionStatus
from . import reconcile_quickbooks, reconcile_salesforce
from .reconcile_quickbooks import backfilled

__all__ = ["RECONCILE_LOCK", "backfilled", "reconcile_all", "reconcile_company", "run_exclusively"]

RECONCILE_LOCK = "reconcile"
QUICKBOOKS, SALESFORCE = "quickbooks", "salesforce"  # the sides, as the CLI's JSON names them


def reconcile_all(realm_id: str | None = None, since: datetime | None = None) -> dict:
    """Catch up every connected company (or one): realm id -> side -> object -> changes
    stored, e.g. {"123": {"quickbooks": {"Customer": 2}, "salesforce": {"Account": 1}}}."""
    query = select(Company).order_by(Company.id)
    if realm_id:
        query = query.where(Company.realm_id == realm_id)
    companies = list(db.session.execute(query).scalars())
    if realm_id and not companies:
        raise LookupError(f"no connected company {realm_id}")
    return {
        company.realm_id: reconcile_company(company, since)
        for company in companies
        if company.status == ConnectionStatus.CONNECTED
    }


def reconcile_company(company: Company, since: datetime | None = None) -> dict[str, dict]:
    return {
        QUICKBOOKS: reconcile_quickbooks.reconcile_company(company, since),
        SALESFORCE: reconcile_salesforce.reconcile_company(company, since),
    }


def run_exclusively(realm_id: str | None = None) -> dict | None:
    """reconcile_all() unless another process is already at it (None then): however many
    workers run the schedule, one reconciles at a time."""
    work = queue.backend()
    try:
        with work.lock(RECONCILE_LOCK, timeout=current_app.config["SYNC_LOCK_SECONDS"], wait=0.1):
            return reconcile_all(realm_id)
    except queue.LockTimeout:
        return None

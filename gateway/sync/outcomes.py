"""What became of one record in a run, turned into its events' states; and the connections a
run needs. Shared by both directions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from .. import inbox
from ..connectors import ReconnectNeeded
from ..connectors.quickbooks import QuickBooksClient
from ..connectors.salesforce import SalesforceClient
from ..extensions import db
from ..models import Company, ConnectionStatus, Event, EventStatus, SalesforceOrg


@dataclass
class Outcome:
    status: str  # synced | skipped | failed
    reason: str | None = None
    retryable: bool = False
    # what the write was, for batch runs' counts: created | updated | linked | unchanged | review
    kind: str | None = None


def ambiguous(why: str) -> Outcome:
    """A record left on the review list: failed, and counted as "review" by batch runs."""
    return Outcome(
        EventStatus.FAILED,
        f"ambiguous match: {why}; pick the right record on the review list "
        "(/admin/runs) or tighten the match rules",
        kind="review",
    )


def finish(event: Event, outcomes: list[Outcome], attempt: dict | None = None) -> None:
    """Any failure fails the event (retryable only if every failure is); else any write makes
    it synced; else it is skipped with every reason given. `attempt` is what the run read and
    wrote for the event's record (inbox.record_attempt's arguments), kept in the sync log."""
    if attempt:
        inbox.record_attempt(event, **attempt)
    failed = [o for o in outcomes if o.status == EventStatus.FAILED]
    synced = [o for o in outcomes if o.status == EventStatus.SYNCED]
    if failed:
        inbox.fail(
            event,
            "; ".join(o.reason or "" for o in failed),
            retryable=all(o.retryable for o in failed),
        )
    elif synced:
        inbox.finish(event, EventStatus.SYNCED, "; ".join(o.reason or "" for o in synced))
    else:
        reasons = "; ".join(o.reason or "" for o in outcomes) or "nothing to do"
        inbox.finish(event, EventStatus.SKIPPED, reasons)


def connect(company: Company) -> tuple[QuickBooksClient, SalesforceClient]:
    """Clients for the company and the org, or ReconnectNeeded saying which one to reconnect."""
    org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    if org is None:
        raise ReconnectNeeded(
            "Salesforce is not connected (flask connect salesforce --refresh-token ...)"
        )
    for name, row in (("Salesforce", org), ("QuickBooks", company)):
        if row.status == ConnectionStatus.RECONNECT_NEEDED:
            raise ReconnectNeeded(f"{name} needs reconnecting: {row.status_detail}")
    return QuickBooksClient(company), SalesforceClient(org)

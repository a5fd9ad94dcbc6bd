"""The dashboard (/admin/): the last 24 hours per company and object, events per hour, the
connections' health and the age of the oldest pending event; it refreshes itself by polling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import redirect, url_for

from gateway import event_log
from gateway.models import EventStatus, utcnow

from . import bp
from .rendering import render_page

POLL_SECONDS = 5
HOURS = 24
# The columns people read, and which event states each one counts.
COLUMNS = {
    "synced": (EventStatus.SYNCED, EventStatus.SKIPPED),
    "pending": (EventStatus.PENDING, EventStatus.PROCESSING),
    "failed": (EventStatus.FAILED,),
    "ignored": (EventStatus.IGNORED, EventStatus.MALFORMED),
}
# A pending event older than this means the queue is stuck (no worker, Redis down, throttled).
STUCK_SECONDS = 300
CHART_HEIGHT = 80
BAR_WIDTH = 10


@dataclass
class Bar:
    x: int
    hour: datetime
    total: int
    synced: int
    failed: int
    other: int
    synced_height: float
    failed_height: float
    other_height: float


def _column_counts(by_status: dict[str, int]) -> dict[str, int]:
    return {name: sum(by_status.get(s, 0) for s in states) for name, states in COLUMNS.items()}


def _bars(hourly: list[tuple[datetime, dict[str, int]]]) -> list[Bar]:
    peak = max((sum(counts.values()) for _, counts in hourly), default=0) or 1
    scale = CHART_HEIGHT / peak
    bars = []
    for index, (hour, counts) in enumerate(hourly):
        columns = _column_counts(counts)
        synced, failed = columns["synced"], columns["failed"]
        other = columns["pending"] + columns["ignored"]
        bars.append(
            Bar(
                x=index * (BAR_WIDTH + 2),
                hour=hour,
                total=synced + failed + other,
                synced=synced,
                failed=failed,
                other=other,
                synced_height=synced * scale,
                failed_height=failed * scale,
                other_height=other * scale,
            )
        )
    return bars


@bp.get("/")
def index():
    summary = event_log.summary(HOURS)
    if not summary.companies and summary.org is None:
        # Nothing connected yet: the set-up page says what to do first. Once anything is, the
        # dashboard shows the connections' health (a lost one included) with the rest.
        return redirect(url_for("admin.setup"))
    realms = {company.id: company.realm_id for company in summary.companies}
    rows = sorted(
        (
            (realms.get(company_id), entity, _column_counts(by_status))
            for (company_id, entity), by_status in summary.counts.items()
        ),
        key=lambda row: (row[0] or "", row[1] or ""),
    )
    totals = {name: sum(row[2][name] for row in rows) for name in COLUMNS}
    oldest_age = (
        (utcnow() - summary.oldest_pending).total_seconds() if summary.oldest_pending else None
    )
    bars = _bars(summary.hourly)
    return render_page(
        "admin/dashboard.html",
        title="Dashboard",
        rows=rows,
        totals=totals,
        bars=bars,
        chart_width=len(bars) * (BAR_WIDTH + 2),
        chart_height=CHART_HEIGHT,
        bar_width=BAR_WIDTH,
        oldest_age=oldest_age,
        stuck=oldest_age is not None and oldest_age > STUCK_SECONDS,
        companies=summary.companies,
        org=summary.org,
        groups=event_log.failure_groups(limit=5),
        poll_seconds=POLL_SECONDS,
        hours=HOURS,
    )

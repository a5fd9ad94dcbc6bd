"""`flask events list` and `flask events retry`: the sync log for people without the admin."""

from __future__ import annotations

import click

from . import bulk_actions, event_log
from .models import EventStatus


def _filter(**values: str | None) -> event_log.EventFilter:
    try:
        return event_log.EventFilter.from_args(values)
    except event_log.FilterError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.field}") from exc


@click.group("events", help="List and retry the events of the sync log.")
def events_group() -> None:
    pass


@events_group.command("list")
@click.option("--status", help=f"One of: {', '.join(event_log.STATUSES)}.")
@click.option("--company", help="A QuickBooks realm id.")
@click.option("--object", "object_name", help="A QuickBooks entity or Salesforce object.")
@click.option("--q", help="A record id on either side.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def list_events(
    status: str | None, company: str | None, object_name: str | None, q: str | None, limit: int
) -> None:
    """The newest events first, one a line: id, received, status, company, object, record,
    operation, reason."""
    event_filter = _filter(status=status, company=company, object=object_name, q=q)
    page = event_log.page(event_filter, limit=limit)
    for event in page.events:
        click.echo(
            "\t".join(
                str(value or "-")
                for value in (
                    event.id,
                    event.received_at.isoformat(timespec="seconds"),
                    event.status,
                    event.account_id,
                    event.entity,
                    event.record_id,
                    event.operation,
                    (event.reason or "").replace("\n", " ")[:200],
                )
            )
        )
    if page.next_before:
        click.echo(f"(more: --limit {limit * 2})", err=True)


@events_group.command("retry")
@click.option(
    "--status",
    type=click.Choice([EventStatus.FAILED]),
    default=EventStatus.FAILED,
    show_default=True,
    help="Only failed events are retried.",
)
@click.option("--company", help="A QuickBooks realm id.")
@click.option("--object", "object_name", help="A QuickBooks entity or Salesforce object.")
def retry_events(status: str, company: str | None, object_name: str | None) -> None:
    """Failed events matching the options become pending and their jobs are queued."""
    event_filter = _filter(status=status, company=company, object=object_name)
    done = max(bulk_actions.retry_matching(event_filter), default=0)  # the running total
    click.echo(f"Retried {done} event{'s' if done != 1 else ''}.")

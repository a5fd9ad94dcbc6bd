"""`flask sync run`, `flask sync schedule` and `flask sync reconcile` (design.md §4: a contract)."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from .batch import reconcile, runs, scheduled_runs
from .connectors import ConnectorError
from .extensions import db
from .inbound.quickbooks_format import parse_time
from .models import BatchRun, RunStatus

SIDE_NAMES = {reconcile.QUICKBOOKS: "QuickBooks", reconcile.SALESFORCE: "Salesforce"}


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date-time", param_hint="--since")
    return parsed


class _Progress:
    """A bar on a terminal; plain lines otherwise (logs, CI, --json's stderr)."""

    def __init__(self, json_output: bool):
        self.tty = sys.stderr.isatty() and not json_output
        self.bar = None
        self.done = 0

    def __call__(self, run: BatchRun) -> None:
        counts = run.counts or {}
        done = sum(counts.values())
        if self.tty:
            if self.bar is None:
                self.bar = click.progressbar(
                    length=run.total or 0, label="records", file=sys.stderr
                )
                self.bar.__enter__()
            self.bar.update(done - self.done)
        else:
            detail = ", ".join(f"{kind} {counts.get(kind, 0)}" for kind in runs.KINDS)
            click.echo(f"run {run.id}: {done}/{run.total} records ({detail})", err=True)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _combined(results: list[dict], direction: str) -> dict:
    if len(results) == 1:
        return results[0]
    total = {**results[0], "direction": direction, "seconds": 0.0}
    for kind in (*runs.KINDS, "seconds"):
        total[kind] = sum(r[kind] for r in results)
    return total


@click.group("sync", help="Batch runs and the reconciler.")
def sync_group() -> None:
    pass


@sync_group.command("run")
@click.argument("mapping")
@click.option("--company", "realm_id", help="QuickBooks realm id (default: the only/default one).")
@click.option("--since", help="Only records changed since this ISO 8601 time.")
@click.option(
    "--direction",
    type=click.Choice(["quickbooks_to_salesforce", "salesforce_to_quickbooks", "both"]),
    help="Default: the mapping's.",
)
@click.option("--dry-run", is_flag=True, help="Count what would happen; write nothing.")
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object at the end.")
def run_command(mapping, realm_id, since, direction, dry_run, json_output) -> None:
    try:
        row = runs.mapping_named(mapping)
        ways = runs.directions(row, direction)
    except runs.RunError as exc:
        raise click.ClickException(str(exc)) from exc
    results = []
    for way in ways:
        try:
            run = runs.create(mapping, realm_id, way, _since(since), dry_run, trigger="cli")
        except runs.RunError as exc:
            raise click.ClickException(str(exc)) from exc
        progress = _Progress(json_output)
        try:
            finished = runs.execute(run.id, progress=progress)
        except KeyboardInterrupt:
            db.session.rollback()
            runs.cancel(db.session.get(BatchRun, run.id))
            db.session.commit()
            raise click.ClickException(f"run {run.id} cancelled") from None
        finally:
            progress.close()
        if finished is None:
            raise click.ClickException(f"run {run.id} is being worked by another process")
        if finished.status == RunStatus.CANCELLED:
            raise click.ClickException(f"run {run.id} was cancelled")
        if finished.status == RunStatus.FAILED:
            raise click.ClickException(f"run {run.id} failed: {finished.error}")
        results.append(runs.summary(finished))
        if not json_output:
            _report(finished)
    if json_output:
        click.echo(json.dumps(_combined(results, direction or row.direction)))


def _report(run: BatchRun) -> None:
    summary = runs.summary(run)
    verb = "would be" if run.dry_run else "were"
    click.echo(
        f"{summary['mapping']} for company {summary['company']} ({summary['direction']}): "
        + ", ".join(f"{summary[k]} {k}" for k in runs.KINDS)
        + f" in {summary['seconds']} s"
    )
    for kind, samples in sorted((run.samples or {}).items()):
        for sample in samples:
            record_id = sample.get("quickbooks_id") or sample.get("salesforce_id")
            click.echo(f"  {kind} ({verb}): {record_id}: {sample['what']}")


@sync_group.command("schedule")
@click.argument("mapping")
@click.option("--company", "realm_id", help="QuickBooks realm id (default: the only/default one).")
@click.option(
    "--direction",
    type=click.Choice(scheduled_runs.DIRECTIONS),
    help="A schedule runs one way. Default: the mapping's, if it flows one way; a mapping "
    "that flows both ways needs one schedule for each.",
)
@click.option("--every", "interval", type=int, help="Run every N seconds.")
@click.option("--cron", help="Run at these times (cron, UTC), e.g. '0 2 * * *'.")
@click.option("--off", is_flag=True, help="Remove this schedule (without --direction: both ways).")
def schedule_command(mapping, realm_id, direction, interval, cron, off) -> None:
    """Schedule batch runs of MAPPING; each covers the changes since the last good run."""
    if off:
        found = [
            row
            for row in scheduled_runs.all_schedules()
            if row.mapping.name == mapping
            and direction in (None, row.direction)
            and realm_id in (None, row.company.realm_id)
        ]
        if not found:
            raise click.ClickException(f"no schedule of {mapping} to remove")
        for row in found:
            scheduled_runs.remove(row.id)
        db.session.commit()
        click.echo(f"Removed {len(found)} schedule(s) of {mapping}.")
        return
    try:
        row = scheduled_runs.save(mapping, realm_id, direction, interval, cron or None)
    except scheduled_runs.ScheduleError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    when = f"every {row.interval_seconds} s" if row.interval_seconds else f"at '{row.cron}'"
    click.echo(
        f"{mapping} ({row.direction}) for company {row.company.realm_id} runs {when}; next at "
        f"{row.next_run_at.isoformat(timespec='seconds')}."
    )


@sync_group.command("reconcile")
@click.option("--company", "realm_id", help="QuickBooks realm id (default: every company).")
@click.option("--since", help="Look back to this ISO 8601 time instead of the watermark.")
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object at the end.")
def reconcile_command(realm_id, since, json_output) -> None:
    try:
        found = reconcile.reconcile_all(realm_id, _since(since))
    except (LookupError, ConnectorError) as exc:
        raise click.ClickException(str(exc)) from exc
    if json_output:
        click.echo(json.dumps(found, sort_keys=True))
        return
    for realm, sides in found.items():
        for side, objects in sides.items():
            for name, count in objects.items():
                click.echo(f"company {realm} {SIDE_NAMES[side]} {name}: {count} changes to sync")
    if not any(objects for sides in found.values() for objects in sides.values()):
        click.echo("no company with real-time mappings to reconcile")


def init_app(app) -> None:
    app.cli.add_command(sync_group)

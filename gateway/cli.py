"""Command-line set-up: `flask connect ...` and `flask sync-config ...`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from . import inbox, queue, sync_config
from .connectors import ConnectorError
from .connectors.quickbooks import store_token as store_quickbooks_token
from .connectors.salesforce import store_token as store_salesforce_token
from .connectors.tokens import refresh_grant
from .events_cli import events_group
from .extensions import db
from .models import Company, ConnectionStatus, Event, EventStatus, ObjectMapping, SalesforceOrg
from .salesforce_package import salesforce_package_group
from .sync import RECONNECT_PREFIX


def _exchange(token_url: str, client_id: str, client_secret: str, refresh_token: str) -> dict:
    try:
        return refresh_grant(token_url, client_id, client_secret, refresh_token, timeout=60)
    except ConnectorError as exc:
        raise click.ClickException(f"token exchange at {token_url} failed: {exc}") from exc


def _save_connection(row, message: str) -> None:
    """Commit a (re)connected row, then retry the events that waited for it."""
    row.status = ConnectionStatus.CONNECTED
    row.status_detail = None
    db.session.commit()
    retried = _retry_disconnected()
    click.echo(message)
    if retried:
        click.echo(f"Retrying events that waited for the connection ({retried} object types).")


def _retry_disconnected() -> int:
    """Events that failed only because a connection was down are tried again."""
    ids = db.session.execute(
        select(Event.id).where(
            Event.status == EventStatus.FAILED, Event.reason.startswith(RECONNECT_PREFIX)
        )
    ).scalars()
    keys = inbox.retry(list(ids))
    for key in sorted(keys):
        queue.schedule_sync(key)
    return len(keys)


@click.group("connect", help="Store a connection made elsewhere (headless set-up).")
def connect() -> None:
    pass


@connect.command("quickbooks")
@click.option("--realm-id", required=True, help="The QuickBooks company (realm) id.")
@click.option("--refresh-token", required=True, help="A refresh token for that company.")
@click.option("--default/--no-default", default=None, help="Make it the default company.")
def connect_quickbooks(realm_id: str, refresh_token: str, default: bool | None) -> None:
    config = current_app.config
    token = _exchange(
        config["QBO_TOKEN_URL"], config["QBO_CLIENT_ID"], config["QBO_CLIENT_SECRET"], refresh_token
    )
    company = db.session.execute(
        select(Company).where(Company.realm_id == realm_id)
    ).scalar_one_or_none()
    if company is None:
        company = Company(realm_id=realm_id)
        db.session.add(company)
    company.refresh_token = refresh_token
    store_quickbooks_token(company, token)
    if default is not None:
        company.is_default = default
    _save_connection(company, f"Connected QuickBooks company {realm_id}.")


@connect.command("salesforce")
@click.option("--refresh-token", required=True, help="A refresh token of the integration user.")
def connect_salesforce(refresh_token: str) -> None:
    config = current_app.config
    token = _exchange(
        config["SF_LOGIN_URL"] + "/services/oauth2/token",
        config["SF_CLIENT_ID"],
        config["SF_CLIENT_SECRET"],
        refresh_token,
    )
    identity = token.get("id", "")  # https://login.salesforce.com/id/<org id>/<user id>
    parts = identity.rstrip("/").split("/")
    if len(parts) < 2 or not token.get("instance_url"):
        raise click.ClickException("the token answer has no identity URL or instance_url")
    org_id = parts[-2]
    org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    if org is None:
        org = SalesforceOrg(org_id=org_id)
        db.session.add(org)
    elif org.org_id != org_id:
        raise click.ClickException(
            f"already connected to Salesforce org {org.org_id}; this token is for {org_id}"
        )
    org.refresh_token = refresh_token
    store_salesforce_token(org, token)
    _save_connection(org, f"Connected Salesforce org {org_id} at {org.instance_url}.")


@click.group("sync-config", help="Export or import object and field mappings (YAML).")
def sync_config_group() -> None:
    pass


def _all_specs() -> list[dict]:
    return [row.spec for row in db.session.execute(select(ObjectMapping)).scalars()]


@sync_config_group.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def export_config(file: Path | None) -> None:
    text = sync_config.dump_config(_all_specs())
    if file is None:
        sys.stdout.write(text)
    else:
        file.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {file}.", err=True)


@sync_config_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--prune", is_flag=True, help="Remove mappings that are not in the file.")
def import_config(file: Path, prune: bool) -> None:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
    rows = {row.name: row for row in db.session.execute(select(ObjectMapping)).scalars()}
    try:
        imported = sync_config.parse_config(text, known_mapping_names=rows.keys())
        created, replaced, unchanged, removed = sync_config.merge_mappings(
            [row.spec for row in rows.values()], imported, prune
        )
    except sync_config.ConfigError as exc:
        raise click.ClickException(f"{file} is not valid:\n{exc}") from exc
    for spec in created + replaced:
        row = rows.get(spec["name"]) or ObjectMapping()
        row.apply_spec(spec)
        db.session.add(row)
    for name in removed:
        db.session.delete(rows[name])
    db.session.commit()
    click.echo(
        f"{len(created)} created, {len(replaced)} replaced, {len(unchanged)} unchanged, "
        f"{len(removed)} removed."
    )


@click.command("sweep", help="Re-enqueue pending and due retryable events now.")
def sweep_command() -> None:
    from .sweeper import sweep

    click.echo(sweep())


def init_app(app: Flask) -> None:
    app.cli.add_command(connect)
    app.cli.add_command(sync_config_group)
    app.cli.add_command(sweep_command)
    app.cli.add_command(salesforce_package_group)
    app.cli.add_command(events_group)

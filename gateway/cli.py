"""Command-line set-up: `flask connect ...`, `flask keys rotate` and `flask sync-config ...`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app

from . import batch_cli, connections, crypto, mapping_store
from .config import ConfigError
from .connectors import ConnectorError
from .connectors.tokens import (
    quickbooks_token_lock,
    reencrypt_all,
    refresh_grant,
    token_lock,
)
from .events_cli import events_group
from .extensions import db
from .inbound import callout_routing
from .salesforce_package import salesforce_package_group


def _exchange(token_url: str, client_id: str, client_secret: str, refresh_token: str) -> dict:
    try:
        return refresh_grant(token_url, client_id, client_secret, refresh_token, timeout=60)
    except ConnectorError as exc:
        raise click.ClickException(f"token exchange at {token_url} failed: {exc}") from exc


def _save_connection(message: str) -> None:
    """Commit a (re)connected row, then retry the events that waited for it."""
    retried, adopted = connections.commit_connected()
    click.echo(message)
    if retried:
        click.echo(f"Retrying events that waited for the connection ({retried} object types).")
    _report_adopted(adopted)


@click.group("connect", help="Store a connection made elsewhere (headless set-up).")
def connect() -> None:
    pass


@connect.command("quickbooks")
@click.option("--realm-id", required=True, help="The QuickBooks company (realm) id.")
@click.option("--refresh-token", required=True, help="A refresh token for that company.")
@click.option("--default/--no-default", default=None, help="Make it the default company.")
def connect_quickbooks(realm_id: str, refresh_token: str, default: bool | None) -> None:
    config = current_app.config
    # Under the token lock, the exchange too: a refresh of the same connection in flight would
    # otherwise store its (older) tokens over these once it finishes.
    with token_lock(quickbooks_token_lock(realm_id)):
        token = _exchange(
            config["QBO_TOKEN_URL"],
            config["QBO_CLIENT_ID"],
            config["QBO_CLIENT_SECRET"],
            refresh_token,
        )
        # The token answer carries the refresh token in force (rotated or not).
        token["refresh_token"] = token.get("refresh_token") or refresh_token
        company = connections.save_quickbooks_company(realm_id, token, default)
        db.session.commit()
    _save_connection(f"Connected QuickBooks company {realm_id}.")
    try:
        # Its name, for the admin pages (one cheap read).
        click.echo(f"Company name: {connections.check_quickbooks(company)}")
    except ConnectorError as exc:
        db.session.rollback()
        click.echo(f"Could not read the company's name yet: {exc}", err=True)


@connect.command("salesforce")
@click.option("--refresh-token", required=True, help="A refresh token of the integration user.")
def connect_salesforce(refresh_token: str) -> None:
    config = current_app.config
    with token_lock(connections.salesforce_connect_lock()):
        token = _exchange(
            config["SF_LOGIN_URL"] + "/services/oauth2/token",
            config["SF_CLIENT_ID"],
            config["SF_CLIENT_SECRET"],
            refresh_token,
        )
        token["refresh_token"] = token.get("refresh_token") or refresh_token
        try:
            org = connections.save_salesforce_org(token)
        except connections.ConnectionProblem as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
    _save_connection(f"Connected Salesforce org {org.org_id} at {org.instance_url}.")


@click.group("keys", help="Token encryption keys (TOKEN_ENCRYPTION_KEYS).")
def keys() -> None:
    pass


@keys.command("rotate")
def rotate_keys() -> None:
    """Re-encrypt every stored token under the newest key (the first of TOKEN_ENCRYPTION_KEYS).

    Afterwards the older keys can be dropped from the setting. Exits non-zero, naming the
    setting to restore, when some connection's tokens open under none of the current keys.
    """
    result = reencrypt_all()
    click.echo(
        f"Re-encrypted {result.tokens} tokens of {result.connections} connections under the "
        f"newest key ({crypto.newest_key_source()})."
    )
    if result.unreadable:
        raise click.ClickException(
            f"{len(result.unreadable)} connections could not be decrypted and were left as "
            "they are:\n" + "\n".join(result.unreadable)
        )


@click.group("sync-config", help="Export or import object and field mappings (YAML).")
def sync_config_group() -> None:
    pass


@sync_config_group.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def export_config(file: Path | None) -> None:
    text = mapping_store.export_text()
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
    try:
        result = mapping_store.import_text(text, prune)
    except ConfigError as exc:
        raise click.ClickException(f"{file} is not valid:\n{exc}") from exc
    click.echo(result.summary())


@click.command("sweep", help="Re-enqueue pending and due retryable events now.")
def sweep_command() -> None:
    from .sweeper import sweep

    click.echo(sweep())


@click.group("companies", help="The connected QuickBooks companies.")
def companies_group() -> None:
    pass


@companies_group.command("default", help="Make REALM_ID the default company of callouts.")
@click.argument("realm_id")
def default_company_command(realm_id: str) -> None:
    try:
        adopted = callout_routing.set_default_company(realm_id)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Company {realm_id} is the default company.")
    _report_adopted(adopted)


def _report_adopted(adopted: int) -> None:
    if adopted:
        click.echo(f"{adopted} Salesforce records that waited for a default company went on.")


def init_app(app: Flask) -> None:
    app.cli.add_command(companies_group)
    app.cli.add_command(connect)
    app.cli.add_command(keys)
    app.cli.add_command(sync_config_group)
    app.cli.add_command(sweep_command)
    app.cli.add_command(salesforce_package_group)
    batch_cli.init_app(app)  # flask sync run | reconcile
    app.cli.add_command(events_group)

"""Refreshing OAuth tokens safely: one refresh at a time per connection, the rotated refresh
token stored in the same transaction as the new access token, invalid_grant => reconnect needed.

Every writer of a connection's tokens (a refresh, `flask connect`, `flask keys rotate`) holds
that connection's token lock, or a slower writer would put back tokens that were just replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from oauthlib.oauth2 import InvalidGrantError, OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import crypto, queue
from ..crypto import TokenKeyMismatch
from ..extensions import db
from ..models import Company, ConnectionStatus, SalesforceOrg, utcnow
from . import ReconnectNeeded, Unavailable

log = logging.getLogger(__name__)

# A token call is given a minute; a lock holder may take that long, so waiters wait as long.
TOKEN_LOCK_SECONDS = 60


def quickbooks_token_lock(realm_id: str) -> str:
    return f"token:qbo:{realm_id}"


def salesforce_token_lock(org_id: str) -> str:
    return f"token:sf:{org_id}"


@contextmanager
def token_lock(name: str) -> Iterator[None]:
    """Hold one connection's token lock (see the module's docstring)."""
    with queue.backend().lock(name, timeout=TOKEN_LOCK_SECONDS, wait=TOKEN_LOCK_SECONDS):
        yield


def refresh_grant(
    token_url: str, client_id: str, client_secret: str, refresh_token: str, timeout: float
) -> dict:
    """One refresh_token grant; raises ReconnectNeeded on invalid_grant, Unavailable otherwise."""
    oauth = OAuth2Session(client_id)
    try:
        return oauth.refresh_token(
            token_url,
            refresh_token=refresh_token,
            auth=HTTPBasicAuth(client_id, client_secret),
            timeout=timeout,
        )
    except InvalidGrantError as exc:
        raise ReconnectNeeded(f"the refresh token was refused ({exc.description})") from exc
    except OAuth2Error as exc:
        raise Unavailable(f"token endpoint answered {exc.error}: {exc.description}") from exc
    except (requests.RequestException, ValueError) as exc:
        raise Unavailable(f"token endpoint unreachable: {exc}") from exc


def refresh_connection(
    model: type,
    row_id: int,
    lock_name: str,
    still_needed: Callable[[object], bool],
    grant: Callable[[str], dict],
    store: Callable[[object, dict], None],
) -> object:
    """Refresh the tokens of one connection row unless another process just did.

    Runs in its own session so the caller's unit of work is neither committed nor rolled back.
    Returns the (possibly updated) row, detached, with its tokens loaded.
    """
    with token_lock(lock_name), Session(db.engine) as session:
        row = session.get(model, row_id)
        if row.status == ConnectionStatus.RECONNECT_NEEDED:
            raise ReconnectNeeded(row.status_detail or "reconnect needed")
        if still_needed(row):
            # Outside the try: a token our keys cannot open is not a refused one; restoring
            # the key setting brings it back, so the connection is not marked for reconnecting.
            refresh_token = row.refresh_token
            try:
                token = grant(refresh_token)
            except ReconnectNeeded as exc:
                row.status = ConnectionStatus.RECONNECT_NEEDED
                row.status_detail = str(exc)
                session.commit()
                log.error("%s %s needs reconnecting: %s", model.__name__, row_id, exc)
                raise
            store(row, token)
            row.status = ConnectionStatus.CONNECTED
            row.status_detail = None
            session.commit()
            log.info("refreshed the tokens of %s %s", model.__name__, row_id)
        session.refresh(row)
        session.expunge(row)
        return row


def expires_at(seconds: object, default: float):
    try:
        return utcnow() + timedelta(seconds=float(seconds))
    except (TypeError, ValueError):
        return utcnow() + timedelta(seconds=default)


@dataclass
class Reencrypted:
    """What `reencrypt_all` did: tokens moved to the newest key, and rows no key opens."""

    tokens: int = 0
    connections: int = 0
    unreadable: list[str] = field(default_factory=list)


def reencrypt_all() -> Reencrypted:
    """Re-encrypt every stored token under the newest key, one connection at a time under its
    token lock. A connection whose tokens no key opens is left exactly as it is (restoring the
    old key still brings it back) and named in `unreadable` with what to restore."""
    result = Reencrypted()
    kinds = (
        (Company, Company.realm_id, "QuickBooks company", quickbooks_token_lock),
        (SalesforceOrg, SalesforceOrg.org_id, "Salesforce org", salesforce_token_lock),
    )
    for model, account_column, label, lock_name in kinds:
        rows = db.session.execute(select(model.id, account_column)).all()
        db.session.rollback()  # each row is read again under its lock
        for row_id, account_id in rows:
            with token_lock(lock_name(account_id)):
                row = db.session.get(model, row_id, populate_existing=True)
                if row is None:  # removed meanwhile
                    continue
                try:
                    result.tokens += _reencrypt_row(row)
                except TokenKeyMismatch as exc:
                    db.session.rollback()
                    result.unreadable.append(f"{label} {account_id}: {exc}")
                    continue
                db.session.commit()
                result.connections += 1
    return result


def _reencrypt_row(row: Company | SalesforceOrg) -> int:
    count = 0
    for column in ("access_token_encrypted", "refresh_token_encrypted"):
        ciphertext = getattr(row, column)
        if ciphertext is not None:
            setattr(row, column, crypto.reencrypt(ciphertext))
            count += 1
    return count

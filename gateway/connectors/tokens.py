"""Refreshing OAuth tokens safely: one refresh at a time per connection, the rotated refresh
token stored in the same transaction as the new access token, invalid_grant => reconnect needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import requests
from oauthlib.oauth2 import InvalidGrantError, OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session
from sqlalchemy.orm import Session

from .. import queue
from ..extensions import db
from ..models import ConnectionStatus, utcnow
from . import ReconnectNeeded, Unavailable

log = logging.getLogger(__name__)


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
    with queue.backend().lock(lock_name, timeout=60, wait=60), Session(db.engine) as session:
        row = session.get(model, row_id)
        if row.status == ConnectionStatus.RECONNECT_NEEDED:
            raise ReconnectNeeded(row.status_detail or "reconnect needed")
        if still_needed(row):
            try:
                token = grant(row.refresh_token)
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

"""When each connection last answered a call successfully, for the admin's health view.

Kept in the shared cache (Redis in production), not the database: it changes on every call and
a lost value only means "not known since the cache restarted".
"""

from __future__ import annotations

from datetime import datetime

from .. import queue
from ..models import utcnow

TTL_SECONDS = 30 * 24 * 3600


def _key(platform: str, account_id: str) -> str:
    return f"last-success:{platform}:{account_id}"


def note_success(platform: str, account_id: str) -> None:
    """platform: "quickbooks" (account = realm id) or "salesforce" (account = org id)."""
    queue.backend().cache_set(_key(platform, account_id), utcnow().isoformat(), TTL_SECONDS)


def last_success(platform: str, account_id: str) -> datetime | None:
    value = queue.backend().cache_get(_key(platform, account_id))
    return datetime.fromisoformat(value) if value else None

"""The connected org's objects and fields, for the admin and the completeness check.

Describe answers are cached by the connector (shared, a few minutes); this module adds a
per-request memo on top, so a page that checks fifty mappings asks the cache once per object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import g, has_request_context
from sqlalchemy import select

from . import queue
from .connectors import ConnectorError
from .connectors.salesforce import SalesforceCallError, SalesforceClient, describe_cache_key
from .extensions import db
from .models import ConnectionStatus, SalesforceOrg

T = TypeVar("T")


class SchemaUnavailable(Exception):
    """The org cannot be asked right now; the message says why and what to do."""


def _org() -> SalesforceOrg:
    memo = g if has_request_context() else None
    org = getattr(memo, "_salesforce_schema_org", None) if memo is not None else None
    if org is None:
        org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
        if org is None:
            raise SchemaUnavailable(
                "Salesforce is not connected: connect it on the Connections page"
            )
        if memo is not None:
            memo._salesforce_schema_org = org
    if org.status == ConnectionStatus.RECONNECT_NEEDED:
        raise SchemaUnavailable("Salesforce needs reconnecting (Connections page)")
    return org


def _cached_or_described(key: str, describe: Callable[[SalesforceClient], T]) -> T:
    """The shared cache's copy, or (only then) a client built to ask the org."""
    org = _org()
    cached = queue.backend().cache_get(describe_cache_key(org.org_id, key or None))
    if cached is not None:
        return cached
    return describe(SalesforceClient(org))


def _memo() -> dict:
    if not has_request_context():
        return {}
    if not hasattr(g, "_salesforce_schema"):
        g._salesforce_schema = {}
    return g._salesforce_schema


def objects() -> list[dict]:
    """[{"name", "label"}] of the org's objects, sorted by label."""
    memo = _memo()
    if "objects" not in memo:
        try:
            found = _cached_or_described("", lambda client: client.describe_objects())
        except ConnectorError as exc:
            raise SchemaUnavailable(f"cannot list the Salesforce objects: {exc}") from exc
        memo["objects"] = sorted(found, key=lambda item: (item["label"].lower(), item["name"]))
    return memo["objects"]


def fields(sobject: str) -> dict[str, dict] | None:
    """Field name -> describe of ``sobject``'s fields; None when the org has no such object."""
    memo = _memo()
    key = ("fields", sobject)
    if key not in memo:
        try:
            found = _cached_or_described(sobject, lambda client: client.describe_fields(sobject))
        except SalesforceCallError as exc:
            if exc.status == 404:
                memo[key] = None
                return None
            raise SchemaUnavailable(f"cannot describe {sobject}: {exc}") from exc
        except ConnectorError as exc:
            raise SchemaUnavailable(f"cannot describe {sobject}: {exc}") from exc
        memo[key] = {field["name"]: field for field in found}
    return memo[key]

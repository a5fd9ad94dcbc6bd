"""The connected org's objects and fields, for the admin and the completeness check.

Describe answers are cached by the connector (shared, a few minutes); this module adds a
per-request memo on top, so a page that checks fifty mappings asks the cache once per object.
"""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import select

from .connectors import ConnectorError
from .connectors.salesforce import SalesforceCallError, SalesforceClient
from .extensions import db
from .models import ConnectionStatus, SalesforceOrg


class SchemaUnavailable(Exception):
    """The org cannot be asked right now; the message says why and what to do."""


def _client() -> SalesforceClient:
    memo = g if has_request_context() else None
    client = getattr(memo, "_salesforce_schema_client", None) if memo is not None else None
    if client is not None:
        return client
    org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    if org is None:
        raise SchemaUnavailable("Salesforce is not connected: connect it on the Connections page")
    if org.status == ConnectionStatus.RECONNECT_NEEDED:
        raise SchemaUnavailable("Salesforce needs reconnecting (Connections page)")
    client = SalesforceClient(org)
    if memo is not None:
        memo._salesforce_schema_client = client
    return client


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
            found = _client().describe_objects()
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
            found = _client().describe_fields(sobject)
        except SalesforceCallError as exc:
            if exc.status == 404:
                memo[key] = None
                return None
            raise SchemaUnavailable(f"cannot describe {sobject}: {exc}") from exc
        except ConnectorError as exc:
            raise SchemaUnavailable(f"cannot describe {sobject}: {exc}") from exc
        memo[key] = {field["name"]: field for field in found}
    return memo[key]

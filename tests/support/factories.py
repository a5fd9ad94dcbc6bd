"""Rows and request bodies for tests."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import select

from gateway import sync_config
from gateway.extensions import db
from gateway.inbound import callout_contract
from gateway.inbound.signatures import intuit_signature
from gateway.models import Company, Event, ObjectMapping

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"

# Every mapped field flows both ways: the same values on both sides after a sync.
TWO_WAY_CUSTOMERS_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    realtime: true
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
      - {quickbooks: BillAddr.City, salesforce: BillingCity}
"""

CUSTOMERS_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    realtime: true
    external_id: QBO_Id__c
    on_delete: flag:QBO_Deleted__c
    match: [{quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}]
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
      - {quickbooks: BillAddr.City, salesforce: BillingCity}
      - {quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}
      - {quickbooks: Balance, salesforce: QBO_Balance__c, direction: quickbooks_to_salesforce}
"""


def shared_file(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        raise AssertionError(
            f"{path} is missing: the tests read the shared vectors from ../shared beside the "
            "repository (CI clones it there)."
        )
    return path


def stored_events(**where) -> list[Event]:
    """The inbox as committed (a fresh read), optionally filtered by column values."""
    db.session.rollback()
    query = select(Event).order_by(Event.id)
    for name, value in where.items():
        query = query.where(getattr(Event, name) == value)
    return list(db.session.execute(query).scalars())


def add_mappings(text: str = CUSTOMERS_YAML) -> list[ObjectMapping]:
    rows = []
    for spec in sync_config.parse_config(text):
        row = ObjectMapping()
        row.apply_spec(spec)
        db.session.add(row)
        rows.append(row)
    db.session.commit()
    return rows


def add_company(realm_id: str, **values) -> Company:
    company = Company(realm_id=realm_id, **values)
    db.session.add(company)
    db.session.commit()
    return company


def connect_quickbooks(runner, realm_id: str, refresh_token: str):
    """`flask connect quickbooks` as a person runs it; returns click's result."""
    return runner.invoke(
        args=["connect", "quickbooks", "--realm-id", realm_id, "--refresh-token", refresh_token]
    )


def signed(body: bytes | str | dict | list, token: str) -> tuple[bytes, dict]:
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else body
    return raw, {"intuit-signature": intuit_signature(token, raw)}


def callout_headers(secret: str, body: bytes, at: float | None = None) -> dict:
    timestamp = str(int(time.time() if at is None else at))
    return {
        callout_contract.TIMESTAMP_HEADER: timestamp,
        callout_contract.SIGNATURE_HEADER: callout_contract.signature(secret, timestamp, body),
        "Content-Type": "application/json",
    }


def cloudevent(
    realm: str, entity: str, record_id: str, operation: str, event_id: str, data: dict | None = None
) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "intuit.test",
        "type": f"qbo.{entity.lower()}.{operation}.v1",
        "datacontenttype": "application/json",
        "time": "2026-11-22T10:00:00.123456789Z",
        "intuitentityid": record_id,
        "intuitaccountid": realm,
        "data": data or {},
    }


def classic(realm: str, *entities: dict) -> dict:
    return {
        "eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": list(entities)}}]
    }

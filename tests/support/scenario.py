"""A connected gateway: one QuickBooks company, one Salesforce org, mappings imported."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from gateway.extensions import db
from gateway.models import Company, Event, RecordLink
from tests.support.drain import settle
from tests.support.factories import CUSTOMERS_YAML, add_mappings
from tests.support.platforms import Platforms

INVOICES_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    realtime: false
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    realtime: true
    on_delete: delete
    fields:
      - {quickbooks: DocNumber, salesforce: Name, required: true}
      - {quickbooks: TxnDate, salesforce: CloseDate, type: date}
      - {quickbooks: TotalAmt, salesforce: Amount}
      - {quickbooks: PrivateNote, salesforce: StageName, default: Closed Won}
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers}
"""


@dataclass
class Scenario:
    app: object
    platforms: Platforms
    realm: str

    def settle(self, **kwargs) -> None:
        settle(self.app, self.platforms.wait_webhooks_delivered, **kwargs)

    def events(self, **where) -> list[Event]:
        db.session.rollback()
        query = select(Event).order_by(Event.id)
        for name, value in where.items():
            query = query.where(getattr(Event, name) == value)
        return list(db.session.execute(query).scalars())

    def links(self) -> list[RecordLink]:
        db.session.rollback()
        return list(db.session.execute(select(RecordLink).order_by(RecordLink.id)).scalars())

    def company(self) -> Company:
        db.session.rollback()
        return db.session.execute(
            select(Company).where(Company.realm_id == self.realm)
        ).scalar_one()

    def accounts(self) -> list[dict]:
        return self.platforms.sf_records("Account")

    def account(self, qbo_id: str) -> dict:
        matches = [a for a in self.accounts() if a.get("QBO_Id__c") == f"{self.realm}-{qbo_id}"]
        assert len(matches) == 1, matches
        return matches[0]

    def customer(self, **fields) -> dict:
        return self.platforms.qbo_save(self.realm, "Customer", fields)


def connect(app, runner, fakes, mappings: str = CUSTOMERS_YAML) -> Scenario:
    platforms = Platforms(fakes)
    company = platforms.new_company()
    org = platforms.new_org()
    result = runner.invoke(
        args=[
            "connect",
            "quickbooks",
            "--realm-id",
            company["realmId"],
            "--refresh-token",
            company["refresh_token"],
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["connect", "salesforce", "--refresh-token", org["refresh_token"]])
    assert result.exit_code == 0, result.output
    add_mappings(mappings)
    platforms.clear_calls()
    return Scenario(app, platforms, company["realmId"])


def invoice_lines(gw: Scenario, amount: float) -> list[dict]:
    """One service line of `amount`, on an Item made for it."""
    item = gw.platforms.qbo_save(gw.realm, "Item", {"Name": f"Service {amount}", "Type": "Service"})
    return [
        {
            "Amount": amount,
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}},
        }
    ]


def customer_invoice(gw: Scenario, doc_number: str = "1001", amount: float = 250.0) -> dict:
    """A QuickBooks invoice of `amount` for a new customer, Acme Ltd (made in the fake)."""
    customer = gw.customer(DisplayName="Acme Ltd")
    return gw.platforms.qbo_save(
        gw.realm,
        "Invoice",
        {
            "DocNumber": doc_number,
            "TxnDate": "2026-11-20",
            "CustomerRef": {"value": customer["Id"]},
            "Line": invoice_lines(gw, amount),
        },
    )

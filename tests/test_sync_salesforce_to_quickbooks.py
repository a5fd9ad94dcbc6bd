"""A person edits Salesforce; the mapped QuickBooks record follows — end to end through the
emulators over HTTPS, real PostgreSQL and Redis, and the real RQ worker."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from gateway.extensions import db
from gateway.models import Company, Event, EventStatus, ObjectMapping
from gateway.sync import drain
from gateway.sync_key import FROM_SALESFORCE, SyncKey
from tests.support.salesforce_changes import SalesforceTrigger, send_callout
from tests.support.scenario import connect

CUSTOMERS_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    realtime: true
    on_delete: delete
    match: [{quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}]
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
      - {quickbooks: BillAddr.City, salesforce: BillingCity}
      - {quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}
      - {quickbooks: Balance, salesforce: QBO_Balance__c, direction: quickbooks_to_salesforce}
"""


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes, CUSTOMERS_YAML)


def qbo_writes(gw) -> list[dict]:
    return gw.platforms.calls("qbo", "write")


def sf_writes(gw) -> list[dict]:
    return gw.platforms.calls("sf", "write")


def last_sf_event(gw) -> Event:
    return gw.events(source="salesforce")[-1]


def customers(gw) -> list[dict]:
    return gw.platforms.qbo_records(gw.realm, "Customer")


def edit_account(gw, account_id: str, **fields) -> dict:
    return gw.platforms.sf("PATCH", f"/_fake/sobjects/Account/{account_id}", json=fields)


def test_a_new_account_becomes_a_customer_and_gets_its_quickbooks_id(gw):
    account = gw.platforms.sf_create(
        "Account", {"Name": "Acme Ltd", "BillingCity": "Leeds", "Email__c": "ap@acme.test"}
    )
    send_callout(gw.company(), "Account", [account])
    gw.settle()
    [customer] = customers(gw)
    assert customer["DisplayName"] == "Acme Ltd"
    assert customer["BillAddr"]["City"] == "Leeds"
    assert customer["PrimaryEmailAddr"]["Address"] == "ap@acme.test"
    [event, echo] = gw.events()
    assert event.status == EventStatus.SYNCED, event.reason
    assert event.reason == f"created Customer {customer['Id']}"
    assert (echo.source, echo.status, echo.reason) == ("quickbooks", "skipped", "unchanged")
    [written_back] = gw.accounts()
    assert written_back["QBO_Id__c"] == f"{gw.realm}-{customer['Id']}"
    assert written_back["QBO_Balance__c"] == 0  # what QuickBooks worked out, in the same call
    [link] = gw.links()
    assert (link.quickbooks_id, link.salesforce_id) == (customer["Id"], account["Id"])
    assert link.quickbooks_sync_token == customer["SyncToken"]
    assert len(qbo_writes(gw)) == 1
    # The create's answer is the new state; the one read is the job for QuickBooks' webhook
    # about our own write, which must read the record to know it is an echo.
    assert len(gw.platforms.calls("qbo", "read")) == 1
    assert len(sf_writes(gw)) == 1  # the id written back


def test_an_edit_is_a_sparse_update_that_keeps_a_persons_quickbooks_change(gw):
    account = gw.platforms.sf_create("Account", {"Name": "Acme Ltd", "BillingCity": "Leeds"})
    send_callout(gw.company(), "Account", [account])
    gw.settle()
    [customer] = customers(gw)
    # Someone adds a phone number in QuickBooks (not a mapped field) ...
    gw.platforms.qbo_save(
        gw.realm, "Customer", {"Id": customer["Id"], "PrimaryPhone": {"FreeFormNumber": "555"}}
    )
    gw.settle()
    gw.platforms.clear_calls()
    # ... and someone else renames the account in Salesforce.
    edited = edit_account(gw, account["Id"], Name="Acme Limited")
    send_callout(gw.company(), "Account", [edited])
    gw.settle()
    [customer] = customers(gw)
    assert customer["DisplayName"] == "Acme Limited"
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "555"
    assert customer["BillAddr"]["City"] == "Leeds"
    [write] = qbo_writes(gw)
    assert last_sf_event(gw).status == EventStatus.SYNCED, gw.events(source="salesforce")[-1].reason


def test_a_stale_sync_token_is_read_again_and_the_update_retried(gw):
    account = gw.platforms.sf_create("Account", {"Name": "Acme Ltd"})
    send_callout(gw.company(), "Account", [account])
    gw.settle()
    [customer] = customers(gw)
    # The QuickBooks record moves on (a person's edit) while our link still has the old token.
    gw.platforms.qbo_save(gw.realm, "Customer", {"Id": customer["Id"], "Notes": "called"})
    gw.platforms.wait_webhooks_delivered()
    gw.platforms.clear_calls()
    edited = edit_account(gw, account["Id"], BillingCity="York")
    send_callout(gw.company(), "Account", [edited])
    # The Salesforce job runs before the one for QuickBooks' webhook could learn the new token.
    drain(str(SyncKey(FROM_SALESFORCE, gw.company().id, "Account")))
    gw.settle()
    [customer] = customers(gw)
    assert customer["BillAddr"]["City"] == "York"
    assert customer["Notes"] == "called"
    account_event = gw.events(entity="Account")[-1]
    assert account_event.status == EventStatus.SYNCED, account_event.reason
    statuses = [c["status"] for c in qbo_writes(gw)]
    assert statuses == [400, 200]  # 5010, then the retry with the token just read


def forget_quickbooks_webhooks(gw) -> None:
    """As if the records had been made before the gateway was connected: no link, no event."""
    gw.platforms.wait_webhooks_delivered()
    db.session.execute(delete(Event).where(Event.source == "quickbooks"))
    db.session.commit()


def test_a_duplicate_name_links_the_existing_customer_instead_of_creating_one(gw):
    existing = gw.customer(DisplayName="Acme Ltd")
    forget_quickbooks_webhooks(gw)
    account = gw.platforms.sf_create("Account", {"Name": "Acme Ltd", "BillingCity": "Hull"})
    send_callout(gw.company(), "Account", [account])
    gw.settle()
    [customer] = customers(gw)
    assert customer["Id"] == existing["Id"]
    assert customer["BillAddr"]["City"] == "Hull"
    event = gw.events(entity="Account")[-1]
    assert event.status == EventStatus.SYNCED, event.reason
    assert event.reason.startswith("linked and updated")
    [linked] = gw.accounts()
    assert linked["QBO_Id__c"] == f"{gw.realm}-{existing['Id']}"


def test_a_duplicate_name_already_linked_elsewhere_fails_for_a_person_to_decide(gw):
    existing = gw.customer(DisplayName="Acme Ltd")
    gw.settle()  # QuickBooks -> Salesforce makes and links its Account
    account = gw.platforms.sf_create("Account", {"Name": "Acme Ltd", "BillingCity": "Hull"})
    send_callout(gw.company(), "Account", [account])
    gw.settle()
    [customer] = customers(gw)
    assert customer["Id"] == existing["Id"] and "BillAddr" not in customer
    event = last_sf_event(gw)
    assert event.status == EventStatus.FAILED and event.retryable is False
    assert "already linked to Salesforce" in event.reason


def test_a_redelivered_callout_writes_once(gw):
    account = gw.platforms.sf_create("Account", {"Name": "Acme Ltd"})
    send_callout(gw.company(), "Account", [account])
    send_callout(gw.company(), "Account", [account])
    gw.settle()
    assert len(customers(gw)) == 1
    assert len(gw.events(source="salesforce")) == 1
    assert len(qbo_writes(gw)) == 1


def test_two_hundred_accounts_in_one_callout_go_out_in_batches_of_thirty(gw):
    accounts = [gw.platforms.sf_create("Account", {"Name": f"Account {i:03}"}) for i in range(200)]
    gw.platforms.clear_calls()
    send_callout(gw.company(), "Account", accounts)
    gw.settle(timeout=60)
    assert len(customers(gw)) == 200
    assert {e.status for e in gw.events(source="salesforce")} == {EventStatus.SYNCED}
    writes = qbo_writes(gw)
    assert [c["path"].rsplit("/", 1)[-1] for c in writes] == ["batch"] * 7  # 30 a call
    assert len(gw.platforms.calls("sf", "read")) <= 2  # the query (and one describe)
    assert len(sf_writes(gw)) == 1  # every QuickBooks id written back in one call
    assert all(a["QBO_Id__c"] for a in gw.accounts())


def test_delete_makes_the_customer_inactive_and_undelete_active_again(gw):
    account = gw.platforms.sf_create("Account", {"Name": "Acme Ltd"})
    send_callout(gw.company(), "Account", [account])
    gw.settle()
    gw.platforms.sf("DELETE", f"/_fake/sobjects/Account/{account['Id']}")
    [deleted] = [
        a for a in gw.platforms.sf_records("Account", include_deleted=True) if a["IsDeleted"]
    ]
    send_callout(gw.company(), "Account", [deleted], operation="delete")
    gw.settle()
    [customer] = customers(gw)
    assert customer["Active"] is False
    assert last_sf_event(gw).reason.endswith(f"made inactive Customer {customer['Id']}")
    restored = gw.platforms.sf("POST", f"/_fake/sobjects/Account/{account['Id']}/undelete")
    send_callout(gw.company(), "Account", [restored], operation="undelete")
    gw.settle()
    [customer] = customers(gw)
    assert customer["Active"] is True
    assert customer["DisplayName"] == "Acme Ltd"
    assert last_sf_event(gw).status == EventStatus.SYNCED, gw.events(source="salesforce")[-1].reason


def test_the_trigger_stand_in_sees_the_write_back_and_it_causes_no_quickbooks_write(gw):
    trigger = SalesforceTrigger(gw.platforms, gw.company(), ("Account",))
    gw.platforms.sf_create("Account", {"Name": "Acme Ltd"})
    trigger.deliver()
    gw.settle()
    assert len(qbo_writes(gw)) == 1
    assert trigger.deliver() == 1  # the QuickBooks id we wrote back fires the trigger again
    gw.settle()
    assert len(qbo_writes(gw)) == 1
    assert last_sf_event(gw).status == EventStatus.SKIPPED
    assert last_sf_event(gw).reason == "unchanged"


def second_company(gw, runner) -> tuple[str, Company]:
    made = gw.platforms.new_company()
    result = runner.invoke(
        args=[
            "connect",
            "quickbooks",
            "--realm-id",
            made["realmId"],
            "--refresh-token",
            made["refresh_token"],
        ]
    )
    assert result.exit_code == 0, result.output
    db.session.rollback()
    company = db.session.execute(
        select(Company).where(Company.realm_id == made["realmId"])
    ).scalar_one()
    return made["realmId"], company


def test_a_callout_for_one_company_writes_to_that_company_only(gw, runner):
    other_realm, other = second_company(gw, runner)
    first = gw.platforms.sf_create("Account", {"Name": "For the first"})
    second = gw.platforms.sf_create("Account", {"Name": "For the second"})
    send_callout(gw.company(), "Account", [first])
    send_callout(other, "Account", [second])
    gw.settle()
    assert [c["DisplayName"] for c in customers(gw)] == ["For the first"]
    [theirs] = gw.platforms.qbo_records(other_realm, "Customer")
    assert theirs["DisplayName"] == "For the second"
    accounts = {a["Id"]: a for a in gw.accounts()}
    assert accounts[second["Id"]]["QBO_Id__c"] == f"{other_realm}-{theirs['Id']}"
    assert {link.company_id for link in gw.links()} == {gw.company().id, other.id}


def test_a_mapping_limited_to_other_companies_leaves_this_one_alone(gw, runner):
    other_realm, other = second_company(gw, runner)
    row = db.session.execute(select(ObjectMapping)).scalar_one()
    row.apply_spec({**row.spec, "companies": [other_realm]})
    db.session.commit()
    account = gw.platforms.sf_create("Account", {"Name": "Not for the first"})
    send_callout(gw.company(), "Account", [account])
    gw.settle()
    assert customers(gw) == []
    assert last_sf_event(gw).reason.startswith("real time is off for Account")
    send_callout(other, "Account", [account])
    gw.settle()
    assert [c["DisplayName"] for c in gw.platforms.qbo_records(other_realm, "Customer")] == [
        "Not for the first"
    ]


OPPORTUNITY_TWO_WAYS_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: salesforce_to_quickbooks
    realtime: true
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers, required: true}
      - {quickbooks: DocNumber, salesforce: Name}
      - {quickbooks: Line.0.Amount, salesforce: Amount}
      - {quickbooks: Line.0.DetailType, default: SalesItemLineDetail}
  - name: receipts
    quickbooks: SalesReceipt
    salesforce: Opportunity
    external_id: QBO_Receipt_Id__c
    direction: salesforce_to_quickbooks
    realtime: true
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers, required: true}
      - {quickbooks: DocNumber, salesforce: Name}
"""


def test_a_qbo_sync_record_callout_names_the_quickbooks_type_to_write(app, runner, fakes):
    gw = connect(app, runner, fakes, OPPORTUNITY_TWO_WAYS_YAML)
    gw.platforms.sf("POST", "/_fake/fields/Opportunity", json={"name": "QBO_Receipt_Id__c"})
    account = gw.platforms.sf_create("Account", {"Name": "Acme Ltd"})
    opportunity = gw.platforms.sf_create(
        "Opportunity",
        {
            "Name": "OPP-9",
            "AccountId": account["Id"],
            "CloseDate": "2026-11-20",
            "StageName": "Closed Won",
            "Amount": 70,
        },
    )
    # What the package sends for a new QBO_Sync__c row: the record's object, and Type__c.
    send_callout(gw.company(), "Opportunity", [opportunity], target_type="Invoice")
    gw.settle()
    [invoice] = gw.platforms.qbo_records(gw.realm, "Invoice")
    assert invoice["DocNumber"] == "OPP-9" and invoice["TotalAmt"] == 70
    assert gw.platforms.qbo_records(gw.realm, "SalesReceipt") == []
    assert last_sf_event(gw).status == EventStatus.SYNCED, last_sf_event(gw).reason

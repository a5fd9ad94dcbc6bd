"""A person edits QuickBooks; the mapped Salesforce record follows — end to end through the
emulators over HTTPS, real PostgreSQL and Redis, and the real RQ worker."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway import realtime
from gateway.extensions import db
from gateway.inbound.signatures import intuit_signature
from gateway.models import EventStatus, ObjectMapping, RecordLink
from tests.conftest import VERIFIER_TOKEN
from tests.support.factories import cloudevent, signed
from tests.support.scenario import INVOICES_YAML, connect, customer_invoice, invoice_lines


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes)


def writes(gw, which: str) -> list[dict]:
    return gw.platforms.calls(which, "write")


def test_created_customer_becomes_an_account(gw):
    customer = gw.customer(
        DisplayName="Acme Ltd",
        BillAddr={"City": "Leeds"},
        PrimaryEmailAddr={"Address": "ap@acme.test"},
    )
    gw.settle()
    account = gw.account(customer["Id"])
    assert account["Name"] == "Acme Ltd"
    assert account["BillingCity"] == "Leeds"
    assert account["Email__c"] == "ap@acme.test"
    assert account["QBO_Balance__c"] == customer["Balance"]  # read-only in QuickBooks
    assert account["QBO_Deleted__c"] is False
    [event] = gw.events()
    assert event.status == EventStatus.SYNCED and event.reason.startswith("created")
    [link] = gw.links()
    assert (link.quickbooks_id, link.salesforce_id) == (customer["Id"], account["Id"])
    assert len(gw.platforms.calls("qbo", "read")) == 1
    assert len(writes(gw, "sf")) == 1
    assert writes(gw, "qbo") == []


def test_one_edit_is_one_salesforce_write_and_none_back(gw):
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    gw.platforms.clear_calls()
    gw.customer(Id=customer["Id"], DisplayName="Acme Limited")
    gw.settle()
    assert gw.account(customer["Id"])["Name"] == "Acme Limited"
    assert len(gw.accounts()) == 1
    assert len(writes(gw, "sf")) == 1
    assert writes(gw, "qbo") == []


def test_an_edit_of_unmapped_fields_writes_nothing(gw):
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    gw.platforms.clear_calls()
    gw.customer(Id=customer["Id"], Notes="called them")
    gw.settle()
    assert writes(gw, "sf") == []
    assert gw.events()[-1].status == EventStatus.SKIPPED
    assert gw.events()[-1].reason == "unchanged"


def test_deactivation_flags_the_account_and_reactivation_clears_it(gw):
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    gw.customer(Id=customer["Id"], Active=False)
    gw.settle()
    account = gw.account(customer["Id"])
    assert account["QBO_Deleted__c"] is True
    assert account["Name"] == "Acme Ltd"  # not "Acme Ltd (deleted)"
    gw.customer(Id=customer["Id"], Active=True)
    gw.settle()
    assert gw.account(customer["Id"])["QBO_Deleted__c"] is False
    assert [e.status for e in gw.events()] == ["synced"] * 3


def test_merge_flags_the_merged_away_account_and_repoints_its_link(gw):
    survivor = gw.customer(DisplayName="Acme Ltd")
    merged = gw.customer(DisplayName="ACME Limited")
    gw.settle()
    gw.platforms.qbo_action(gw.realm, "Customer", merged["Id"], "merge", into=survivor["Id"])
    gw.settle()
    assert gw.account(merged["Id"])["QBO_Deleted__c"] is True
    assert gw.account(survivor["Id"])["QBO_Deleted__c"] is False
    links = {link.quickbooks_id: link for link in gw.links()}
    assert links[merged["Id"]].merged_into == survivor["Id"]
    merge = gw.events(operation="merge")[-1]
    assert merge.status == EventStatus.SYNCED
    assert merge.deleted_id == merged["Id"]


def test_classic_webhooks_work_too(gw):
    gw.platforms.settings("qbo", webhook_format="classic")
    customer = gw.customer(DisplayName="Classic Co")
    gw.settle()
    assert gw.account(customer["Id"])["Name"] == "Classic Co"
    assert gw.events()[0].dedupe_key.startswith(f"{gw.realm}:Customer:{customer['Id']}:Create:")


def test_an_existing_account_with_the_same_email_is_adopted_not_duplicated(gw):
    existing = gw.platforms.sf_create("Account", {"Name": "Acme (SF)", "Email__c": "ap@acme.test"})
    customer = gw.customer(DisplayName="Acme Ltd", PrimaryEmailAddr={"Address": "ap@acme.test"})
    gw.settle()
    accounts = gw.accounts()
    assert len(accounts) == 1
    assert accounts[0]["Id"] == existing["Id"]
    assert accounts[0]["QBO_Id__c"] == f"{gw.realm}-{customer['Id']}"
    assert gw.events()[0].reason.startswith("adopted")


def test_two_matching_accounts_fail_as_ambiguous_instead_of_guessing(gw):
    for name in ("Acme A", "Acme B"):
        gw.platforms.sf_create("Account", {"Name": name, "Email__c": "ap@acme.test"})
    gw.customer(DisplayName="Acme Ltd", PrimaryEmailAddr={"Address": "ap@acme.test"})
    gw.settle()
    assert len(gw.accounts()) == 2
    [event] = gw.events()
    assert event.status == EventStatus.FAILED
    assert "ambiguous match" in event.reason
    assert event.retryable is False


def links_to(gw, salesforce_id: str) -> list[str]:
    return [link.quickbooks_id for link in gw.links() if link.salesforce_id == salesforce_id]


@pytest.mark.parametrize("repeated_ids", ["process", "reject"])
def test_two_customers_matching_one_account_adopt_it_once(gw, repeated_ids):
    # However Salesforce answers a collection naming one Id twice, the gateway never sends one.
    gw.platforms.settings("sf", repeated_ids=repeated_ids)
    existing = gw.platforms.sf_create("Account", {"Name": "Acme (SF)", "Email__c": "ap@acme.test"})
    twins = [
        gw.customer(DisplayName=name, PrimaryEmailAddr={"Address": "ap@acme.test"})["Id"]
        for name in ("Acme Ltd", "Acme Trading")
    ]
    gw.settle()
    assert len({e.claimed_at for e in gw.events()}) == 1  # one run had both
    [account] = gw.accounts()
    assert account["Id"] == existing["Id"]
    [adopter] = links_to(gw, existing["Id"])
    assert account["QBO_Id__c"] == f"{gw.realm}-{adopter}"
    [other] = [qbo_id for qbo_id in twins if qbo_id != adopter]
    by_record = {e.record_id: e for e in gw.events()}
    assert by_record[adopter].status == EventStatus.SYNCED
    assert by_record[adopter].reason.startswith("adopted")
    failed = by_record[other]
    assert (failed.status, failed.retryable) == (EventStatus.FAILED, False)
    assert failed.reason.startswith("ambiguous match")
    assert all(name in failed.reason for name in (existing["Id"], adopter, other))


def test_an_account_linked_to_another_customer_is_not_adopted(gw):
    first = gw.customer(DisplayName="Acme Ltd", PrimaryEmailAddr={"Address": "ap@acme.test"})
    gw.settle()
    account = gw.account(first["Id"])
    # A person clears our external id; the link still says whose record it is.
    gw.platforms.sf("PATCH", f"/_fake/sobjects/Account/{account['Id']}", json={"QBO_Id__c": None})
    second = gw.customer(DisplayName="Acme Trading", PrimaryEmailAddr={"Address": "ap@acme.test"})
    gw.settle()
    assert links_to(gw, account["Id"]) == [first["Id"]]
    [event] = gw.events(record_id=second["Id"])
    assert (event.status, event.retryable) == (EventStatus.FAILED, False)
    assert event.reason.startswith("ambiguous match")
    assert f"Customer {first['Id']} is linked to it" in event.reason
    [account] = gw.accounts()
    assert account["Name"] == "Acme Ltd"


def test_a_burst_is_coalesced_into_few_calls(gw):
    ids = [gw.customer(DisplayName=f"Customer {i}")["Id"] for i in range(60)]
    for i in range(0, 60, 2):  # every other one edited again: 90 webhook events in all
        gw.customer(Id=ids[i], DisplayName=f"Customer {i} (edited)")
    gw.settle()
    names = {a["QBO_Id__c"]: a["Name"] for a in gw.accounts()}
    assert len(names) == 60
    assert names[f"{gw.realm}-{ids[0]}"] == "Customer 0 (edited)"
    assert len(gw.platforms.calls("qbo", "read")) <= 3
    assert len(writes(gw, "sf")) <= 3


def test_a_redelivered_webhook_writes_nothing_twice(gw):
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    delivered = gw.platforms.webhooks()["deliveries"][-1]
    gw.platforms.clear_calls()
    body = delivered["raw"].encode()
    again = gw.app.test_client().post(
        "/webhooks/quickbooks",
        data=body,
        headers={"intuit-signature": intuit_signature(VERIFIER_TOKEN, body)},
    )
    assert again.json["duplicates"] >= 1
    gw.settle()
    assert writes(gw, "sf") == []
    assert len(gw.accounts()) == 1
    assert gw.account(customer["Id"])["Name"] == "Acme Ltd"


def test_invoice_before_its_customer_syncs_the_customer_first(app, runner, fakes):
    gw = connect(app, runner, fakes, INVOICES_YAML)
    invoice = customer_invoice(gw)
    gw.settle()
    account = gw.account(invoice["CustomerRef"]["value"])
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert opportunity["AccountId"] == account["Id"]
    assert opportunity["Name"] == "1001"
    assert opportunity["CloseDate"] == "2026-11-20"
    assert opportunity["StageName"] == "Closed Won"
    assert gw.events(entity="Customer")[0].status == EventStatus.IGNORED  # customers not real time

    gw.platforms.qbo_action(gw.realm, "Invoice", invoice["Id"], "delete")
    gw.settle()
    assert gw.platforms.sf_records("Opportunity") == []
    assert gw.events(operation="delete")[0].status == EventStatus.SYNCED


def test_a_missing_required_field_fails_the_event_naming_it(app, runner, fakes):
    strict = INVOICES_YAML.replace(
        "{quickbooks: PrivateNote, salesforce: StageName, default: Closed Won}",
        "{quickbooks: PrivateNote, salesforce: StageName, required: true}",
    )
    gw = connect(app, runner, fakes, strict)
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.platforms.qbo_save(
        gw.realm,
        "Invoice",
        {
            "TxnDate": "2026-11-20",
            "CustomerRef": {"value": customer["Id"]},
            "Line": invoice_lines(gw, 5.0),
        },
    )
    gw.settle()
    [event] = gw.events(entity="Invoice")
    assert event.status == EventStatus.FAILED
    assert "required field missing: PrivateNote → StageName" in event.reason
    assert event.retryable is False
    assert gw.platforms.sf_records("Opportunity") == []


def test_a_voided_invoice_follows_the_delete_policy(app, runner, fakes):
    flagged = INVOICES_YAML.replace("on_delete: delete", "on_delete: flag:QBO_Deleted__c")
    gw = connect(app, runner, fakes, flagged)
    invoice = customer_invoice(gw, "1002", 80.0)
    gw.settle()
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert (opportunity["Amount"], opportunity["QBO_Deleted__c"]) == (80, False)
    gw.platforms.qbo_action(gw.realm, "Invoice", invoice["Id"], "void")
    gw.settle()
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert opportunity["QBO_Deleted__c"] is True
    void = gw.events(operation="void")[0]
    assert void.status == EventStatus.SYNCED
    assert void.reason.startswith("voided in QuickBooks; flagged QBO_Deleted__c")


def test_an_invoice_whose_customer_cannot_sync_yet_waits_for_it(app, runner, fakes):
    gw = connect(app, runner, fakes, INVOICES_YAML)
    customer = gw.customer(DisplayName="Acme Ltd")
    # The parent Account's write fails once with a lock; the invoice is retried after it.
    gw.platforms.fail_next_account_upsert(400, "UNABLE_TO_LOCK_ROW")
    gw.platforms.qbo_save(
        gw.realm,
        "Invoice",
        {
            "DocNumber": "1003",
            "TxnDate": "2026-11-22",
            "CustomerRef": {"value": customer["Id"]},
            "Line": invoice_lines(gw, 12.0),
        },
    )
    gw.settle()
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert opportunity["AccountId"] == gw.account(customer["Id"])["Id"]
    [event] = gw.events(entity="Invoice")
    assert event.status == EventStatus.SYNCED
    assert event.attempts == 2


def new_invoice(gw, customer_id: str, number: str, announced: bool = True) -> dict:
    """An invoice made in QuickBooks; unannounced, its webhook is lost (see announce)."""
    if not announced:
        gw.platforms.settings("qbo", webhooks_enabled=False)
    invoice = gw.platforms.qbo_save(
        gw.realm,
        "Invoice",
        {
            "DocNumber": number,
            "TxnDate": "2026-11-23",
            "CustomerRef": {"value": customer_id},
            "Line": invoice_lines(gw, float(number)),
        },
    )
    gw.platforms.settings("qbo", webhooks_enabled=True)
    return invoice


def with_customers(app, runner, fakes, **options: str):
    """Connected with the invoices mappings, the customers mapping given these options."""
    lines = "".join(f"\n    {key}: {value}" for key, value in options.items())
    yaml = INVOICES_YAML.replace(
        "salesforce: Account\n    realtime: false", "salesforce: Account" + lines
    )
    return connect(app, runner, fakes, yaml)


def customers_realtime_off(gw) -> None:
    customers = db.session.execute(
        select(ObjectMapping).where(ObjectMapping.name == "customers")
    ).scalar_one()
    realtime.set_enabled(customers, gw.company(), False)
    db.session.commit()


def invoice_failed(gw):
    return lambda: gw.events(entity="Invoice")[0].status == EventStatus.FAILED


def announce(gw, entity: str, record_id: str) -> None:
    """The webhook Intuit sends for an update of this record, delivered now."""
    event = cloudevent(gw.realm, entity, record_id, "updated", f"late-{entity}-{record_id}")
    body, headers = signed([event], VERIFIER_TOKEN)
    answer = gw.app.test_client().post("/webhooks/quickbooks", data=body, headers=headers)
    assert answer.status_code == 200, answer.json


def test_a_parent_whose_mapping_flows_the_other_way_is_never_written_from_here(app, runner, fakes):
    gw = with_customers(app, runner, fakes, realtime="false", direction="salesforce_to_quickbooks")
    customer = gw.customer(DisplayName="Acme Ltd")
    new_invoice(gw, customer["Id"], "2001")
    gw.settle(until=invoice_failed(gw))
    [event] = gw.events(entity="Invoice")
    assert event.retryable is True
    assert event.reason == (
        f"parent Customer {customer['Id']} is not synced to Salesforce: "
        "mapping 'customers' flows salesforce_to_quickbooks"
    )
    assert gw.accounts() == []
    # The other direction links the customer to an Account; the invoice then goes through.
    account = gw.platforms.sf_create("Account", {"Name": "Acme (SF)"})
    customers = db.session.execute(
        select(ObjectMapping).where(ObjectMapping.name == "customers")
    ).scalar_one()
    db.session.add(
        RecordLink(
            mapping_id=customers.id,
            company_id=gw.company().id,
            quickbooks_id=customer["Id"],
            salesforce_id=account["Id"],
        )
    )
    db.session.commit()
    gw.settle()
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert opportunity["AccountId"] == account["Id"]
    assert [a["Name"] for a in gw.accounts()] == ["Acme (SF)"]


@pytest.mark.parametrize("policy", ["flag:QBO_Deleted__c", "delete"])
def test_an_inactive_parent_is_written_with_its_delete_policy(app, runner, fakes, policy):
    gw = with_customers(app, runner, fakes, realtime="false", on_delete=policy)
    customer = gw.customer(DisplayName="Acme Ltd")
    new_invoice(gw, customer["Id"], "2002")
    later = new_invoice(gw, customer["Id"], "2004", announced=False)
    gw.customer(Id=customer["Id"], Active=False)
    gw.settle()
    [event] = gw.events(entity="Invoice")
    if policy == "delete":
        assert gw.accounts() == [] and gw.platforms.sf_records("Opportunity") == []
        assert (event.status, event.retryable) == (EventStatus.FAILED, False)
        assert event.reason == (
            f"parent Customer {customer['Id']} is inactive in QuickBooks and mapping "
            "'customers' deletes inactive records"
        )
        return
    account = gw.account(customer["Id"])
    assert account["QBO_Deleted__c"] is True
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert opportunity["AccountId"] == account["Id"]
    assert event.status == EventStatus.SYNCED
    [link] = [link for link in gw.links() if link.salesforce_id == account["Id"]]
    assert link.deleted is True
    # The next invoice of that customer points at the same Account without writing it again.
    gw.platforms.clear_calls()
    announce(gw, "Invoice", later["Id"])
    gw.settle()
    assert {o["AccountId"] for o in gw.platforms.sf_records("Opportunity")} == {account["Id"]}
    assert len(writes(gw, "sf")) == 1
    assert gw.events(entity="Invoice")[-1].status == EventStatus.SYNCED


def deleted_parent_reactivated_unannounced(app, runner, fakes, realtime: bool):
    """A customer synced, deleted from Salesforce by its delete policy, then reactivated in
    QuickBooks while no webhook told us; then an invoice for it arrives."""
    gw = with_customers(app, runner, fakes, realtime="true", on_delete="delete")
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    first_account = gw.account(customer["Id"])["Id"]
    gw.customer(Id=customer["Id"], Active=False)
    gw.settle()
    assert gw.accounts() == []
    gw.platforms.settings("qbo", webhooks_enabled=False)
    gw.customer(Id=customer["Id"], Active=True)
    gw.platforms.settings("qbo", webhooks_enabled=True)
    if not realtime:
        customers_realtime_off(gw)
    new_invoice(gw, customer["Id"], "2003")
    return gw, customer, first_account


def test_a_parent_whose_link_is_deleted_is_written_again(app, runner, fakes):
    gw, customer, first_account = deleted_parent_reactivated_unannounced(
        app, runner, fakes, realtime=True
    )
    gw.settle()
    account = gw.account(customer["Id"])
    assert account["Id"] != first_account and account["QBO_Deleted__c"] is False
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert opportunity["AccountId"] == account["Id"]
    assert gw.events(entity="Invoice")[0].status == EventStatus.SYNCED


def test_with_real_time_off_a_deleted_parent_is_left_alone_and_the_child_says_why(
    app, runner, fakes
):
    gw, customer, _ = deleted_parent_reactivated_unannounced(app, runner, fakes, realtime=False)
    gw.settle(until=invoice_failed(gw))
    assert gw.accounts() == [] and gw.platforms.sf_records("Opportunity") == []
    [event] = gw.events(entity="Invoice")
    assert event.retryable is True
    assert event.reason.startswith(
        f"parent Customer {customer['Id']} is deleted in Salesforce and real time is off for "
        "mapping 'customers'"
    )
    assert "flask sync run customers" in event.reason


def test_with_real_time_off_a_flagged_parent_is_pointed_at_as_it_is(app, runner, fakes):
    gw = with_customers(app, runner, fakes, realtime="true", on_delete="flag:QBO_Deleted__c")
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    invoice = new_invoice(gw, customer["Id"], "2005", announced=False)
    gw.customer(Id=customer["Id"], Active=False)
    gw.settle()
    assert gw.account(customer["Id"])["QBO_Deleted__c"] is True
    customers_realtime_off(gw)
    gw.platforms.clear_calls()
    announce(gw, "Invoice", invoice["Id"])
    gw.settle()
    account = gw.account(customer["Id"])
    assert account["QBO_Deleted__c"] is True  # real time is off: left as the person left it
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert opportunity["AccountId"] == account["Id"]
    assert len(writes(gw, "sf")) == 1


def test_a_parent_whose_mapping_leaves_this_company_out_is_not_written(app, runner, fakes):
    gw = with_customers(app, runner, fakes, realtime="false", companies='["1"]')
    customer = gw.customer(DisplayName="Acme Ltd")
    new_invoice(gw, customer["Id"], "2006")
    gw.settle()
    assert gw.accounts() == []
    [event] = gw.events(entity="Invoice")
    assert (event.status, event.retryable) == (EventStatus.FAILED, False)
    assert event.reason == (
        f"parent Customer {customer['Id']} is not synced to Salesforce: mapping 'customers' "
        f"does not apply to company {gw.realm}"
    )

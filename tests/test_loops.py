"""Both directions on: one edit on either side is exactly one write to the other side and none
back, and the same record edited on both sides converges on the later edit. Counted with the
emulators' call logs (kind "write"), end to end through the real worker."""

from __future__ import annotations

import time

import pytest

from gateway.models import EventStatus
from tests.support.factories import TWO_WAY_CUSTOMERS_YAML
from tests.support.salesforce_changes import SalesforceTrigger
from tests.support.scenario import connect

# No field flows one way only: every mapped value is the same on both sides after a sync.
CUSTOMERS_YAML = TWO_WAY_CUSTOMERS_YAML


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes, CUSTOMERS_YAML)


@pytest.fixture
def trigger(gw):
    """The Apex trigger's stand-in: every Account save (ours too) is sent to the gateway."""
    return SalesforceTrigger(gw.platforms, gw.company(), ("Account",))


def settle_both(gw, trigger) -> None:
    """Run until neither platform has anything more to tell the gateway."""
    for _ in range(5):
        gw.settle()
        if trigger.deliver() == 0 and gw.platforms.webhooks()["pending"] == 0:
            gw.settle()
            if trigger.deliver() == 0:
                return
    raise AssertionError("the two sides kept notifying each other")


def writes(gw, which: str) -> int:
    return len(gw.platforms.calls(which, "write"))


def linked_pair(gw, trigger) -> tuple[dict, dict]:
    account = gw.platforms.sf_create("Account", {"Name": "Acme Ltd", "BillingCity": "Leeds"})
    settle_both(gw, trigger)
    [customer] = gw.platforms.qbo_records(gw.realm, "Customer")
    gw.platforms.clear_calls()
    return account, customer


def test_a_salesforce_create_is_one_quickbooks_write_and_only_the_id_goes_back(gw, trigger):
    gw.platforms.sf_create("Account", {"Name": "Acme Ltd", "BillingCity": "Leeds"})
    settle_both(gw, trigger)
    assert writes(gw, "qbo") == 1
    assert writes(gw, "sf") == 1  # the QuickBooks id, and nothing after its echo
    echoes = [e for e in gw.events() if e.status == EventStatus.SKIPPED]
    assert {e.source for e in echoes} == {"quickbooks", "salesforce"}
    assert {e.reason for e in echoes} == {"unchanged"}


def test_a_salesforce_edit_is_one_quickbooks_write_and_none_back(gw, trigger):
    account, customer = linked_pair(gw, trigger)
    gw.platforms.sf("PATCH", f"/_fake/sobjects/Account/{account['Id']}", json={"Name": "Acme 2"})
    settle_both(gw, trigger)
    assert writes(gw, "qbo") == 1
    assert writes(gw, "sf") == 0
    assert gw.platforms.qbo_records(gw.realm, "Customer")[0]["DisplayName"] == "Acme 2"


def test_a_quickbooks_edit_is_one_salesforce_write_and_none_back(gw, trigger):
    account, customer = linked_pair(gw, trigger)
    gw.customer(Id=customer["Id"], BillAddr={"City": "York"})
    settle_both(gw, trigger)
    assert writes(gw, "sf") == 1
    assert writes(gw, "qbo") == 0
    assert gw.account(customer["Id"])["BillingCity"] == "York"


def test_a_quickbooks_create_is_one_salesforce_write_and_none_back(gw, trigger):
    gw.customer(DisplayName="Made in QuickBooks")
    settle_both(gw, trigger)
    assert writes(gw, "sf") == 1
    assert writes(gw, "qbo") == 0


def test_both_sides_edited_converge_on_the_later_salesforce_edit(gw, trigger):
    account, customer = linked_pair(gw, trigger)
    gw.customer(Id=customer["Id"], BillAddr={"City": "York"})
    time.sleep(1.1)  # QuickBooks stamps whole seconds: the later edit is a second later
    gw.platforms.sf(
        "PATCH", f"/_fake/sobjects/Account/{account['Id']}", json={"BillingCity": "Hull"}
    )
    trigger.deliver()
    settle_both(gw, trigger)
    assert gw.platforms.qbo_records(gw.realm, "Customer")[0]["BillAddr"]["City"] == "Hull"
    assert gw.account(customer["Id"])["BillingCity"] == "Hull"
    decided = [e for e in gw.events(source="quickbooks") if (e.reason or "").startswith("conflict")]
    assert decided and "kept the Salesforce version" in decided[0].reason


def test_both_sides_edited_converge_on_the_later_quickbooks_edit(gw, trigger):
    account, customer = linked_pair(gw, trigger)
    gw.platforms.sf(
        "PATCH", f"/_fake/sobjects/Account/{account['Id']}", json={"BillingCity": "Hull"}
    )
    trigger.fire()  # the callout is sent after the QuickBooks edit is made
    time.sleep(1.1)
    gw.customer(Id=customer["Id"], BillAddr={"City": "York"})
    gw.platforms.wait_webhooks_delivered()
    trigger.seen.clear()
    trigger.deliver()
    settle_both(gw, trigger)
    assert gw.platforms.qbo_records(gw.realm, "Customer")[0]["BillAddr"]["City"] == "York"
    assert gw.account(customer["Id"])["BillingCity"] == "York"


@pytest.fixture
def invoices_gw(app, runner, fakes):
    from tests.test_line_items import INVOICES_YAML

    return connect(app, runner, fakes, INVOICES_YAML)


def test_an_opportunity_with_lines_goes_over_once_and_nothing_comes_back(invoices_gw):
    from tests.test_line_items import invoices, item_lines, opportunity_with_lines

    gw = invoices_gw
    watched = ("Account", "Product2", "Opportunity", "OpportunityLineItem")
    trigger = SalesforceTrigger(gw.platforms, gw.company(), watched)
    opportunity_with_lines(gw, [("Design", 2, 150.0), ("Build", 10, 80.5)])
    gw.platforms.clear_calls()
    settle_both(gw, trigger)
    [invoice] = invoices(gw)
    assert len(item_lines(invoice)) == 2
    # the Customer, the two Items in one batch, the Invoice: and no second round
    assert writes(gw, "qbo") == 3
    # the ids written back: Account, Products, Opportunity with its line items
    assert writes(gw, "sf") == 3
    failed = [e for e in gw.events() if e.status == EventStatus.FAILED]
    assert failed == []


def test_an_invoice_with_lines_goes_over_once_and_nothing_comes_back(invoices_gw):
    from tests.test_line_items import quickbooks_invoice

    gw = invoices_gw
    watched = ("Account", "Product2", "Opportunity", "OpportunityLineItem")
    trigger = SalesforceTrigger(gw.platforms, gw.company(), watched)
    quickbooks_invoice(gw, [("Design", 2, 150.0), ("Build", 10, 80.5)])
    settle_both(gw, trigger)
    assert writes(gw, "qbo") == 0
    assert [e for e in gw.events() if e.status == EventStatus.FAILED] == []


def test_a_line_item_edit_is_one_quickbooks_write_and_none_back(invoices_gw):
    from tests.test_line_items import invoices, item_lines, opportunity_with_lines

    gw = invoices_gw
    watched = ("Account", "Product2", "Opportunity", "OpportunityLineItem")
    trigger = SalesforceTrigger(gw.platforms, gw.company(), watched)
    opportunity_with_lines(gw, [("Design", 2, 150.0), ("Build", 10, 80.5)])
    settle_both(gw, trigger)
    gw.platforms.clear_calls()
    [item] = [i for i in gw.platforms.sf_records("OpportunityLineItem") if i["Quantity"] == 2]
    gw.platforms.sf(
        "PATCH", f"/_fake/sobjects/OpportunityLineItem/{item['Id']}", json={"Quantity": 3}
    )
    settle_both(gw, trigger)
    [invoice] = invoices(gw)
    assert [line["SalesItemLineDetail"]["Qty"] for line in item_lines(invoice)] == [3, 10]
    assert writes(gw, "qbo") == 1
    assert writes(gw, "sf") == 0


def test_an_opportunity_without_products_goes_over_once_and_nothing_comes_back(invoices_gw):
    from tests.test_line_items import invoices, item_lines, opportunity_with_lines

    gw = invoices_gw
    gw.platforms.qbo_save(gw.realm, "Item", {"Name": "Services", "Type": "Service"})
    watched = ("Account", "Product2", "Opportunity", "OpportunityLineItem")
    trigger = SalesforceTrigger(gw.platforms, gw.company(), watched)
    settle_both(gw, trigger)  # the item becomes a Product2 (items flow both ways)
    opportunity_with_lines(gw, [], amount=1250.0)
    gw.platforms.clear_calls()
    settle_both(gw, trigger)
    [invoice] = invoices(gw)
    assert [line["Amount"] for line in item_lines(invoice)] == [1250]
    assert writes(gw, "qbo") == 2  # the Customer, the Invoice
    assert writes(gw, "sf") == 2  # their ids written back
    assert gw.platforms.sf_records("OpportunityLineItem") == []


def test_with_the_fake_salesforces_own_callouts_an_account_goes_over_once(gw, fakes):
    """The fake Salesforce sends the package's callout for every Account save, ours included,
    straight to the callout edge: nothing in the test chooses what is sent."""
    from tests.fakes.client import FakesClient

    gw.platforms.settings("sf", callout_objects=["Account"], webhook_batch_ms=20)
    gw.platforms.sf_create("Account", {"Name": "Acme Ltd", "BillingCity": "Leeds"})
    with FakesClient(fakes) as fake:
        for _ in range(4):  # our id write-back is a save too: its callout comes next
            fake.wait_callouts_delivered()
            gw.settle()
    [customer] = gw.platforms.qbo_records(gw.realm, "Customer")
    assert customer["DisplayName"] == "Acme Ltd"
    assert writes(gw, "qbo") == 1
    assert writes(gw, "sf") == 1
    sf_events = gw.events(source="salesforce")
    assert [e.status for e in sf_events] == ["synced", "skipped"]  # the second is the echo

"""The sync log of Salesforce -> QuickBooks events: the Salesforce record read, the QuickBooks
body written, the QuickBooks id, the diff of an update and QuickBooks' own error, from real
callouts through the emulators and the real worker."""

from __future__ import annotations

import pytest

from gateway import event_log
from gateway.models import EventStatus
from tests.support.events import changed_rows
from tests.support.factories import TWO_WAY_CUSTOMERS_YAML
from tests.support.salesforce_changes import send_callout
from tests.support.scenario import connect


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes, TWO_WAY_CUSTOMERS_YAML)


def sync_account(gw, fields: dict, account_id: str | None = None):
    """Create (or edit) an Account in Salesforce, send its callout, and return its event."""
    if account_id is None:
        account = gw.platforms.sf_create("Account", fields)
    else:
        account = gw.platforms.sf("PATCH", f"/_fake/sobjects/Account/{account_id}", json=fields)
    send_callout(gw.company(), "Account", [account])
    gw.settle()
    return gw.events(source="salesforce")[-1], account


def test_an_event_shows_the_record_read_the_body_written_and_the_quickbooks_id(gw, admin_client):
    event, account = sync_account(gw, {"Name": "Acme Ltd", "BillingCity": "Leeds"})
    assert event.status == EventStatus.SYNCED, event.reason
    [customer] = gw.platforms.qbo_records(gw.realm, "Customer")
    [attempt] = event_log.attempts(event)
    assert (attempt.target_object, attempt.target_id) == ("Customer", customer["Id"])
    source = event_log.loads(attempt.source)
    assert (source["Id"], source["Name"]) == (account["Id"], "Acme Ltd")
    written = event_log.loads(attempt.written)
    assert written["DisplayName"] == "Acme Ltd" and written["BillAddr"]["City"] == "Leeds"

    detail = admin_client.get(f"/admin/log/{event.id}").text
    assert f"in QuickBooks ({customer['Id']})" in detail
    assert f"customerdetail?nameId={customer['Id']}" in detail
    assert f"in Salesforce ({account['Id']})" in detail
    read = detail.split('id="source-heading"')[1].split("</section>")[0]
    assert account["Id"] in read and "Acme Ltd" in read
    body = detail.split('id="written-heading"')[1].split("</section>")[0]
    assert "DisplayName" in body and "Leeds" in body


def test_an_update_shows_what_it_changed_in_quickbooks(gw, admin_client):
    first, account = sync_account(gw, {"Name": "Acme Ltd", "BillingCity": "Leeds"})
    second, _ = sync_account(gw, {"BillingCity": "York"}, account["Id"])
    assert second.status == EventStatus.SYNCED, second.reason
    [customer] = gw.platforms.qbo_records(gw.realm, "Customer")
    assert event_log.attempts(second)[-1].target_id == customer["Id"]

    detail = admin_client.get(f"/admin/log/{second.id}").text
    changed = changed_rows(detail)
    assert len(changed) == 1 and "BillAddr" in changed[0]
    assert "Leeds" in changed[0] and "York" in changed[0]
    assert f"/admin/log/{first.id}" in detail  # the other event of the same account


def test_a_refused_write_keeps_quickbooks_answer_and_the_body_it_refused(gw, admin_client):
    gw.platforms.settings(
        "qbo",
        fail_next=[{"match": r"/customer$", "method": "POST", "status": 400, "times": 1}],
    )
    event, account = sync_account(gw, {"Name": "Acme Ltd", "BillingCity": "Leeds"})
    assert event.status == EventStatus.FAILED
    assert gw.platforms.qbo_records(gw.realm, "Customer") == []
    [attempt] = event_log.attempts(event)
    assert attempt.error_code == "6000" and attempt.intuit_tid
    assert (attempt.target_object, attempt.target_id) == ("Customer", None)
    assert event_log.loads(attempt.source)["Id"] == account["Id"]
    assert event_log.loads(attempt.written)["DisplayName"] == "Acme Ltd"

    detail = admin_client.get(f"/admin/log/{event.id}").text
    assert "injected fault" in detail and attempt.intuit_tid in detail
    assert "in QuickBooks (" not in detail  # nothing was created there

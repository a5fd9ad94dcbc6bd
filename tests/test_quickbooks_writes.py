"""QuickBooks writes against the fake Intuit: requestid idempotency, sparse updates and 5010,
6240 as its own error, batches of 30, deletes and deactivation."""

from __future__ import annotations

import pytest

from gateway.connectors.quickbooks import QuickBooksClient
from gateway.connectors.quickbooks_writes import (
    DuplicateName,
    KeptQuickBooks,
    QuickBooksWrites,
    StaleObject,
    Write,
    request_id,
)
from tests.support.scenario import connect


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes)


@pytest.fixture
def writes(gw) -> QuickBooksWrites:
    return QuickBooksWrites(QuickBooksClient(gw.company()))


def qbo_writes(gw) -> list[dict]:
    return gw.platforms.calls("qbo", "write")


def test_the_same_write_again_gets_the_first_answer_and_no_second_record(gw, writes):
    first = writes.create("Customer", {"DisplayName": "Acme"}, key="Account:001A:hash1")
    again = writes.create("Customer", {"DisplayName": "Acme"}, key="Account:001A:hash1")
    assert again["Id"] == first["Id"]
    assert len(gw.platforms.qbo_records(gw.realm, "Customer")) == 1
    assert len({c["query"]["requestid"] for c in qbo_writes(gw)}) == 1
    assert request_id(gw.realm, "a") != request_id(gw.realm, "b")
    assert request_id(gw.realm, "a") != request_id("another realm", "a")


def test_a_sparse_update_sends_only_its_fields(gw, writes):
    created = gw.customer(DisplayName="Acme", Notes="keep me")
    updated = writes.update(
        "Customer", created["Id"], created["SyncToken"], {"DisplayName": "Acme 2"}, key="k"
    )
    assert (updated["DisplayName"], updated["Notes"]) == ("Acme 2", "keep me")
    assert int(updated["SyncToken"]) == int(created["SyncToken"]) + 1


def test_a_stale_token_is_read_again_and_retried_unless_told_to_keep_quickbooks(gw, writes):
    created = gw.customer(DisplayName="Acme")
    gw.customer(Id=created["Id"], Notes="changed meanwhile")
    updated = writes.update("Customer", created["Id"], created["SyncToken"], {"Notes": "ours"}, "k")
    assert updated["Notes"] == "ours"
    assert [c["status"] for c in qbo_writes(gw)] == [400, 200]
    gw.customer(Id=created["Id"], Notes="theirs")
    with pytest.raises(KeptQuickBooks) as kept:
        writes.update(
            "Customer", created["Id"], updated["SyncToken"], {"Notes": "ours again"}, "k2",
            go_ahead=lambda current: False,
        )  # fmt: skip
    assert kept.value.current["Notes"] == "theirs"


def test_a_duplicate_name_is_its_own_error(gw, writes):
    gw.customer(DisplayName="Acme")
    with pytest.raises(DuplicateName) as error:
        writes.create("Customer", {"DisplayName": "Acme"}, key="dup")
    assert error.value.code == "6240"


def test_batches_hold_thirty_and_answer_each_item(gw, writes):
    taken = gw.customer(DisplayName="Taken")
    items = [
        Write("Customer", "create", f"c{i}", {"DisplayName": f"Customer {i}"}) for i in range(31)
    ]
    items.append(Write("Customer", "create", "dup", {"DisplayName": "Taken"}))
    items.append(Write("Customer", "update", "u", {"Notes": "x"}, taken["Id"], "99"))
    results = writes.batch(items)
    assert [c["path"].rsplit("/", 1)[-1] for c in qbo_writes(gw)] == ["batch", "batch"]
    assert all(r["DisplayName"] == f"Customer {i}" for i, r in enumerate(results[:31]))
    assert isinstance(results[31], DuplicateName)
    assert isinstance(results[32], StaleObject)


def test_name_list_records_are_made_inactive_and_transactions_deleted(gw, writes):
    customer = gw.customer(DisplayName="Acme")
    line = {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}
    invoice = gw.platforms.qbo_save(
        gw.realm, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]}
    )
    writes.delete("Invoice", invoice["Id"], invoice["SyncToken"], key="d2")
    assert gw.platforms.qbo_records(gw.realm, "Invoice") == []
    customer = gw.platforms.qbo_records(gw.realm, "Customer")[0]
    gone = writes.delete("Customer", customer["Id"], customer["SyncToken"], key="d")
    assert gone["Active"] is False

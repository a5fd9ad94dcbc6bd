"""The Salesforce client's /composite calls, through the emulator: several queries or
collections in one API call, answers in order, a failed subrequest a clear error."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.connectors.salesforce import SalesforceCallError, SalesforceClient
from gateway.extensions import db
from gateway.models import SalesforceOrg
from tests.support.scenario import connect


@pytest.fixture
def sf(app, runner, fakes):
    gw = connect(app, runner, fakes)
    client = SalesforceClient(db.session.execute(select(SalesforceOrg)).scalar_one())
    gw.platforms.clear_calls()
    return gw, client


def posts_and_gets(gw) -> list[str]:
    return [
        f"{c['method']} {c['path'].split('/v59.0/')[-1].split('/')[0]}"
        for c in gw.platforms.calls("sf")
        if c["kind"] != "auth"
    ]


def test_many_queries_go_five_to_a_call_and_long_answers_are_paged(sf):
    gw, client = sf
    for n in range(12):
        gw.platforms.sf_create("Account", {"Name": f"Acc {n}", "Email__c": f"a{n}@x.test"})
    gw.platforms.settings("sf", query_page_size=2)
    gw.platforms.clear_calls()
    soqls = [f"SELECT Id, Name FROM Account WHERE Email__c = 'a{n}@x.test'" for n in range(7)]
    soqls.append("SELECT Id, Name FROM Account WHERE Name LIKE 'Acc 1%'")  # 3 records
    rows = client.query_each(soqls)
    assert sorted(r["Name"] for r in rows) == sorted(
        [f"Acc {n}" for n in range(7)] + ["Acc 1", "Acc 10", "Acc 11"]
    )
    # 8 queries: two composite calls (5 + 3), and one GET for the second page of the last
    assert posts_and_gets(gw) == ["POST composite", "POST composite", "GET query"]

    gw.platforms.clear_calls()
    assert [r["Name"] for r in client.query_each([soqls[0]])] == ["Acc 0"]
    assert posts_and_gets(gw) == ["GET query"]  # one query is a plain GET


def test_a_failed_query_subrequest_is_the_call_failing(sf):
    _, client = sf
    with pytest.raises(SalesforceCallError) as failed:
        client.query_each(["SELECT Id FROM Account", "SELECT Nope__c FROM Account"])
    assert failed.value.status == 400 and failed.value.retryable is False
    assert failed.value.errors[0]["errorCode"] == "INVALID_FIELD"
    assert "query" in str(failed.value)


def test_more_than_200_writes_go_as_collections_five_to_a_call(sf):
    gw, client = sf
    existing = gw.platforms.sf_create("Account", {"Name": "Old", "QBO_Id__c": "r-5"})
    records = [{"Name": f"New {n}", "QBO_Id__c": f"r-{n}"} for n in range(1050)]
    records[300] = {"QBO_Id__c": "r-300"}  # no Name: fails alone
    results = client.upsert_many("Account", "QBO_Id__c", records)
    assert len(results) == 1050
    assert results[5] == {"id": existing["Id"], "success": True, "errors": [], "created": False}
    assert results[300]["success"] is False
    assert results[300]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sum(1 for r in results if r.get("created")) == 1048
    # 6 collections of up to 200: two composite calls (5 + 1)
    assert posts_and_gets(gw) == ["POST composite", "POST composite"]
    names = {a["QBO_Id__c"]: a["Name"] for a in gw.accounts()}
    assert names["r-5"] == "New 5" and names["r-1049"] == "New 1049" and "r-300" not in names

    gw.platforms.clear_calls()
    updates = [{"Id": results[n]["id"], "Name": f"Renamed {n}"} for n in (0, 1)]
    assert [r["success"] for r in client.update_many("Account", updates)] == [True, True]
    assert posts_and_gets(gw) == ["PATCH composite"]  # up to 200: one collection call

"""The QuickBooks client against the fake Intuit: tokens, limits and Faults."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import pytest

from gateway.connectors import ReconnectNeeded
from gateway.connectors.quickbooks import (
    QuickBooksClient,
    QuickBooksError,
    Throttled,
    faults_in,
    parse_faults,
)
from gateway.extensions import db
from gateway.models import Company, ConnectionStatus, utcnow
from tests.support.factories import connect_quickbooks
from tests.support.scenario import connect

THROTTLE_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse '
    b'xmlns="http://schema.intuit.com/finance/v3" time="2016-05-04T10:00:00.000-07:00">'
    b'<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; '
    b"errorCode=003001; statusCode=429</Message><Detail>The request limit was reached. Try "
    b"again later</Detail></Error></Fault></IntuitResponse>"
)


def test_fault_shapes_are_all_understood():
    upper = b'{"Fault":{"Error":[{"Message":"Stale Object Error","Detail":"d","code":"5010"}]}}'
    lower = b'{"fault":{"error":[{"message":"AuthenticationFailed","detail":"x","code":"3200"}]}}'
    assert parse_faults(upper, "application/json") == [
        {"code": "5010", "message": "Stale Object Error", "detail": "d"}
    ]
    assert parse_faults(lower, "application/json")[0]["code"] == "3200"
    [xml] = parse_faults(THROTTLE_XML, "text/xml")
    assert xml["code"] == "3001" and "ThrottleExceeded" in xml["message"]
    assert parse_faults(b"not json", "application/json") == []


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes)


def client_for(gw) -> QuickBooksClient:
    return QuickBooksClient(gw.company())


def run_in_threads(app, gw, workers: int, queries: int) -> list[Exception]:
    """Workers (threads, each with its own client and session) start together and query;
    returns what they raised."""
    errors: list[Exception] = []
    start = threading.Barrier(workers, timeout=30)

    def work():
        with app.app_context():
            try:
                client = client_for(gw)
                db.session.close()  # more workers than pooled connections: give it back
                start.wait()
                for _ in range(queries):
                    client.query("SELECT * FROM Customer")
            except Exception as exc:  # collected for the test to assert on
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def expire_access_token(gw) -> None:
    company = gw.company()
    company.access_token_expires_at = utcnow() - timedelta(minutes=5)
    db.session.commit()


def test_eight_workers_with_an_expired_token_make_one_refresh(app, gw):
    expire_access_token(gw)
    before = gw.company().refresh_token
    assert run_in_threads(app, gw, workers=8, queries=1) == []
    assert len(gw.platforms.calls("qbo", "auth")) == 1
    after = gw.company()
    assert after.refresh_token != before  # the rotated token was stored
    assert after.access_token_expires_at > utcnow()


def test_a_401_mid_run_refreshes_once_and_retries(gw):
    client = client_for(gw)
    gw.platforms.settings(
        "qbo", fail_next=[{"match": "/query", "status": 401, "times": 1, "body": "lowercase"}]
    )
    answer = client.query("SELECT * FROM Customer")
    assert "QueryResponse" in answer
    assert len(gw.platforms.calls("qbo", "auth")) == 1


def test_invalid_grant_marks_reconnect_needed_without_a_retry_storm(gw):
    company = gw.company()
    company.refresh_token = "revoked-token"
    company.access_token_expires_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    with pytest.raises(ReconnectNeeded):
        client_for(gw).query("SELECT * FROM Customer")
    assert gw.company().status == ConnectionStatus.RECONNECT_NEEDED
    with pytest.raises(ReconnectNeeded):
        client_for(gw).query("SELECT * FROM Customer")
    assert len(gw.platforms.calls("qbo", "auth")) == 1


@pytest.mark.parametrize("body", ["fault", "xml", "fault-in-200", "lowercase"])
def test_throttling_in_any_shape_pauses_the_whole_company(gw, body, caplog):
    client = client_for(gw)
    gw.platforms.settings(
        "qbo", fail_next=[{"match": "/query", "status": 429, "times": 1, "body": body}]
    )
    with caplog.at_level(logging.WARNING), pytest.raises(Throttled):
        client.query("SELECT * FROM Customer")
    calls = len(gw.platforms.calls("qbo"))
    with pytest.raises(Throttled):  # paused: no call leaves this process
        client_for(gw).query("SELECT * FROM Customer")
    assert len(gw.platforms.calls("qbo")) == calls
    assert "intuit_tid" in caplog.text


def test_a_fault_inside_a_200_is_an_error(gw):
    gw.platforms.settings(
        "qbo",
        fail_next=[
            {
                "match": "/query",
                "status": 400,
                "times": 1,
                "body": "fault-in-200",
                "code": "6190",
                "message": "Invalid Company Status",
            }
        ],
    )
    with pytest.raises(QuickBooksError) as error:
        client_for(gw).query("SELECT * FROM Customer")
    assert (error.value.status, error.value.code, error.value.retryable) == (200, "6190", False)


# Answers a 200 may carry instead of a QueryResponse; none of them may read as "no records".
LATE_FAULT = {  # the Fault comes after 200 bytes of something else
    "time": "2026-11-26T10:00:00.000-08:00",
    "warnings": ["W" * 300],
    "Fault": {
        "Error": [{"Message": "An application error", "Detail": "d", "code": "10000"}],
        "type": "SystemFault",
    },
}
ERROR_AS_OBJECT = {
    "Fault": {"Error": {"Message": "Invalid Company Status", "code": "6190"}, "type": "Validation"}
}
NESTED_FAULT = {"IntuitResponse": {"Fault": {"Error": [{"message": "bad", "code": "2010"}]}}}
EMPTY_FAULT = {"Fault": {"type": "SystemFault"}}
NO_QUERY_RESPONSE = {"time": "2026-11-26T10:00:00.000-08:00"}
RECORDS_WITHOUT_IDS = {"QueryResponse": {"Customer": [{"DisplayName": "x"}]}}


def test_faults_are_found_wherever_they_are_and_whatever_their_shape():
    late = json.dumps(LATE_FAULT).encode()
    assert b"ault" not in late[:200]
    assert parse_faults(late, "application/json")[0]["code"] == "10000"
    assert faults_in(ERROR_AS_OBJECT) == [
        {"code": "6190", "message": "Invalid Company Status", "detail": ""}
    ]
    assert faults_in(NESTED_FAULT)[0]["code"] == "2010"
    assert faults_in(EMPTY_FAULT) == [{"code": "", "message": "Fault SystemFault", "detail": ""}]
    assert faults_in({"Fault": ["gone"]})[0]["message"] == "Fault gone"
    assert faults_in({"QueryResponse": {"Customer": [{"Id": "1"}]}, "Fault": None}) == []
    # a batch's per-item Faults belong to their items, not to the whole answer
    assert faults_in({"BatchItemResponse": [{"bId": "1", "Fault": {"Error": []}}]}) == []


@pytest.mark.parametrize(
    ("answer", "code", "retryable"),
    [
        (LATE_FAULT, "10000", True),  # Intuit's severe range: an error on their side
        (ERROR_AS_OBJECT, "6190", False),  # the subscription ended: a person acts first
        (NESTED_FAULT, "2010", False),
        (EMPTY_FAULT, "", True),
        (NO_QUERY_RESPONSE, "", True),
        (RECORDS_WITHOUT_IDS, "", True),
        ([], "", True),
    ],
    ids=["late", "error-object", "nested", "empty", "no-query-response", "no-ids", "array"],
)
def test_a_200_that_is_not_a_query_answer_is_an_error_never_no_records(gw, answer, code, retryable):
    client = client_for(gw)
    customer = gw.platforms.qbo_save(gw.realm, "Customer", {"DisplayName": "Acme"})
    gw.platforms.settings(
        "qbo", fail_next=[{"match": "/query", "status": 200, "times": 1, "body": answer}]
    )
    with pytest.raises(QuickBooksError) as error:
        client.query_by_ids("Customer", [customer["Id"]])
    assert (error.value.status, error.value.code, error.value.retryable) == (200, code, retryable)
    # the next, normal answer is read as before
    [record] = client.query_by_ids("Customer", [customer["Id"]])
    assert record["DisplayName"] == "Acme"


def test_an_empty_query_response_is_no_records(gw):
    assert client_for(gw).query_by_ids("Customer", ["424242"]) == []


def test_limits_are_shared_so_the_fake_never_throttles(app, gw):
    gw.platforms.settings("qbo", latency_ms=150)
    assert run_in_threads(app, gw, workers=16, queries=2) == []
    reads = gw.platforms.calls("qbo", "read")
    assert len(reads) == 32
    assert all(call["status"] == 200 for call in reads)


def test_minorversion_is_sent_and_errors_carry_intuit_tid(gw):
    client = client_for(gw)
    with pytest.raises(QuickBooksError) as error:
        client.read("Customer", "999999")
    assert error.value.code == "610"
    assert error.value.intuit_tid
    assert "intuit_tid" in str(error.value)
    [call] = gw.platforms.calls("qbo", "read")
    assert call["query"]["minorversion"] == "75"


def test_reconnected_company_is_connected_again(gw, runner):
    company = gw.company()
    company.status = ConnectionStatus.RECONNECT_NEEDED
    db.session.commit()
    fresh = gw.platforms.qbo("POST", "/_fake/companies", json={"name": "again"})
    result = connect_quickbooks(runner, fresh["realmId"], fresh["refresh_token"])
    assert result.exit_code == 0
    assert fresh["realmId"] in result.output
    bad = runner.invoke(args=["connect", "quickbooks", "--realm-id", "1", "--refresh-token", "no"])
    assert bad.exit_code != 0
    assert "invalid_grant" in bad.output or "refused" in bad.output
    assert db.session.query(Company).count() == 2

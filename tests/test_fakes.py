"""The offline QuickBooks and Salesforce emulators, exercised through the real clients.

A tiny HTTP receiver stands in for the gateway so webhook and callout deliveries can be checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

import pytest
import requests
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session
from simple_salesforce import (
    Salesforce,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)
from werkzeug.wrappers import Request, Response

from tests.fakes import start_fakes
from tests.fakes.client import FakesClient, FakesClientError
from tests.fakes.server import BackgroundServer

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
VERIFIER, SECRET = "verifier-token", "callout-secret"
CLIENT = HTTPBasicAuth("client-id", "client-secret")


def vector(name: str) -> dict:
    path = SHARED / "vectors" / "qbo-entities" / name
    if not path.is_file():
        pytest.fail(
            f"reference vector {path} is missing: these tests compare the fakes with "
            f"the real bodies kept in the shared/ folder beside the repository"
        )
    return json.loads(path.read_text())


class Receiver:
    """Stands in for the gateway: keeps every delivery, answers with scripted statuses."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: list[tuple[str, dict, bytes]] = []
        self.statuses: list[int] = []
        self.server = BackgroundServer(self.app, 0, None).start()
        self.url = self.server.url

    @Request.application
    def app(self, request: Request) -> Response:
        with self.lock:
            self.deliveries.append((request.path, dict(request.headers), request.get_data()))
            status = self.statuses.pop(0) if self.statuses else 200
        return Response("", status=status)

    def clear(self) -> None:
        with self.lock:
            self.deliveries.clear()
            self.statuses.clear()

    def bodies(self, path: str) -> list[tuple[dict, bytes]]:
        with self.lock:
            return [(h, raw) for p, h, raw in self.deliveries if p == path]


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.server.stop()


@pytest.fixture(scope="module")
def fakes(receiver):
    f = start_fakes(gateway_url=receiver.url, verifier_token=VERIFIER, callout_secret=SECRET)
    yield f
    f.stop()


@pytest.fixture(autouse=True)
def _clean(fakes, receiver):
    fakes.reset()
    receiver.clear()


@pytest.fixture
def client(fakes):
    with FakesClient(fakes) as c:
        yield c


@pytest.fixture
def http(fakes):
    session = requests.Session()
    session.verify = fakes.ca_bundle
    session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would override session.verify
    yield session
    session.close()


class Qbo:
    """A connected company and its v3 API."""

    def __init__(self, http: requests.Session, base: str, realm: str, token: str) -> None:
        self.http, self.realm = http, realm
        self.base = f"{base}/v3/company/{realm}"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(f"{self.base}/{path}", params=params, headers=self.headers)

    def post(self, path: str, body=None, **params) -> requests.Response:
        return self.http.post(f"{self.base}/{path}", json=body, params=params, headers=self.headers)

    def query(self, text: str) -> requests.Response:
        return self.get("query", query=text, minorversion=75)

    def create(self, entity: str, body: dict) -> dict:
        resp = self.post(entity.lower(), body)
        assert resp.status_code == 200, resp.text
        return resp.json()[entity]


def qbo_token(http, fakes, refresh_token: str) -> dict:
    resp = http.post(
        fakes.quickbooks_token_url,
        auth=CLIENT,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def qbo(fakes, client, http) -> Qbo:
    company = client.qbo_create_company("Test Co")
    token = qbo_token(http, fakes, company["refresh_token"])
    return Qbo(http, fakes.quickbooks_url, company["realmId"], token["access_token"])


def sf_token(http, fakes, refresh_token: str) -> dict:
    resp = http.post(
        fakes.salesforce_url + "/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "client-id",
            "client_secret": "client-secret",
        },
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def sf_session(fakes):
    session = requests.Session()
    session.verify = fakes.ca_bundle
    session.trust_env = False
    yield session
    session.close()


def connect_sf(http, fakes, client, sf_session, org=None) -> Salesforce:
    org = org or client.sf_create_org()
    token = sf_token(http, fakes, org["refresh_token"])
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        version="59.0",
        session=sf_session,
    )


@pytest.fixture
def sf(fakes, client, http, sf_session) -> Salesforce:
    return connect_sf(http, fakes, client, sf_session)


def intuit_signature(raw: bytes, token: str = VERIFIER) -> str:
    return base64.b64encode(hmac.new(token.encode(), raw, hashlib.sha256).digest()).decode()


def events_of(receiver: Receiver) -> list[dict]:
    return [e for _h, raw in receiver.bodies("/webhooks/quickbooks") for e in json.loads(raw)]


# --- QuickBooks: OAuth --------------------------------------------------------------------


def test_qbo_refresh_rotates_and_the_old_token_is_invalid_grant(fakes, client):
    refresh = client.qbo_create_company()["refresh_token"]
    session = OAuth2Session("client-id")
    token = session.refresh_token(
        fakes.quickbooks_token_url, refresh_token=refresh, auth=CLIENT, verify=fakes.ca_bundle
    )
    assert token["token_type"] == "bearer" and token["expires_in"] == 3600
    assert token["x_refresh_token_expires_in"] == 8726400
    assert len(token["access_token"]) > 900  # Intuit's are about 1 KB
    assert token["refresh_token"] != refresh
    with pytest.raises(InvalidGrantError):
        session.refresh_token(
            fakes.quickbooks_token_url, refresh_token=refresh, auth=CLIENT, verify=fakes.ca_bundle
        )

    client.settings("quickbooks", rotate_refresh_tokens=False)
    again = session.refresh_token(
        fakes.quickbooks_token_url,
        refresh_token=token["refresh_token"],
        auth=CLIENT,
        verify=fakes.ca_bundle,
    )
    assert again["refresh_token"] == token["refresh_token"]


def test_qbo_invalid_grant_body_and_client_secret_post(fakes, http):
    resp = http.post(
        fakes.quickbooks_token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": "nope",
            "client_id": "id",
            "client_secret": "secret",
        },
    )
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "invalid_grant",
        "error_description": "Incorrect or invalid refresh token",
    }
    assert resp.headers["intuit_tid"]


def test_qbo_authorization_code_flow(fakes, http):
    redirect = "http://127.0.0.1:5055/oauth/quickbooks/callback"
    page = http.get(
        fakes.quickbooks_auth_url,
        params={
            "client_id": "client-id",
            "redirect_uri": redirect,
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "state": "xyz",
        },
    )
    assert page.status_code == 200 and 'id="authorize"' in page.text
    consent = http.post(
        fakes.quickbooks_auth_url,
        allow_redirects=False,
        data={
            "client_id": "client-id",
            "redirect_uri": redirect,
            "state": "xyz",
            "scope": "com.intuit.quickbooks.accounting",
            "realmId": "new",
            "decision": "allow",
        },
    )
    assert consent.status_code == 302
    location = urlparse(consent.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert location.path == "/oauth/quickbooks/callback" and params["state"] == "xyz"

    session = OAuth2Session("client-id", redirect_uri=redirect)
    token = session.fetch_token(
        fakes.quickbooks_token_url, code=params["code"], auth=CLIENT, verify=fakes.ca_bundle
    )
    api = Qbo(http, fakes.quickbooks_url, params["realmId"], token["access_token"])
    assert api.get(f"companyinfo/{params['realmId']}").json()["CompanyInfo"]["Id"] == "1"
    with pytest.raises(InvalidGrantError):  # codes are single-use
        session.fetch_token(
            fakes.quickbooks_token_url, code=params["code"], auth=CLIENT, verify=fakes.ca_bundle
        )


def test_qbo_expired_token_and_other_realm_get_401(fakes, client, http, qbo):
    client.settings("quickbooks", token_lifetime=0.3)
    other = client.qbo_create_company()
    short = qbo_token(http, fakes, other["refresh_token"])["access_token"]
    wrong_realm = Qbo(http, fakes.quickbooks_url, qbo.realm, short)
    assert wrong_realm.get("customer/1").status_code == 401
    time.sleep(0.4)
    resp = Qbo(http, fakes.quickbooks_url, other["realmId"], short).get("customer/1")
    assert resp.status_code == 401
    fault = resp.json()["fault"]
    assert fault["type"] == "AUTHENTICATION"
    assert fault["error"][0]["code"] == "3200"
    assert fault["error"][0]["detail"] == "Token expired"
    assert "statusCode=401" in fault["error"][0]["message"]


# --- QuickBooks: API ----------------------------------------------------------------------


def test_qbo_customer_bodies_match_the_real_ones(qbo):
    read_vec = vector("customer.read-response.ledgersync.json")
    update_vec = vector("customer.update-response.ledgersync.json")
    query_vec = vector("customer.query-response.ledgersync.json")
    created = qbo.create(
        "Customer",
        {
            "DisplayName": "Sample Customer",
            "PrimaryEmailAddr": {"Address": "test@example.com"},
            "DefaultTaxCodeRef": {"value": "2"},
        },
    )
    read = qbo.get(f"customer/{created['Id']}", minorversion=75)
    assert set(read.json()) - {"time"} == set(read_vec)
    assert set(read.json()["Customer"]) == set(read_vec["Customer"])
    assert read.json()["Customer"]["SyncToken"] == "0"
    assert read.json()["Customer"]["domain"] == "QBO"

    updated = qbo.post(
        "customer",
        {
            "Id": created["Id"],
            "SyncToken": "0",
            "sparse": True,
            "PrintOnCheckName": "Sample Customer",
        },
    )
    assert set(updated.json()["Customer"]) == set(update_vec["Customer"])
    assert updated.json()["Customer"]["SyncToken"] == "1"

    queried = qbo.query("SELECT * FROM Customer").json()
    assert set(query_vec["QueryResponse"]) <= set(queried["QueryResponse"])
    assert set(queried["QueryResponse"]["Customer"][0]) == set(
        query_vec["QueryResponse"]["Customer"][0]
    )
    assert read.headers["intuit_tid"] != updated.headers["intuit_tid"]


def test_qbo_invoice_body_matches_the_real_one(qbo):
    invoice_vec = vector("invoice.read-response.ledgersync.json")["Invoice"]
    customer = qbo.create("Customer", {"DisplayName": "Lola"})
    item = qbo.create("Item", {"Name": "Services"})
    invoice = qbo.create(
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "PrivateNote": "Memo 1",
            "Line": [
                {
                    "Amount": 1.5,
                    "DetailType": "SalesItemLineDetail",
                    "Description": "Test",
                    "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}},
                }
            ],
        },
    )
    assert set(invoice) == set(invoice_vec)
    assert invoice["TotalAmt"] == 1.5 and invoice["Balance"] == 1.5
    assert invoice["CustomerRef"] == {"value": customer["Id"], "name": "Lola"}
    assert invoice["Line"][-1]["DetailType"] == "SubTotalLineDetail"


def test_qbo_stale_sync_token_and_duplicate_name(qbo):
    customer = qbo.create("Customer", {"DisplayName": "Acme"})
    assert (
        qbo.post(
            "customer",
            {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Acme Inc"},
        ).status_code
        == 200
    )
    stale = qbo.post(
        "customer",
        {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Acme Ltd"},
    )
    assert stale.status_code == 400
    error = stale.json()["Fault"]["Error"][0]
    assert stale.json()["Fault"]["type"] == "ValidationFault"
    assert (error["code"], error["Message"]) == ("5010", "Stale Object Error")

    duplicate = qbo.post("customer", {"DisplayName": "acme"})
    assert duplicate.status_code == 400
    assert duplicate.json()["Fault"]["Error"][0]["code"] == "6240"
    # Customers, vendors and employees share one namespace of display names.
    assert qbo.post("vendor", {"DisplayName": "Acme"}).json()["Fault"]["Error"][0]["code"] == "6240"
    missing = qbo.get("customer/999")
    assert missing.status_code == 400 and missing.json()["Fault"]["Error"][0]["code"] == "610"


def test_qbo_sparse_and_full_updates(qbo):
    customer = qbo.create(
        "Customer",
        {
            "DisplayName": "Acme",
            "CompanyName": "Acme Inc",
            "PrimaryEmailAddr": {"Address": "a@acme.test"},
        },
    )
    sparse = qbo.post(
        "customer",
        {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Acme Ltd"},
    ).json()["Customer"]
    assert sparse["PrimaryEmailAddr"] == {"Address": "a@acme.test"}
    assert sparse["CompanyName"] == "Acme Ltd"
    cleared = qbo.post(
        "customer", {"Id": customer["Id"], "SyncToken": "1", "sparse": True, "CompanyName": None}
    ).json()["Customer"]
    assert "CompanyName" not in cleared
    full = qbo.post(
        "customer", {"Id": customer["Id"], "SyncToken": "2", "DisplayName": "Acme"}
    ).json()["Customer"]
    assert "PrimaryEmailAddr" not in full and "CompanyName" not in full
    unknown = qbo.post("customer", {"DisplayName": "X", "Colour": "red"})
    assert unknown.json()["Fault"]["Error"][0]["code"] == "2010"


def test_qbo_inactive_records_get_the_suffix_and_leave_queries(qbo):
    customer = qbo.create("Customer", {"DisplayName": "Acme"})
    inactive = qbo.post(
        "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False}
    ).json()["Customer"]
    assert inactive["DisplayName"] == "Acme (deleted)"
    by_id = f"SELECT * FROM Customer WHERE Id IN ('{customer['Id']}')"
    assert qbo.query(by_id).json()["QueryResponse"] == {}
    both = qbo.query(by_id + " AND Active IN (true, false) MAXRESULTS 1000").json()
    assert both["QueryResponse"]["Customer"][0]["Active"] is False
    qbo.create("Customer", {"DisplayName": "Acme"})  # the name is free again
    clash = qbo.post(
        "customer", {"Id": customer["Id"], "SyncToken": "1", "sparse": True, "Active": True}
    )
    assert clash.json()["Fault"]["Error"][0]["code"] == "6240"


def test_qbo_query_grammar(qbo):
    for name in ("Alpha", "Albert", "Beta", "Gamma", "O'Brien"):
        qbo.create("Customer", {"DisplayName": name, "Notes": f"note {name}"})

    def names(text: str) -> list[str]:
        resp = qbo.query(text)
        assert resp.status_code == 200, resp.text
        return [c["DisplayName"] for c in resp.json()["QueryResponse"].get("Customer", [])]

    assert names("select * from Customer where DisplayName IN ('Beta', 'gamma')") == [
        "Beta",
        "Gamma",
    ]
    assert names("SELECT * FROM Customer WHERE DisplayName LIKE 'Al%' ORDERBY DisplayName") == [
        "Albert",
        "Alpha",
    ]
    assert names("SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien'") == ["O'Brien"]
    page = qbo.query(
        "SELECT * FROM Customer ORDERBY DisplayName DESC STARTPOSITION 2 MAXRESULTS 2"
    ).json()["QueryResponse"]
    assert [c["DisplayName"] for c in page["Customer"]] == ["Gamma", "Beta"]
    assert (page["startPosition"], page["maxResults"]) == (2, 2)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    assert (
        len(
            names(
                f"SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '{past}' "
                "AND Active = true"
            )
        )
        == 5
    )
    count = qbo.query("SELECT COUNT(*) FROM Customer").json()["QueryResponse"]
    assert count == {"totalCount": 5}
    empty = qbo.query("SELECT * FROM Customer WHERE DisplayName = 'Nobody'").json()
    assert set(empty) == {"QueryResponse", "time"} and empty["QueryResponse"] == {}
    posted = qbo.http.post(
        f"{qbo.base}/query",
        data="SELECT * FROM Customer MAXRESULTS 1",
        headers={**qbo.headers, "Content-Type": "application/text"},
    )
    assert posted.json()["QueryResponse"]["maxResults"] == 1
    for bad in (
        "SELECT * FROM Customer WHERE",
        "SELECT * FROM Customer WHERE Id = '1' OR Id = '2'",
        "SELECT * FORM Customer",
    ):
        resp = qbo.query(bad)
        assert resp.status_code == 400
        assert resp.json()["Fault"]["Error"][0]["code"] == "4000", bad
    assert qbo.query("SELECT * FROM customer").status_code == 400  # entity names are exact


def test_qbo_requestid_makes_writes_idempotent(qbo, client, receiver):
    first = qbo.post("customer", {"DisplayName": "Once"}, requestid="req-1")
    second = qbo.post("customer", {"DisplayName": "Once"}, requestid="req-1")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(client.qbo_records(qbo.realm, "Customer")) == 1
    client.wait_webhooks_delivered()
    assert [e["type"] for e in events_of(receiver)] == ["qbo.customer.created.v1"]


def test_qbo_void_delete_and_cdc(qbo):
    customer = qbo.create("Customer", {"DisplayName": "Lola"})
    line = {"Amount": 40, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}
    first = qbo.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})
    second = qbo.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})
    assert qbo.get(f"customer/{customer['Id']}").json()["Customer"]["Balance"] == 80
    by_customer = qbo.query(f"SELECT * FROM Invoice WHERE CustomerRef = '{customer['Id']}'")
    assert by_customer.json()["QueryResponse"]["maxResults"] == 2
    # a query shows balances worked out from the invoices, and can filter by them
    qbo.create("Customer", {"DisplayName": "Owes nothing"})
    listed = qbo.query("SELECT * FROM Customer ORDERBY DisplayName").json()["QueryResponse"]
    assert [(c["DisplayName"], c["Balance"]) for c in listed["Customer"]] == [
        ("Lola", 80),
        ("Owes nothing", 0),
    ]
    owing = qbo.query("SELECT * FROM Customer WHERE Balance > '50'").json()["QueryResponse"]
    assert [c["DisplayName"] for c in owing["Customer"]] == ["Lola"]
    bad_line = qbo.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [{"Amount": "lots", "DetailType": "SalesItemLineDetail"}],
        },
    )
    assert bad_line.status_code == 400 and "Fault" in bad_line.json()

    voided = qbo.post("invoice", {"Id": first["Id"], "SyncToken": "0"}, operation="void")
    assert voided.json()["Invoice"]["TotalAmt"] == 0
    assert voided.json()["Invoice"]["PrivateNote"] == "Voided"
    deleted = qbo.post("invoice", {"Id": second["Id"], "SyncToken": "0"}, operation="delete")
    assert deleted.json()["Invoice"]["status"] == "Deleted"
    assert qbo.get(f"invoice/{second['Id']}").json()["Fault"]["Error"][0]["code"] == "610"
    payment = qbo.create("Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 5})
    void_payment = qbo.post(
        "payment",
        {"Id": payment["Id"], "SyncToken": "0", "sparse": True},
        operation="update",
        include="void",
    )
    assert void_payment.json()["Payment"]["TotalAmt"] == 0

    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    cdc = qbo.get("cdc", entities="Customer,Invoice", changedSince=since).json()
    shape = vector("cdc-response.shape.python-quickbooks-test.json")
    assert set(cdc) == set(shape)
    responses = cdc["CDCResponse"][0]["QueryResponse"]
    assert [set(r) for r in responses] == [set(r) for r in shape["CDCResponse"][0]["QueryResponse"]]
    invoices = {i["Id"]: i for i in responses[1]["Invoice"]}
    assert invoices[second["Id"]]["status"] == "Deleted"
    assert invoices[first["Id"]]["PrivateNote"] == "Voided"


def test_qbo_batch(qbo):
    customer = qbo.create("Customer", {"DisplayName": "Batchy"})
    resp = qbo.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "1", "operation": "create", "Customer": {"DisplayName": "New One"}},
                {
                    "bId": "2",
                    "operation": "update",
                    "Customer": {
                        "Id": customer["Id"],
                        "SyncToken": "7",
                        "sparse": True,
                        "Notes": "x",
                    },
                },
                {"bId": "3", "Query": "SELECT * FROM Customer WHERE DisplayName = 'Batchy'"},
            ]
        },
    )
    items = {i["bId"]: i for i in resp.json()["BatchItemResponse"]}
    assert items["1"]["Customer"]["DisplayName"] == "New One"
    assert items["2"]["Fault"]["Error"][0]["code"] == "5010"
    assert items["3"]["QueryResponse"]["Customer"][0]["Id"] == customer["Id"]
    too_many = [{"bId": str(i), "Query": "SELECT * FROM Customer"} for i in range(31)]
    assert qbo.post("batch", {"BatchItemRequest": too_many}).status_code == 400


def test_qbo_throttles_per_minute(qbo, client):
    client.settings("quickbooks", rate_limit_per_minute=3)
    statuses = [qbo.get("companyinfo/1").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    fault = qbo.get("companyinfo/1").json()["Fault"]
    assert fault["type"] == "SERVICE"
    assert fault["Error"][0]["code"] == "3001"
    assert fault["Error"][0]["Detail"] == "The request limit was reached. Try again later"


def test_qbo_concurrency_limit(fakes, client, http):
    company = client.qbo_create_company()
    api = Qbo(
        http,
        fakes.quickbooks_url,
        company["realmId"],
        qbo_token(http, fakes, company["refresh_token"])["access_token"],
    )
    client.settings("quickbooks", max_concurrent=2, latency_ms=500)
    with ThreadPoolExecutor(5) as pool:
        statuses = list(
            pool.map(
                lambda _: requests.get(
                    f"{api.base}/companyinfo/1", headers=api.headers, verify=fakes.ca_bundle
                ).status_code,
                range(5),
            )
        )
    assert statuses.count(429) >= 1 and statuses.count(200) >= 2


def test_an_injected_fault_is_as_slow_as_an_answer(qbo, client):
    # Tests that race a run against a slow platform rely on its errors being slow too.
    client.settings(
        "quickbooks", latency_ms=300, fail_next=[{"match": r"/customer/", "status": 500}]
    )
    started = time.monotonic()
    assert qbo.get("customer/1").status_code == 500
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("style", ["fault", "xml", "fault-in-200", "lowercase"])
def test_qbo_fail_next_body_styles(qbo, client, style):
    qbo.create("Customer", {"DisplayName": "Acme"})
    client.settings(
        "quickbooks", fail_next=[{"match": r"/customer/", "status": 429, "times": 2, "body": style}]
    )
    for _ in range(2):
        resp = qbo.get("customer/1")
        if style == "xml":
            assert resp.status_code == 429 and resp.headers["Content-Type"].startswith("text/xml")
            root = ElementTree.fromstring(resp.content)
            ns = {"i": "http://schema.intuit.com/finance/v3"}
            assert root.find("i:Fault", ns).get("type") == "SERVICE"
            assert root.find("i:Fault/i:Error", ns).get("code") == "3001"
        elif style == "lowercase":
            assert resp.status_code == 429
            assert resp.json()["fault"]["error"][0]["code"] == "3001"
        elif style == "fault-in-200":
            assert resp.status_code == 200
            assert resp.json()["Fault"]["Error"][0]["code"] == "3001"
        else:
            assert resp.status_code == 429
            assert resp.json()["Fault"]["Error"][0]["Message"].startswith(
                "message=ThrottleExceeded"
            )
    assert qbo.get("customer/1").json()["Customer"]["DisplayName"] == "Acme"
    assert [c["status"] for c in client.calls("quickbooks") if "/customer/" in c["path"]] == (
        [200, 200, 200] if style == "fault-in-200" else [429, 429, 200]
    )


def test_qbo_random_errors_and_bad_settings(qbo, client):
    client.settings("quickbooks", error_rate=1.0, seed=7)
    resp = qbo.get("companyinfo/1")
    assert resp.status_code == 500 and resp.json()["Fault"]["type"] == "SystemFault"
    with pytest.raises(FakesClientError) as bad:
        client.settings("quickbooks", no_such_setting=1)
    assert bad.value.status == 400 and set(bad.value.body) == {"error", "message"}
    with pytest.raises(FakesClientError):
        client.settings("quickbooks", webhook_format="xml")


def test_qbo_calls_log(fakes, qbo, client):
    qbo.create("Customer", {"DisplayName": "Acme"})
    qbo.get("customer/1", minorversion=75)
    qbo.query("SELECT * FROM Customer")
    client.qbo_edit(qbo.realm, "Customer", {"Id": "1", "Notes": "control edits are not calls"})
    calls = client.calls("quickbooks")
    assert [c["kind"] for c in calls] == ["auth", "write", "read", "read"]
    assert all(c["company"] == qbo.realm for c in calls)
    assert calls[2]["query"] == {"minorversion": "75"}
    assert {"time", "method", "path", "query", "company", "status", "kind"} <= set(calls[0])
    client.clear_calls("quickbooks")
    assert client.calls("quickbooks") == []


def test_qbo_control_saves_many_records_in_one_request(qbo, client, receiver):
    client.settings("quickbooks", webhook_format="classic", webhook_batch_ms=50)
    first = client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "First"})
    saved = client.qbo_edit_many(
        qbo.realm,
        "Customer",
        [{"DisplayName": f"Many {n}"} for n in range(3)]
        + [{"Id": first["Id"], "Notes": "edited in the same request"}],
    )
    assert [r["DisplayName"] for r in saved] == ["Many 0", "Many 1", "Many 2", "First"]
    assert saved[3]["Id"] == first["Id"] and saved[3]["SyncToken"] == "1"
    assert len({r["Id"] for r in saved}) == 4
    assert len(client.qbo_records(qbo.realm, "Customer")) == 4
    # the control API is never an API call
    assert [c["kind"] for c in client.calls("quickbooks")] == ["auth"]
    # each record tells the gateway as a single edit would
    client.wait_webhooks_delivered()
    told = [
        (e["name"], e["id"], e["operation"])
        for _, raw in receiver.bodies("/webhooks/quickbooks")
        for e in json.loads(raw)["eventNotifications"][0]["dataChangeEvent"]["entities"]
    ]
    assert sorted(told) == sorted(
        [("Customer", first["Id"], "Create"), ("Customer", first["Id"], "Update")]
        + [("Customer", r["Id"], "Create") for r in saved[:3]]
    )

    with pytest.raises(FakesClientError) as bad:
        client.qbo_edit_many(qbo.realm, "Customer", [{"DisplayName": "Kept"}, {"Notes": "x"}])
    assert bad.value.status == 400
    assert (
        "record 1" in bad.value.body["message"] and "1 saved before it" in bad.value.body["message"]
    )
    assert len(client.qbo_records(qbo.realm, "Customer")) == 5
    with pytest.raises(FakesClientError) as not_objects:
        client.qbo_edit_many(qbo.realm, "Customer", ["Acme"])
    assert not_objects.value.status == 400


# --- QuickBooks: webhooks -----------------------------------------------------------------


def test_qbo_webhooks_cloudevents_are_signed_and_aggregated(qbo, client, receiver):
    client.settings("quickbooks", webhook_batch_ms=500)
    customer = client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "Acme"})
    qbo.post(
        "customer",
        {
            "Id": customer["Id"],
            "SyncToken": customer["SyncToken"],
            "sparse": True,
            "Notes": "api write",
        },
    )
    snapshot = client.wait_webhooks_delivered()
    assert all(d["delivered"] for d in snapshot["deliveries"])
    posts = receiver.bodies("/webhooks/quickbooks")
    assert len(posts) == 1  # both changes fell in one aggregation window
    headers, raw = posts[0]
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert hmac.compare_digest(headers["Intuit-Signature"], intuit_signature(raw))
    events = json.loads(raw)
    assert [e["type"] for e in events] == ["qbo.customer.created.v1", "qbo.customer.updated.v1"]
    first = events[0]
    assert set(first) == {
        "specversion",
        "id",
        "source",
        "type",
        "datacontenttype",
        "time",
        "intuitentityid",
        "intuitaccountid",
        "data",
    }
    assert (first["intuitaccountid"], first["intuitentityid"]) == (qbo.realm, customer["Id"])
    assert first["source"].startswith("intuit.") and first["time"].endswith("Z")


def test_qbo_webhooks_classic_format_and_merge(qbo, client, receiver):
    client.settings("quickbooks", webhook_format="classic", webhook_batch_ms=50)
    keep = client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "Keep"})
    gone = client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "Gone"})
    client.qbo_merge(qbo.realm, "Customer", gone["Id"], into=keep["Id"])
    client.wait_webhooks_delivered()
    entities = []
    for headers, raw in receiver.bodies("/webhooks/quickbooks"):
        assert headers["Content-Type"] == "application/json"
        assert headers["Intuit-Signature"] == intuit_signature(raw)
        body = json.loads(raw)
        assert body["eventNotifications"][0]["realmId"] == qbo.realm
        entities += body["eventNotifications"][0]["dataChangeEvent"]["entities"]
    assert [e["operation"] for e in entities] == ["Create", "Create", "Merge"]
    assert {k: entities[-1][k] for k in ("name", "id", "deletedId")} == {
        "name": "Customer",
        "id": keep["Id"],
        "deletedId": gone["Id"],
    }
    merged_away = client.qbo_record(qbo.realm, "Customer", gone["Id"])
    assert merged_away["Active"] is False


def test_qbo_merge_cloudevent_and_void_delete_types(qbo, client, receiver):
    client.settings("quickbooks", webhook_batch_ms=50)
    keep = client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "Keep"})
    gone = client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "Gone"})
    invoice = client.qbo_edit(qbo.realm, "Invoice", {"CustomerRef": {"value": gone["Id"]}})
    client.qbo_merge(qbo.realm, "Customer", gone["Id"], into=keep["Id"])
    client.qbo_void(qbo.realm, "Invoice", invoice["Id"])
    client.qbo_delete(qbo.realm, "Invoice", invoice["Id"])
    client.wait_webhooks_delivered()
    events = events_of(receiver)
    assert [e["type"] for e in events][-3:] == [
        "qbo.customer.merged.v1",
        "qbo.invoice.voided.v1",
        "qbo.invoice.deleted.v1",
    ]
    merge = events[-3]
    assert merge["intuitentityid"] == keep["Id"] and merge["data"] == {"deletedid": gone["Id"]}


def test_qbo_webhook_retries_keep_the_same_bytes(qbo, client, receiver):
    client.settings("quickbooks", webhook_batch_ms=20, webhook_retry_delays=[0.05, 0.05, 0.05])
    receiver.statuses = [500, 503]
    client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "Retry"})
    snapshot = client.wait_webhooks_delivered()
    posts = receiver.bodies("/webhooks/quickbooks")
    assert len(posts) == 3
    assert len({raw for _h, raw in posts}) == 1  # same bytes, so the same event ids
    assert snapshot["deliveries"][0]["attempts"] == 3
    assert snapshot["deliveries"][0]["delivered"] is True


def test_qbo_webhooks_can_be_switched_off_and_verifier_changed(qbo, client, receiver):
    client.settings("quickbooks", webhooks_enabled=False)
    client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "Silent"})
    assert client.wait_webhooks_delivered()["deliveries"] == []
    client.settings(
        "quickbooks", webhooks_enabled=True, verifier_token="rotated", webhook_batch_ms=20
    )
    client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "Loud"})
    client.wait_webhooks_delivered()
    ((headers, raw),) = receiver.bodies("/webhooks/quickbooks")
    assert headers["Intuit-Signature"] == intuit_signature(raw, "rotated")


def test_qbo_control_api(qbo, client):
    with pytest.raises(FakesClientError) as unknown:
        client.qbo_edit(qbo.realm, "Widget", {"Name": "x"})
    assert unknown.value.status == 400 and set(unknown.value.body) == {"error", "message"}
    client.qbo_edit(qbo.realm, "Customer", {"DisplayName": "Taken"})
    with pytest.raises(FakesClientError) as duplicate:
        client.qbo_edit(qbo.realm, "customer", {"DisplayName": "Taken"})
    assert duplicate.value.body["error"].startswith("6240")
    edited = client.qbo_edit(qbo.realm, "Customer", {"Id": "1", "Notes": "by hand"})
    assert edited["SyncToken"] == "1" and edited["DisplayName"] == "Taken"
    deactivated = client.qbo_delete(qbo.realm, "Customer", "1")
    assert deactivated["Active"] is False
    assert len(client.qbo_records(qbo.realm, "Customer")) == 1  # inactive ones are listed


# --- Salesforce: OAuth --------------------------------------------------------------------


def test_sf_refresh_token_grant(fakes, client):
    org = client.sf_create_org()
    url = fakes.salesforce_url + "/services/oauth2/token"
    session = OAuth2Session("client-id", scope=["api", "refresh_token"])
    token = session.refresh_token(
        url, refresh_token=org["refresh_token"], auth=CLIENT, verify=fakes.ca_bundle
    )
    assert token["instance_url"] == fakes.salesforce_url
    assert token["id"] == f"https://login.salesforce.com/id/{org['org_id']}/{org['user_id']}"
    assert token["token_type"] == "Bearer" and token["issued_at"].isdigit()
    assert token["refresh_token"] == org["refresh_token"]  # kept by the client: none came back
    raw = requests.post(
        url,
        data={
            "grant_type": "refresh_token",
            "client_id": "client-id",
            "refresh_token": org["refresh_token"],
        },
        verify=fakes.ca_bundle,
    ).json()
    assert "refresh_token" not in raw and "expires_in" not in raw
    with pytest.raises(InvalidGrantError) as bad:
        session.refresh_token(url, refresh_token="5Aep-wrong", auth=CLIENT, verify=fakes.ca_bundle)
    assert bad.value.description == "expired access/refresh token"

    client.settings("salesforce", rotate_refresh_tokens=True)
    rotated = session.refresh_token(
        url, refresh_token=org["refresh_token"], auth=CLIENT, verify=fakes.ca_bundle
    )
    assert rotated["refresh_token"] != org["refresh_token"]
    with pytest.raises(InvalidGrantError):
        session.refresh_token(
            url, refresh_token=org["refresh_token"], auth=CLIENT, verify=fakes.ca_bundle
        )


def test_sf_authorization_code_flow_with_pkce(fakes, client, http):
    client.sf_create_org()
    redirect = "http://127.0.0.1:5055/oauth/salesforce/callback"
    verifier = "v" * 50
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    authorize = fakes.salesforce_url + "/services/oauth2/authorize"
    assert (
        http.get(
            authorize,
            params={"response_type": "code", "client_id": "client-id", "redirect_uri": redirect},
        ).status_code
        == 200
    )
    consent = http.post(
        authorize,
        allow_redirects=False,
        data={
            "client_id": "client-id",
            "redirect_uri": redirect,
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "decision": "allow",
        },
    )
    params = parse_qs(urlparse(consent.headers["Location"]).query)
    assert consent.status_code == 302 and params["state"] == ["s1"]
    token = http.post(
        fakes.salesforce_url + "/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "client_id": "client-id",
            "client_secret": "client-secret",
            "redirect_uri": redirect,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200 and token.json()["refresh_token"].startswith("5Aep")
    assert token.json()["scope"] == "api refresh_token"


# --- Salesforce: REST through simple-salesforce ---------------------------------------------


def test_sf_upsert_by_external_id(sf, client):
    first = sf.Account.upsert("QBO_Id__c/123-1", {"Name": "Acme"}, raw_response=True)
    assert first.status_code == 201
    assert first.json() == {
        "id": first.json()["id"],
        "success": True,
        "errors": [],
        "created": True,
    }
    second = sf.Account.upsert("QBO_Id__c/123-1", {"Name": "Acme 2"}, raw_response=True)
    assert (second.status_code, second.json()["created"]) == (200, False)
    assert second.json()["id"] == first.json()["id"]
    assert sf.Account.get_by_custom_id("QBO_Id__c", "123-1")["Name"] == "Acme 2"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.upsert("QBO_Id__c/123-2", {"Name": "X", "QBO_Id__c": "123-2"})
    with pytest.raises(SalesforceResourceNotFound) as not_external:
        sf.Account.upsert("Phone/555", {"Name": "X"})
    assert not_external.value.content[0]["errorCode"] == "NOT_FOUND"

    client.sf_add_field("Account", name="Legacy__c", type="string", externalId=True)
    for _ in range(2):
        client.sf_create("Account", {"Name": "Twin", "Legacy__c": "L1"})
    with pytest.raises(SalesforceMoreThanOneRecord) as several:
        sf.Account.upsert("Legacy__c/L1", {"Name": "Which?"})
    assert len(several.value.content) == 2
    assert several.value.content[0].startswith("/services/data/v59.0/sobjects/Account/001")


def test_sf_record_crud(sf):
    created = sf.Account.create({"Name": "Crud", "Phone": "555-0100"})
    assert created["success"] is True and len(created["id"]) == 18
    assert created["id"].startswith("001")
    record = sf.Account.get(created["id"])
    assert record["attributes"]["type"] == "Account" and record["IsDeleted"] is False
    assert sf.Account.update(created["id"], {"Phone": "555-0199"}) == 204
    after = sf.Account.get(created["id"])
    assert after["Phone"] == "555-0199"
    assert after["SystemModstamp"] > record["SystemModstamp"]
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created["id"])


def test_sf_collections_upsert(sf, client):
    def upsert(records, all_or_none=False):
        return sf.restful(
            "composite/sobjects/Account/QBO_Id__c",
            method="PATCH",
            json={
                "allOrNone": all_or_none,
                "records": [{"attributes": {"type": "Account"}, **r} for r in records],
            },
        )

    sf.Account.upsert("QBO_Id__c/9-1", {"Name": "Existing"})
    results = upsert(
        [
            {"Name": "One", "QBO_Id__c": "9-1"},
            {"Name": "Two", "QBO_Id__c": "9-2"},
            {"QBO_Id__c": "9-3"},
        ]
    )
    assert [(r["success"], r.get("created")) for r in results] == [
        (True, False),
        (True, True),
        (False, None),
    ]
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[2]["errors"][0]["fields"] == ["Name"]

    rolled = upsert(
        [{"Name": "Fine", "QBO_Id__c": "9-4"}, {"Name": "x" * 300, "QBO_Id__c": "9-5"}], True
    )
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert rolled[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert {r["QBO_Id__c"] for r in client.sf_records("Account")} == {"9-1", "9-2"}

    untyped = sf.restful(
        "composite/sobjects/Account/QBO_Id__c",
        method="PATCH",
        json={"records": [{"Name": "No type", "QBO_Id__c": "9-6"}]},
    )
    assert untyped[0]["errors"][0]["statusCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as too_many:
        upsert([{"Name": f"N{i}", "QBO_Id__c": f"x-{i}"} for i in range(201)])
    assert too_many.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_sf_upsert_by_external_id_follows_every_change_of_the_value(sf, client):
    """Upserts find records by an index of external id values: every write must keep it."""

    def upsert(field: str, value: str, name: str) -> tuple[str, bool]:
        answer = sf.Account.upsert(f"{field}/{value}", {"Name": name}, raw_response=True)
        return (answer.json()["id"], True) if answer.status_code == 201 else ("", False)

    one, created = upsert("QBO_Id__c", "1-1", "One")
    assert created and upsert("QBO_Id__c", "1-1", "One again") == ("", False)
    sf.Account.update(one, {"QBO_Id__c": "1-2"})  # the value moves to another
    assert upsert("QBO_Id__c", "1-2", "Moved") == ("", False)
    assert sf.Account.get(one)["Name"] == "Moved"
    fresh, created = upsert("QBO_Id__c", "1-1", "Fresh")  # the old value is free
    assert created and fresh != one
    sf.Account.delete(fresh)
    third, created = upsert("QBO_Id__c", "1-1", "Third")  # a deleted record is not found
    assert created
    with pytest.raises(FakesClientError):
        client.sf_undelete("Account", fresh)  # its external id is taken again
    client.sf_add_field("Account", name="Code__c", type="string", externalId=True)
    sf.Account.update(third, {"Code__c": "C-1"})
    assert upsert("Code__c", "c-1", "By code") == ("", False)  # case-insensitive
    live = sorted(r["Name"] for r in client.sf_records("Account") if not r["IsDeleted"])
    assert live == ["By code", "Moved"]


def test_sf_collections_update_naming_one_id_twice(sf, client):
    """As Salesforce's update() does: each repeat is applied in turn (the last wins) up to 12
    repeats in one call; the rest fail with DUPLICATE_VALUE."""
    account = sf.Account.create({"Name": "Shared"})["id"]
    updates = [{"Name": f"Take {i}", "QBO_Id__c": f"7-{i}"} for i in range(14)]
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Account"}, "Id": account, **u} for u in updates],
        },
    )
    assert [r["success"] for r in results] == [True] * 13 + [False]
    assert results[1]["id"] == account
    [error] = results[13]["errors"]
    assert error["statusCode"] == "DUPLICATE_VALUE"
    assert error["message"].startswith("Maximum number of duplicate updates in one batch (12")
    assert sf.Account.get(account)["QBO_Id__c"] == "7-12"

    client.settings("salesforce", repeated_ids="reject")
    other = sf.Account.create({"Name": "Other"})["id"]
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Id": record_id, "Name": "Again"}
                for record_id in (account, other, account)
            ]
        },
    )
    assert [r["success"] for r in results] == [False, True, False]
    assert results[0]["errors"][0]["message"] == f"Duplicate id in list: {account}"
    assert sf.Account.get(account)["Name"] == "Take 12"


def test_sf_query_all_follows_next_records_url(sf, client):
    client.settings("salesforce", query_page_size=3)
    sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "records": [{"attributes": {"type": "Account"}, "Name": f"Acc {i}"} for i in range(8)]
        },
    )
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Name")
    assert (first["totalSize"], first["done"], len(first["records"])) == (8, False, 3)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    everything = sf.query_all("SELECT Id, Name FROM Account ORDER BY Name")
    assert [r["Name"] for r in everything["records"]] == [f"Acc {i}" for i in range(8)]
    query_calls = [c for c in client.calls("salesforce") if "/query" in c["path"]]
    assert len(query_calls) == 1 + 3 and all(c["kind"] == "read" for c in query_calls)


def test_sf_composite_runs_subrequests_in_one_call(sf, client):
    client.settings("salesforce", query_page_size=2)
    base = "/services/data/v59.0"
    for n in range(3):
        sf.Account.create({"Name": f"Acc {n}", "Email__c": f"a{n}@x.test"})
    client.clear_calls("salesforce")

    def composite(subrequests, all_or_none=False):
        body = {"allOrNone": all_or_none, "compositeRequest": subrequests}
        return sf.restful("composite", method="POST", json=body)["compositeResponse"]

    def query(ref, soql):
        return {"method": "GET", "url": f"{base}/query/?q={soql}", "referenceId": ref}

    upsert = {
        "method": "PATCH",
        "url": f"{base}/composite/sobjects/Account/QBO_Id__c",
        "referenceId": "up",
        "body": {
            "records": [
                {"attributes": {"type": "Account"}, "Name": "New", "QBO_Id__c": "9-1"},
                {"attributes": {"type": "Account"}, "QBO_Id__c": "9-2"},  # no Name
            ]
        },
    }
    answers = composite(
        [
            query("all", "SELECT Id, Name FROM Account ORDER BY Name"),
            query("bad", "SELECT Nope FROM Account"),
            upsert,
            query("after", "SELECT Name FROM Account WHERE QBO_Id__c = '9-1'"),
        ]
    )
    assert [a["referenceId"] for a in answers] == ["all", "bad", "up", "after"]
    assert [a["httpStatusCode"] for a in answers] == [200, 400, 200, 200]
    first = answers[0]["body"]
    assert (first["totalSize"], first["done"], len(first["records"])) == (3, False, 2)
    rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert [r["Name"] for r in first["records"] + rest["records"]] == ["Acc 0", "Acc 1", "Acc 2"]
    assert answers[1]["body"][0]["errorCode"] == "INVALID_FIELD"
    assert [r["success"] for r in answers[2]["body"]] == [True, False]
    assert answers[3]["body"]["records"][0]["Name"] == "New"  # in order, after the upsert
    calls = client.calls("salesforce")
    assert [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in calls if c["kind"] != "auth"][
        0
    ] == ("POST", "composite")
    assert len([c for c in calls if c["path"].endswith("/composite")]) == 1

    rolled = composite(
        [
            {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "a",
             "body": {"Name": "Rolled back"}},
            {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "b",
             "body": {"Name": "x" * 300}},
        ],
        all_or_none=True,
    )  # fmt: skip
    assert [a["httpStatusCode"] for a in rolled] == [400, 400]
    assert rolled[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert rolled[1]["body"][0]["errorCode"] == "STRING_TOO_LONG"
    assert "Rolled back" not in {r["Name"] for r in client.sf_records("Account")}

    with pytest.raises(SalesforceMalformedRequest) as heavy:
        composite([query(f"q{n}", "SELECT Id FROM Account") for n in range(5)] + [upsert])
    assert heavy.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    many = {"method": "GET", "url": f"{base}/limits", "referenceId": "x"}
    with pytest.raises(SalesforceMalformedRequest) as too_many:
        composite([{**many, "referenceId": f"l{n}"} for n in range(26)])
    assert too_many.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    answers = composite([{**many, "referenceId": f"l{n}"} for n in range(25)])
    assert len(answers) == 25 and {a["httpStatusCode"] for a in answers} == {200}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": []})


def test_sf_soql_grammar(sf):
    account = sf.Account.create({"Name": "Parent", "QBO_Id__c": "p-1"})["id"]
    for name, stage, amount in (
        ("Big", "Closed Won", 900),
        ("Small", "Prospecting", 10),
        ("Mid", "Closed Lost", None),
    ):
        sf.Opportunity.create(
            {
                "Name": name,
                "StageName": stage,
                "CloseDate": "2024-06-30",
                "Amount": amount,
                "AccountId": account,
            }
        )

    def names(where: str) -> list[str]:
        result = sf.query(f"SELECT Name FROM Opportunity WHERE {where} ORDER BY Name")
        return [r["Name"] for r in result["records"]]

    assert names("Amount > 100 OR (StageName = 'Prospecting' AND Amount < 50)") == ["Big", "Small"]
    assert names("StageName IN ('Closed Won', 'Closed Lost')") == ["Big", "Mid"]
    assert names("StageName NOT IN ('Closed Won')") == ["Mid", "Small"]
    assert names("Name LIKE 's%'") == ["Small"]
    assert names("Amount = null") == ["Mid"]
    assert names("NOT Name = 'Big' AND CloseDate >= 2024-01-01") == ["Mid", "Small"]
    page = sf.query(
        "SELECT Name, Account.QBO_Id__c FROM Opportunity ORDER BY Amount DESC "
        "NULLS LAST LIMIT 2 OFFSET 1"
    )
    assert [r["Name"] for r in page["records"]] == ["Small", "Mid"]
    nulls_first = sf.query("SELECT Name FROM Opportunity ORDER BY Amount")
    assert [r["Name"] for r in nulls_first["records"]] == ["Mid", "Small", "Big"]
    assert page["records"][0]["Account"]["QBO_Id__c"] == "p-1"
    assert sf.query("SELECT COUNT() FROM Opportunity WHERE IsDeleted = false")["totalSize"] == 3
    assert names("SystemModstamp > 2020-01-01T00:00:00Z AND CloseDate = 2024-06-30") == [
        "Big",
        "Mid",
        "Small",
    ]
    sf.Opportunity.delete(
        sf.query("SELECT Id FROM Opportunity WHERE Name = 'Big'")["records"][0]["Id"]
    )
    deleted = sf.query_all(
        "SELECT Name, IsDeleted FROM Opportunity WHERE Name = 'Big'", include_deleted=True
    )["records"]
    assert [(r["Name"], r["IsDeleted"]) for r in deleted] == [("Big", True)]
    assert names("Name = 'Big'") == []
    for bad, code in (
        ("SELECT Name FROM Opportunity WHERE", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Nothing", "INVALID_TYPE"),
    ):
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.query(bad)
        assert err.value.content[0]["errorCode"] == code


def test_sf_write_validation(sf, client):
    cases = [
        (lambda: sf.Account.create({"Nam": "typo"}), "INVALID_FIELD"),
        (lambda: sf.Opportunity.create({"Name": "No stage"}), "REQUIRED_FIELD_MISSING"),
        (lambda: sf.Account.create({"Name": "B", "QBO_Deleted__c": "yes"}), "JSON_PARSER_ERROR"),
        (lambda: sf.Account.create({"Name": "C", "QBO_Balance__c": "12"}), "JSON_PARSER_ERROR"),
        (
            lambda: sf.Opportunity.create(
                {"Name": "D", "StageName": "Prospecting", "CloseDate": "30/06/2024"}
            ),
            "JSON_PARSER_ERROR",
        ),
        (lambda: sf.Contact.create({"LastName": "E", "AccountId": "not-an-id"}), "MALFORMED_ID"),
        (
            lambda: sf.Contact.create({"LastName": "F", "AccountId": "001000000000000AAA"}),
            "INVALID_CROSS_REFERENCE_KEY",
        ),
        (
            lambda: sf.Account.create({"Name": "G", "CreatedDate": "2024-01-01T00:00:00Z"}),
            "INVALID_FIELD_FOR_INSERT_UPDATE",
        ),
        (
            lambda: sf.Account.create({"Name": "H", "Email__c": "not an email"}),
            "INVALID_EMAIL_ADDRESS",
        ),
    ]
    for call, code in cases:
        with pytest.raises(SalesforceMalformedRequest) as err:
            call()
        assert err.value.content[0]["errorCode"] == code
    sf.Account.create({"Name": "Unique", "QBO_Id__c": "u-1"})
    with pytest.raises(SalesforceMalformedRequest) as dup:
        sf.Account.create({"Name": "Again", "QBO_Id__c": "U-1"})
    assert dup.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    contact = sf.Contact.create({"LastName": "Linked", "Account": {"QBO_Id__c": "u-1"}})
    assert sf.Contact.get(contact["id"])["AccountId"].startswith("001")
    assert client.calls("salesforce")[-1]["kind"] == "read"


def test_sf_expired_session_raises(fakes, client, http, sf_session):
    client.settings("salesforce", token_lifetime=1)
    sf = connect_sf(http, fakes, client, sf_session)
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0
    time.sleep(1.1)
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.query("SELECT Id FROM Account")
    assert expired.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}
    ]


def test_sf_describe_limits_and_usage_header(sf):
    describe = sf.Account.describe()
    assert (describe["name"], describe["keyPrefix"], describe["custom"]) == (
        "Account",
        "001",
        False,
    )
    qbo_id = next(f for f in describe["fields"] if f["name"] == "QBO_Id__c")
    assert qbo_id["externalId"] and qbo_id["unique"] and qbo_id["type"] == "string"
    assert qbo_id["length"] == 255
    name = next(f for f in describe["fields"] if f["name"] == "Name")
    assert name["nillable"] is False and name["createable"] is True
    prefixes = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert prefixes == {
        "Account": "001",
        "Contact": "003",
        "Opportunity": "006",
        "OpportunityLineItem": "00k",
        "Product2": "01t",
    }
    limits = sf.limits()["DailyApiRequests"]
    assert limits["Max"] == 15000 and limits["Remaining"] == 15000 - 3
    assert sf.api_usage["api-usage"].used == 3


def test_sf_fail_next_error_arrays(sf, client):
    client.settings(
        "salesforce",
        fail_next=[
            {"match": "/query", "status": 503},
            {"match": "/sobjects/Account", "status": 400, "body": "UNABLE_TO_LOCK_ROW"},
            {"match": "/limits", "status": 401},
        ],
    )
    with pytest.raises(SalesforceGeneralError) as unavailable:
        sf.query("SELECT Id FROM Account")
    assert unavailable.value.status == 503
    assert unavailable.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    with pytest.raises(SalesforceMalformedRequest) as locked:
        sf.Account.create({"Name": "Locked"})
    assert locked.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    with pytest.raises(SalesforceExpiredSession):
        sf.limits()
    assert sf.Account.create({"Name": "Fine now"})["success"] is True


def test_sf_callouts_are_signed_and_batched(sf, client, receiver):
    client.settings("salesforce", callout_objects=["Account"], webhook_batch_ms=50)
    ids = [sf.Account.create({"Name": f"Acc {i}"})["id"] for i in range(2)]
    sf.Contact.create({"LastName": "Not watched"})
    client.sf_edit("Account", ids[0], {"Phone": "555"})
    client.wait_callouts_delivered()
    sf.Account.delete(ids[1])
    client.wait_callouts_delivered()
    posts = receiver.bodies("/callouts/salesforce")
    bodies = []
    for headers, raw in posts:
        timestamp = headers["X-Gateway-Timestamp"]
        assert abs(int(timestamp) - time.time()) < 60
        expected = hmac.new(
            SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256
        ).hexdigest()
        assert headers["X-Gateway-Signature"] == f"sha256={expected}"
        bodies.append(json.loads(raw))
    org_id = client.request("salesforce", "GET", "/_fake/org")["org_id"]
    assert {(b["orgId"], b["object"]) for b in bodies} == {(org_id, "Account")}
    upserted = [r["id"] for b in bodies if b["operation"] == "upsert" for r in b["records"]]
    assert upserted == [ids[0], ids[1], ids[0]]
    deleted = [b for b in bodies if b["operation"] == "delete"]
    assert deleted[0]["records"][0]["id"] == ids[1]
    assert deleted[0]["records"][0]["modstamp"].endswith("+0000")


def test_sf_control_api(client):
    with pytest.raises(FakesClientError) as no_org:
        client.sf_records("Account")
    assert no_org.value.status == 404
    org = client.sf_create_org()
    assert org["org_id"].startswith("00D") and len(org["org_id"]) == 18
    field = client.sf_add_field("Product2", name="Sku__c", type="string", length=20)
    assert field["name"] == "Sku__c" and field["custom"] is True
    product = client.sf_create("Product2", {"Name": "Widget", "Sku__c": "W-1"})
    assert product["Sku__c"] == "W-1" and product["IsActive"] is False
    with pytest.raises(FakesClientError) as missing:
        client.sf_create("Opportunity", {"Name": "No stage"})
    assert missing.value.body["error"] == "REQUIRED_FIELD_MISSING"
    assert "StageName" in missing.value.body["message"]
    client.sf_add_field("QBO_Sync__c", name="Record_Id__c", type="string", length=18)
    sync = client.sf_create("QBO_Sync__c", {"Name": "S-1", "Record_Id__c": product["Id"]})
    assert sync["Id"].startswith("a0") and sync["Record_Id__c"] == product["Id"]
    client.sf_delete("Product2", product["Id"])
    assert client.sf_records("Product2")[0]["IsDeleted"] is True
    assert client.sf_undelete("Product2", product["Id"])["IsDeleted"] is False


# --- both ---------------------------------------------------------------------------------


def test_reset_clears_both_fakes_but_keeps_the_gateway_url(fakes, client, receiver):
    client.qbo_create_company()
    client.sf_create_org()
    client.settings("quickbooks", latency_ms=5)
    fakes.gateway_url = "http://127.0.0.1:1"
    try:
        client.reset()
        assert client.request("quickbooks", "GET", "/_fake/companies") == []
        assert client.settings("quickbooks")["latency_ms"] == 0
        assert client.settings("salesforce")["gateway_url"] == "http://127.0.0.1:1"
        with pytest.raises(FakesClientError):
            client.request("salesforce", "GET", "/_fake/org")
    finally:
        fakes.gateway_url = receiver.url


def test_cli_prints_one_json_line_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes",
            "--quickbooks-port",
            "0",
            "--salesforce-port",
            "0",
            "--gateway-url",
            "http://127.0.0.1:9",
            "--verifier-token",
            "t",
            "--callout-secret",
            "s",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        assert set(ready) == {"ca_bundle", "quickbooks_url", "salesforce_url"}
        with FakesClient(ready) as client:
            assert client.settings("quickbooks")["verifier_token"] == "t"
            assert client.settings("salesforce")["callout_secret"] == "s"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()

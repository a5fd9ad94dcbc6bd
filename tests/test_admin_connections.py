"""Connecting QuickBooks and Salesforce from the admin through the emulators' real OAuth pages,
and the connections page: health, test, disconnect (revoke), reconnect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from gateway.connectors.quickbooks import QuickBooksClient
from gateway.extensions import db
from gateway.models import Company, ConnectionStatus, SalesforceOrg
from tests.support.platforms import Platforms


@pytest.fixture
def platforms(fakes):
    return Platforms(fakes)


def consent(fakes, authorize_url: str, **choice: str) -> str:
    """What a person does on the provider's page: open it, press Authorize (the page's hidden
    fields echo the authorize request). Returns where the
    provider sends the browser back to (the gateway's callback URL)."""
    page = requests.get(authorize_url, verify=fakes.ca_bundle, timeout=30)
    assert page.status_code == 200 and 'id="authorize"' in page.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    answer = requests.post(
        authorize_url.split("?")[0],
        data={**query, **choice, "decision": "allow"},
        verify=fakes.ca_bundle,
        timeout=30,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def connect_quickbooks(admin_client, fakes, realm: str) -> str:
    start = admin_client.post("/oauth/quickbooks/connect")
    assert start.status_code == 302
    callback = consent(fakes, start.headers["Location"], realmId=realm)
    return local(callback)


def test_connect_quickbooks_through_intuits_pages(app, admin_client, fakes, platforms):
    realm = platforms.new_company()["realmId"]
    start = admin_client.post("/oauth/quickbooks/connect")
    authorize = urlsplit(start.headers["Location"])
    query = parse_qs(authorize.query)
    assert start.headers["Location"].startswith(fakes.quickbooks_auth_url)
    assert query["client_id"] == ["qbo-client"]
    assert query["scope"] == ["com.intuit.quickbooks.accounting"]
    assert query["redirect_uri"] == [app.config["PUBLIC_URL"] + "/oauth/quickbooks/callback"]
    assert query["state"][0]

    callback = consent(fakes, start.headers["Location"], realmId=realm)
    assert parse_qs(urlsplit(callback).query)["realmId"] == [realm]
    done = admin_client.get(local(callback))
    assert done.status_code == 302 and done.headers["Location"] == "/admin/connections"

    company = db.session.execute(select(Company)).scalar_one()
    assert company.realm_id == realm and company.name == "Test Co"
    assert company.status == ConnectionStatus.CONNECTED
    assert company.refresh_token.startswith("AB11")
    # The stored token works: the gateway's own client reads with it.
    assert QuickBooksClient(company).read("CompanyInfo", realm)["CompanyName"] == "Test Co"

    page = admin_client.get("/admin/connections").text
    assert "Connected QuickBooks company Test Co" in page
    assert realm in page and "Connected" in page
    assert company.refresh_token not in page and company.refresh_token[:4] + "…" in page
    assert company.access_token not in page
    assert "Last successful call" in page and "none recorded" not in page


def test_several_companies_and_a_default(admin_client, fakes, platforms):
    first = platforms.new_company()["realmId"]
    second = platforms.new_company()["realmId"]
    for realm in (first, second):
        assert admin_client.get(connect_quickbooks(admin_client, fakes, realm)).status_code == 302
    companies = db.session.execute(select(Company).order_by(Company.id)).scalars().all()
    assert [c.realm_id for c in companies] == [first, second]
    response = admin_client.post(
        f"/admin/connections/quickbooks/{companies[1].id}/default", headers={"HX-Request": "true"}
    )
    assert "is now the default company" in response.text and "<html" not in response.text
    db.session.expire_all()
    assert [c.is_default for c in companies] == [False, True]


def test_a_callback_that_this_session_did_not_start_is_refused(admin_client, fakes, platforms):
    realm = platforms.new_company()["realmId"]
    callback = connect_quickbooks(admin_client, fakes, realm)
    forged = callback.replace("state=", "state=forged")
    response = admin_client.get(forged)
    assert response.status_code == 400
    assert "state does not match" in response.text
    # The real state was used up by the refusal too: a replay of it is refused as well.
    assert admin_client.get(callback).status_code == 400
    assert db.session.execute(select(Company)).first() is None


def test_a_denied_consent_says_so(admin_client, fakes):
    start = admin_client.post("/oauth/salesforce/connect")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    response = admin_client.get(
        "/oauth/salesforce/callback",
        query_string={"error": "access_denied", "state": query["state"][0]},
    )
    assert response.status_code == 400
    assert "not allowed" in response.text


def test_connect_salesforce_with_pkce(app, admin_client, fakes, platforms):
    org = platforms.new_org()
    start = admin_client.post("/oauth/salesforce/connect")
    location = start.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(fakes.salesforce_url + "/services/oauth2/authorize")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["scope"] == ["api refresh_token"]

    # The fake refuses the code unless the verifier matches the challenge (PKCE).
    done = admin_client.get(local(consent(fakes, location)))
    assert done.status_code == 302

    row = db.session.execute(select(SalesforceOrg)).scalar_one()
    assert (row.org_id, row.user_id) == (org["org_id"], org["user_id"])
    assert row.refresh_token.startswith("5Aep")
    page = admin_client.get("/admin/connections").text
    assert org["org_id"] in page and org["user_id"] in page and row.instance_url in page
    assert row.refresh_token not in page


def test_salesforce_without_the_verifier_is_refused(admin_client, fakes, platforms):
    platforms.new_org()
    location = admin_client.post("/oauth/salesforce/connect").headers["Location"]
    callback = consent(fakes, location)
    with admin_client.session_transaction() as session:
        session["oauth_pkce:salesforce"] = "not-the-verifier"
    response = admin_client.get(local(callback))
    assert response.status_code == 400
    assert "refused the code" in response.text
    assert db.session.execute(select(SalesforceOrg)).first() is None


def test_test_connection_and_disconnect(admin_client, fakes, platforms):
    realm = platforms.new_company()["realmId"]
    admin_client.get(connect_quickbooks(admin_client, fakes, realm))
    platforms.new_org()
    admin_client.get(
        local(consent(fakes, admin_client.post("/oauth/salesforce/connect").headers["Location"]))
    )
    company = db.session.execute(select(Company)).scalar_one()
    org = db.session.execute(select(SalesforceOrg)).scalar_one()
    old_refresh = company.refresh_token
    old_sf_refresh = org.refresh_token

    tested = admin_client.post(
        f"/admin/connections/quickbooks/{company.id}/test", headers={"HX-Request": "true"}
    )
    assert "QuickBooks company Test Co answered." in tested.text
    tested = admin_client.post("/admin/connections/salesforce/test", headers={"HX-Request": "true"})
    assert "API requests left today" in tested.text

    gone = admin_client.post(
        f"/admin/connections/quickbooks/{company.id}/disconnect", headers={"HX-Request": "true"}
    )
    assert "Disconnected Test Co" in gone.text and "Reconnect needed" in gone.text
    gone = admin_client.post("/admin/connections/salesforce/disconnect")
    assert gone.status_code == 302  # a plain form post goes back to the page
    db.session.expire_all()
    assert company.refresh_token is None and company.status == ConnectionStatus.RECONNECT_NEEDED
    assert org.refresh_token is None and org.status == ConnectionStatus.RECONNECT_NEEDED
    # Revoked at the providers: the old refresh tokens no longer work.
    for url, token, auth in (
        (fakes.quickbooks_token_url, old_refresh, ("qbo-client", "qbo-secret")),
        (
            fakes.salesforce_url + "/services/oauth2/token",
            old_sf_refresh,
            ("sf-client", "sf-secret"),
        ),
    ):
        refused = requests.post(
            url,
            data={"grant_type": "refresh_token", "refresh_token": token},
            auth=auth,
            verify=fakes.ca_bundle,
            timeout=30,
        )
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"

    # Reconnect brings the same company back (its links kept), connected.
    admin_client.get(connect_quickbooks(admin_client, fakes, realm))
    db.session.expire_all()
    assert company.status == ConnectionStatus.CONNECTED and company.refresh_token


def test_without_client_keys_the_page_says_what_to_set(app, admin_client):
    app.config["QBO_CLIENT_ID"] = ""
    page = admin_client.get("/admin/connections").text
    assert "Set <code>QBO_CLIENT_ID</code>" in page
    response = admin_client.post("/oauth/quickbooks/connect")
    assert response.headers["Location"] == "/admin/connections"
    assert "Set QBO_CLIENT_ID" in admin_client.get("/admin/connections").text


def test_a_refused_refresh_token_shows_reconnect_needed(admin_client, fakes, platforms):
    realm = platforms.new_company()["realmId"]
    admin_client.get(connect_quickbooks(admin_client, fakes, realm))
    company = db.session.execute(select(Company)).scalar_one()
    # Someone revoked the app's access at Intuit: the tokens we hold stop working.
    requests.post(
        fakes.quickbooks_revoke_url,
        json={"token": company.refresh_token},
        auth=("qbo-client", "qbo-secret"),
        verify=fakes.ca_bundle,
        timeout=30,
    ).raise_for_status()
    page = admin_client.post(
        f"/admin/connections/quickbooks/{company.id}/test", headers={"HX-Request": "true"}
    ).text
    assert "did not answer" in page and "refresh token was refused" in page
    assert "Reconnect needed" in page
    assert 'aria-label="Test connection to Test Co"' not in page  # nothing to test until then
    db.session.expire_all()
    assert company.status == ConnectionStatus.RECONNECT_NEEDED

"""No token or client secret reaches a log, at DEBUG, with the real requests-oauthlib talking to
the fake token endpoints."""

from __future__ import annotations

import base64
import logging

import pytest
from sqlalchemy import select

from gateway.connectors.quickbooks import QuickBooksClient
from gateway.connectors.salesforce import SalesforceClient
from gateway.extensions import db
from gateway.log_redaction import REDACTED, redact
from gateway.models import Company, SalesforceOrg
from tests.support.oauth import another_quickbooks_refresh_token
from tests.support.scenario import Scenario, connect


def _stored_tokens() -> set[str]:
    db.session.rollback()
    rows = [
        *db.session.execute(select(Company)).scalars(),
        *db.session.execute(select(SalesforceOrg)).scalars(),
    ]
    return {token for row in rows for token in (row.access_token, row.refresh_token) if token}


def _client_secrets(app) -> set[str]:
    config = app.config
    pairs = [
        (config["QBO_CLIENT_ID"], config["QBO_CLIENT_SECRET"]),
        (config["SF_CLIENT_ID"], config["SF_CLIENT_SECRET"]),
    ]
    return {secret for _, secret in pairs} | {
        base64.b64encode(f"{client}:{secret}".encode()).decode() for client, secret in pairs
    }


@pytest.fixture
def debug_log(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_no_token_is_logged_at_debug_through_connect_refresh_and_api_calls(
    app, runner, fakes, debug_log
):
    seen = set()
    gw: Scenario = connect(app, runner, fakes)  # both token exchanges, through the CLI
    seen |= _stored_tokens()
    another = another_quickbooks_refresh_token(fakes, gw.realm)
    result = runner.invoke(
        args=["connect", "quickbooks", "--realm-id", gw.realm, "--refresh-token", another]
    )
    assert result.exit_code == 0, result.output
    seen |= {another} | _stored_tokens()
    company = gw.company()
    QuickBooksClient(company).refresh(failed_token=company.access_token)
    SalesforceClient(db.session.execute(select(SalesforceOrg)).scalar_one()).refresh()
    seen |= _stored_tokens()
    customer = gw.customer(DisplayName="Acme Ltd")  # API calls with the bearer token
    gw.settle()
    assert gw.account(customer["Id"])["Name"] == "Acme Ltd"
    seen |= _stored_tokens()

    records = debug_log.records
    # requests-oauthlib did log its token traffic (so this test is not looking at nothing) ...
    oauth_records = [r for r in records if r.name.startswith("requests_oauthlib")]
    messages = [r.getMessage() for r in oauth_records]
    assert any(f"refresh_token={REDACTED}" in m for m in messages)  # the refresh request body
    assert any(f'"access_token":"{REDACTED}"' in m for m in messages)  # the token answer
    assert any(f"Bearer {REDACTED}" in m for m in messages)  # an API call's headers
    # ... and none of it, nor anything else, shows a token or a client secret.
    everything = debug_log.text + "\n".join(r.getMessage() for r in records)
    for secret in seen | _client_secrets(app):
        assert secret not in everything
    # Our own code never logs a token in the first place: nothing of ours needed redacting.
    assert not [
        r.getMessage()
        for r in records
        if r.name.startswith("gateway") and REDACTED in r.getMessage()
    ]


@pytest.mark.parametrize(
    ("logged", "kept"),
    [
        ("grant_type=refresh_token&refresh_token=AB-12.x%2F&scope=s", "grant_type=refresh_token"),
        ("{'access_token': 'eyJ0.a-b_c', 'token_type': 'Bearer'}", "'token_type': 'Bearer'"),
        ('{"refresh_token":"RT1","x_refresh_token_expires_in":8726400}', "8726400"),
        ("{'Authorization': 'Bearer eyJ0.a', 'Accept': 'application/json'}", "application/json"),
        ("GET /oauth/quickbooks/callback?code=AB12&state=xyz&realmId=1", "realmId=1"),
    ],
)
def test_redact_hides_values_and_keeps_the_rest(logged, kept):
    cleaned = redact(logged)
    assert REDACTED in cleaned
    assert kept in cleaned
    for secret in ("AB-12.x%2F", "eyJ0.a", "RT1", "AB12"):
        assert secret not in cleaned

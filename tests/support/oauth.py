"""OAuth as a person does it in the fakes' consent pages: another grant for a connection."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from tests.fakes.salesforce_oauth import AUTHORIZE_PATH as SF_AUTHORIZE_PATH
from tests.fakes.salesforce_oauth import TOKEN_PATH as SF_TOKEN_PATH

REDIRECT_URI = "http://127.0.0.1:5000/oauth/callback"


def _consent_and_redeem(
    fakes, authorize_url: str, token_url: str, client: tuple[str, str], **consent: str
) -> str:
    answer = requests.post(
        authorize_url,
        data={"client_id": client[0], "redirect_uri": REDIRECT_URI, **consent},
        verify=fakes.ca_bundle,
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = requests.post(
        token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=client,
        verify=fakes.ca_bundle,
        timeout=10,
    )
    return token.json()["refresh_token"]


def another_quickbooks_refresh_token(fakes, realm: str) -> str:
    """A second grant for the same company, as consenting again in Intuit's page gives."""
    return _consent_and_redeem(
        fakes,
        fakes.quickbooks_auth_url,
        fakes.quickbooks_token_url,
        ("qbo-client", "qbo-secret"),
        realmId=realm,
    )


def another_salesforce_refresh_token(fakes) -> str:
    """A second grant for the connected org."""
    return _consent_and_redeem(
        fakes,
        fakes.salesforce_url + SF_AUTHORIZE_PATH,
        fakes.salesforce_url + SF_TOKEN_PATH,
        ("sf-client", "sf-secret"),
    )

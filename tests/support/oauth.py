"""OAuth as a person does it in the fake QuickBooks' consent page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

REDIRECT_URI = "http://127.0.0.1:5000/oauth/quickbooks/callback"


def another_refresh_token(fakes, realm: str) -> str:
    """A second grant for the same company, as consenting again in Intuit's page gives."""
    consent = requests.post(
        fakes.quickbooks_auth_url,
        data={"client_id": "qbo-client", "redirect_uri": REDIRECT_URI, "realmId": realm},
        verify=fakes.ca_bundle,
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    answer = requests.post(
        fakes.quickbooks_token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=("qbo-client", "qbo-secret"),
        verify=fakes.ca_bundle,
        timeout=10,
    )
    return answer.json()["refresh_token"]

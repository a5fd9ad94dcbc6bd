"""Offline emulators of QuickBooks Online and Salesforce, served over HTTPS.

    fakes = start_fakes(gateway_url="http://127.0.0.1:5055", verifier_token="vt",
                        callout_secret="cs")
    fakes.quickbooks_url, fakes.salesforce_url, fakes.ca_bundle
    fakes.reset(); fakes.stop()

Tests drive them over HTTP only (see client.py and the /_fake/ control API).
"""

from __future__ import annotations

from .quickbooks import FakeQuickBooks
from .quickbooks_oauth import AUTHORIZE_PATH, REVOKE_PATH, TOKEN_PATH
from .salesforce import FakeSalesforce
from .server import BackgroundServer
from .tls import ThrowawayCA

__all__ = ["Fakes", "start_fakes"]


class Fakes:
    def __init__(self, gateway_url: str | None, verifier_token: str, callout_secret: str,
                 quickbooks_port: int = 0, salesforce_port: int = 0) -> None:
        self._ca = ThrowawayCA()
        self.ca_bundle = self._ca.ca_bundle
        self.quickbooks = FakeQuickBooks(gateway_url, verifier_token)
        self.salesforce = FakeSalesforce(gateway_url, callout_secret)
        self._servers = [
            BackgroundServer(self.quickbooks.app, quickbooks_port, self._ca.server_context()),
            BackgroundServer(self.salesforce.app, salesforce_port, self._ca.server_context()),
        ]
        self.quickbooks_url = self._servers[0].url
        self.salesforce_url = self.salesforce.url = self._servers[1].url
        self.quickbooks_auth_url = self.quickbooks_url + AUTHORIZE_PATH
        self.quickbooks_token_url = self.quickbooks_url + TOKEN_PATH
        self.quickbooks_revoke_url = self.quickbooks_url + REVOKE_PATH

    def start(self) -> Fakes:
        for server in self._servers:
            server.start()
        self.quickbooks.outbox.start()
        self.salesforce.outbox.start()
        return self

    @property
    def gateway_url(self) -> str | None:
        return self.quickbooks.settings["gateway_url"]

    @gateway_url.setter
    def gateway_url(self, url: str | None) -> None:
        """Tests often start the gateway after the fakes; this survives reset()."""
        self.quickbooks.settings.set_base("gateway_url", url)
        self.salesforce.settings.set_base("gateway_url", url)

    def set_gateway_url(self, url: str | None) -> None:
        self.gateway_url = url

    def reset(self) -> None:
        self.quickbooks.reset()
        self.salesforce.reset()

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self.quickbooks.outbox.stop()
        self.salesforce.outbox.stop()
        self._ca.cleanup()

    def __enter__(self) -> Fakes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fakes(gateway_url: str | None = None, verifier_token: str = "",
                callout_secret: str = "", quickbooks_port: int = 0,
                salesforce_port: int = 0) -> Fakes:
    return Fakes(gateway_url, verifier_token, callout_secret, quickbooks_port,
                 salesforce_port).start()

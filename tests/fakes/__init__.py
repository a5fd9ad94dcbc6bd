"""Offline emulators of QuickBooks Online and Salesforce, served over HTTPS.

    fakes = start_fakes(gateway_url="http://127.0.0.1:5055", verifier_token="vt",
                        callout_secret="cs", quickbooks_port=0, salesforce_port=0)
    fakes.quickbooks_url        # API base (…/v3/company/{realm}/…) and OAuth host
    fakes.quickbooks_auth_url, fakes.quickbooks_token_url, fakes.quickbooks_revoke_url
    fakes.salesforce_url        # login host and instance_url
    fakes.ca_bundle             # PEM of the throwaway CA: point REQUESTS_CA_BUNDLE at it
    fakes.gateway_url = url     # may change after start; survives reset()
    fakes.reset(); fakes.stop()

Tests drive the fakes over HTTP only (client.FakesClient wraps this). Control API, never
counted as API calls:

both      POST /_fake/reset · GET|DELETE /_fake/calls · GET|POST /_fake/settings
QuickBooks POST /_fake/companies {"name"?} -> {"realmId", "name", "refresh_token"}
          GET /_fake/companies · GET /_fake/companies/{realm}/{Entity}[/{Id}]
          POST /_fake/companies/{realm}/{Entity} (create, or sparse update with "Id"; a
          list of such records, up to 10,000, saves each in order and answers the list)
          POST /_fake/companies/{realm}/{Entity}/{Id}/delete|void|merge ({"into": Id})
          GET /_fake/webhooks -> {"pending", "deliveries": [{id, body, raw, status, ...}]}
Salesforce POST /_fake/org -> {"org_id", "user_id", "person_id", "instance_url", "refresh_token"}
          (API writes are the integration user's, user_id; control edits a person's, person_id)
          GET /_fake/org · GET|POST /_fake/sobjects/{Object}
          GET|PATCH|DELETE /_fake/sobjects/{Object}/{Id} · POST …/{Id}/undelete
          POST /_fake/fields/{Object} {"name", "type", "externalId", "unique", ...}
          (a new X__c object is created by adding its first field)
          GET /_fake/callouts -> like /_fake/webhooks
API extras: POST /services/data/vXX.X/composite (up to 25 subrequests, at most 5 of them
queries or sObject Collections; one API call; `@{ref}` references are not resolved).

Settings (unknown names -> 400): both: latency_ms, error_rate, seed, fail_next,
rotate_refresh_tokens, token_lifetime, gateway_url, webhooks_enabled, webhook_batch_ms,
webhook_retry_delays (the webhook_* ones drive Salesforce callouts too). QuickBooks:
webhook_format, verifier_token, rate_limit_per_minute, max_concurrent. Salesforce:
callout_objects, callout_secret, query_page_size, api_daily_limit, repeated_ids (process|reject:
how an update collection naming one Id twice is answered).
"""

from __future__ import annotations

from .quickbooks import FakeQuickBooks
from .quickbooks_oauth import AUTHORIZE_PATH, REVOKE_PATH, TOKEN_PATH
from .salesforce import FakeSalesforce
from .server import BackgroundServer
from .tls import ThrowawayCA

__all__ = ["Fakes", "start_fakes"]


class Fakes:
    def __init__(
        self,
        gateway_url: str | None,
        verifier_token: str,
        callout_secret: str,
        quickbooks_port: int = 0,
        salesforce_port: int = 0,
    ) -> None:
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


def start_fakes(
    gateway_url: str | None = None,
    verifier_token: str = "",
    callout_secret: str = "",
    quickbooks_port: int = 0,
    salesforce_port: int = 0,
) -> Fakes:
    return Fakes(
        gateway_url, verifier_token, callout_secret, quickbooks_port, salesforce_port
    ).start()

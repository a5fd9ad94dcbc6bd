"""A throwaway certificate authority, because the real clients only speak HTTPS."""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile

import trustme


class ThrowawayCA:
    """One CA per start-up; its PEM file is what REQUESTS_CA_BUNDLE should point at."""

    def __init__(self) -> None:
        self._ca = trustme.CA(organization_name="qbo-sf-gateway fakes")
        self._leaf = self._ca.issue_cert("127.0.0.1", "localhost")
        self._dir = tempfile.mkdtemp(prefix="fakes-ca-")
        self.ca_bundle = os.path.join(self._dir, "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_bundle)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._leaf.configure_cert(ctx)
        return ctx

    def cleanup(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

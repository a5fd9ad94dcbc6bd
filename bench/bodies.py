"""Pre-signed webhook bodies: one CloudEvents event each, every one with its own event id.

Signing is done here, before the clock starts, so the load generators only send bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path


def sign(token: str, body: bytes) -> str:
    """Intuit's `intuit-signature`: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def webhook_body(realm: str, record_id: str, event_id: str) -> bytes:
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "intuit.bench",
        "type": "qbo.customer.updated.v1",
        "datacontenttype": "application/json",
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "intuitentityid": record_id,
        "intuitaccountid": realm,
        "data": {},
    }
    # A batch of one, as Intuit sends CloudEvents: a JSON array.
    return json.dumps([event], separators=(",", ":")).encode()


def signed_bodies(
    token: str, realm: str, tag: str, count: int, records: int = 1000
) -> Iterator[tuple[str, bytes]]:
    """`count` (signature, body) pairs; event ids are `<tag>-<n>`, record ids cycle 1..records."""
    for n in range(count):
        body = webhook_body(realm, str(n % records + 1), f"{tag}-{n}")
        yield sign(token, body), body


def write_wrk_file(path: Path, pairs: Iterator[tuple[str, bytes]]) -> int:
    """One `<signature> <body>` line per request, the format bench/wrk_webhooks.lua reads."""
    written = 0
    with path.open("wb") as out:
        for signature, body in pairs:
            out.write(signature.encode() + b" " + body + b"\n")
            written += 1
    return written


def raw_request(host: str, port: int, path: str, signature: str, body: bytes) -> bytes:
    """A complete HTTP/1.1 keep-alive request, for the open-loop generator."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/cloudevents+json\r\n"
        f"intuit-signature: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body

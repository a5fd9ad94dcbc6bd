"""Signature checks for both edges, over the raw request bytes, in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable


def intuit_signature(token: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def verify_intuit(body: bytes, signature: str | None, tokens: Iterable[str]) -> bool:
    """Intuit signs base64(HMAC-SHA256(verifier token, raw body)); any configured token may match.

    Every token is tried even after a match so the time taken does not reveal which one matched.
    """
    if not signature:
        return False
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(intuit_signature(token, body), signature.strip())
    return matched


def gateway_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_gateway(
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    secrets: Iterable[str],
    max_skew: int,
    now: float | None = None,
) -> str | None:
    """The Apex callout scheme; returns None when valid, else why not."""
    if not timestamp or not signature:
        return "missing X-Gateway-Timestamp or X-Gateway-Signature"
    try:
        sent = int(timestamp)
    except ValueError:
        return "X-Gateway-Timestamp is not unix seconds"
    if abs((time.time() if now is None else now) - sent) > max_skew:
        return f"X-Gateway-Timestamp is more than {max_skew} s away from the gateway's clock"
    given = signature.strip().lower()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(gateway_signature(secret, timestamp, body), given)
    return None if matched else "signature does not match"

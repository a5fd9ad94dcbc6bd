"""Signature checks for both edges, over the raw request bytes, in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable

from . import callout_contract


def intuit_signature(token: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def _matches_any(expected: Iterable[str], given: str) -> bool:
    """Whether `given` equals any expected value, trying every one so the time taken does not
    reveal which matched. Compared as bytes: compare_digest refuses non-ASCII text, and a
    header may carry any."""
    given_bytes = given.strip().encode("utf-8", "replace")
    matched = False
    for value in expected:
        matched |= hmac.compare_digest(value.encode(), given_bytes)
    return matched


def verify_intuit(body: bytes, signature: str | None, tokens: Iterable[str]) -> bool:
    """Intuit signs base64(HMAC-SHA256(verifier token, raw body)); any configured token may
    match (rotation)."""
    if not signature:
        return False
    return _matches_any((intuit_signature(token, body) for token in tokens), signature)


def verify_gateway(
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    secrets: Iterable[str],
    max_skew: int,
    now: float | None = None,
) -> str | None:
    """The Apex callout scheme (callout_contract); returns None when valid, else why not."""
    if not timestamp or not signature:
        return f"missing {callout_contract.TIMESTAMP_HEADER} or {callout_contract.SIGNATURE_HEADER}"
    timestamp = timestamp.strip()
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return f"{callout_contract.TIMESTAMP_HEADER} is not unix seconds"
    if abs((time.time() if now is None else now) - int(timestamp)) > max_skew:
        return (
            f"{callout_contract.TIMESTAMP_HEADER} is more than {max_skew} s away from the "
            "gateway's clock"
        )
    expected = (callout_contract.signature(secret, timestamp, body) for secret in secrets)
    # The Apex hex encoding's letter case is not documented: compare in lower case.
    return None if _matches_any(expected, signature.lower()) else "signature does not match"

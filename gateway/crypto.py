"""Encryption at rest for OAuth tokens (Fernet, several keys for rotation)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def _fernet_key(secret: str) -> bytes:
    try:
        Fernet(secret.encode())
        return secret.encode()
    except ValueError:
        # Not a Fernet key: derive one, so any long random string works as a key.
        return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


def _cipher() -> MultiFernet:
    config = current_app.config
    secrets = config["TOKEN_ENCRYPTION_KEYS"] or ["token-key:" + config["SECRET_KEY"]]
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in secrets])


def encrypt(plaintext: str | None) -> str | None:
    if plaintext is None:
        return None
    return _cipher().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str | None) -> str | None:
    if ciphertext is None:
        return None
    try:
        return _cipher().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError(
            "A stored token cannot be decrypted: TOKEN_ENCRYPTION_KEYS (or SECRET_KEY) changed. "
            "Add the old key back to TOKEN_ENCRYPTION_KEYS, or reconnect."
        ) from exc

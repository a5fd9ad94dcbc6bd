"""Encryption at rest for OAuth tokens (Fernet, several keys for rotation).

`gateway.config` works out the keys (`TOKEN_KEYS`, newest first) and where they come from
(`TOKEN_KEYS_SOURCE`); new tokens are encrypted under the first, and any of them decrypts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from .connectors import ReconnectNeeded

# Where the keys come from, as `TOKEN_KEYS_SOURCE` names it.
FROM_SETTING = "TOKEN_ENCRYPTION_KEYS"
FROM_SECRET_KEY = "SECRET_KEY"  # noqa: S105 (a setting's name)
FROM_KEY_FILE = "key file"


class TokenKeyMismatch(ReconnectNeeded):
    """A stored token does not decrypt under any current key: a key setting changed. The token
    is kept as it is, so restoring the setting brings the connection back."""


def derived_key(secret_key: str) -> str:
    """The key used when no key is configured: derived from SECRET_KEY (design §4)."""
    return "token-key:" + secret_key


def _fernet_key(secret: str) -> bytes:
    try:
        Fernet(secret.encode())
        return secret.encode()
    except ValueError:
        # Not a Fernet key: derive one, so any long random string works as a key.
        return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def _cipher() -> MultiFernet:
    return _multi_fernet(tuple(current_app.config["TOKEN_KEYS"]))


def encrypt(plaintext: str | None) -> str | None:
    if plaintext is None:
        return None
    return _cipher().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str | None) -> str | None:
    """The plaintext; TokenKeyMismatch if no current key opens it."""
    return _with_keys(MultiFernet.decrypt, ciphertext)


def reencrypt(ciphertext: str | None) -> str | None:
    """The same token encrypted under the newest key; TokenKeyMismatch if no key opens it."""
    return _with_keys(MultiFernet.rotate, ciphertext)


def _with_keys(
    operation: Callable[[MultiFernet, bytes], bytes], ciphertext: str | None
) -> str | None:
    if ciphertext is None:
        return None
    try:
        return operation(_cipher(), ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise TokenKeyMismatch(key_mismatch_message()) from exc


def newest_key_source() -> str:
    """Where the key new tokens are encrypted under comes from, in words."""
    config = current_app.config
    source = config["TOKEN_KEYS_SOURCE"]
    if source == FROM_KEY_FILE:
        return f"the key file {config['TOKEN_ENCRYPTION_KEY_FILE']}"
    if source == FROM_SECRET_KEY:
        return "derived from SECRET_KEY; set TOKEN_ENCRYPTION_KEYS to move off it"
    return "the first of TOKEN_ENCRYPTION_KEYS"


def key_mismatch_message() -> str:
    """What to restore, for the setting the keys come from now."""
    config = current_app.config
    source = config["TOKEN_KEYS_SOURCE"]
    if source == FROM_SETTING:
        restore = (
            "add the key it was stored under back to TOKEN_ENCRYPTION_KEYS (after the new one), "
            "or restore the SECRET_KEY of that time"
        )
    elif source == FROM_SECRET_KEY:
        restore = (
            "restore the previous SECRET_KEY (tokens are encrypted under a key derived from it "
            "while TOKEN_ENCRYPTION_KEYS is unset)"
        )
    else:
        restore = (
            f"restore the key file {config['TOKEN_ENCRYPTION_KEY_FILE']} (or put its old "
            "content in TOKEN_ENCRYPTION_KEYS)"
        )
    return (
        f"a stored token cannot be decrypted with the current keys: {restore}, then run "
        "`flask keys rotate` and retry the failed events; or connect again"
    )


def load_or_create_key_file(path: Path) -> str:
    """The embedded gateway's own random key, made on first start and readable by us only.
    ValueError (saying what to do) when the file holds something else.

    Processes (or threads) starting at once must all end up with the same key: each writes a
    key to its own private (0600) temporary file and hard-links it into place, which fails when
    one already is; a reader therefore never sees a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(Fernet.generate_key() + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            os.unlink(temporary)
    try:
        key = path.read_text(encoding="ascii").strip()
        Fernet(key.encode())
    except ValueError as exc:  # not ASCII, or not a Fernet key
        raise ValueError(
            f"{path} does not hold a Fernet key. Restore it from a backup, or delete it to have a "
            "new one made on the next start (a new token key leaves stored connections "
            "unreadable; a new secret key signs everyone out)"
        ) from exc
    return key

"""Secrets never reach a log, whatever the log level.

requests-oauthlib logs token requests and answers in full at DEBUG ("Obtained token {...}",
"Request body was grant_type=refresh_token&refresh_token=…", "Adding token {...} to request",
request headers with `Authorization: Bearer …` and the client's Basic credentials). A filter on
a logger only sees that logger's own records, not its children's, and handlers belong to whoever
runs the app (gunicorn, pytest, a PaaS agent). So the redaction sits where every record is born:
the log record factory, wrapped once per process.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"

# `name=value`, `"name": "value"` and `'name': 'value'` for the OAuth fields that are secret.
_SECRET_FIELD = re.compile(
    r"""(?P<name>(?<![\w-])(?:access_token|refresh_token|id_token|client_secret|code_verifier"""
    r"""|code|assertion|password)["']?\s*[:=]\s*["']?)(?P<value>[^"'&\s,;}\]]+)""",
    re.IGNORECASE,
)
# The Authorization header's credentials (Bearer access token, Basic client id and secret).
_AUTHORIZATION = re.compile(r"(?P<name>\b(?:Bearer|Basic)\s+)(?P<value>[^\s\"',;}\]]+)")


def redact(text: str) -> str:
    text = _SECRET_FIELD.sub(lambda m: m.group("name") + REDACTED, text)
    return _AUTHORIZATION.sub(lambda m: m.group("name") + REDACTED, text)


def _redacting(make_record: Any) -> Any:
    def make_redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed logging call: the logging module reports it itself
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    make_redacted_record.redacts_secrets = True  # type: ignore[attr-defined]
    return make_redacted_record


def install() -> None:
    """Wrap the record factory (once, however many apps a process creates)."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "redacts_secrets", False):
        logging.setLogRecordFactory(_redacting(factory))

"""Reading and parsing request bodies with bounded cost, for both edges.

A body is read to at most MAX_WEBHOOK_BYTES + 1 bytes whatever its framing (a chunked body has
no Content-Length to refuse up front), and JSON is parsed only when its nesting is shallow
enough that the recursive parser and the re-serialisation of each item cannot run out of stack.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

# Intuit's batches and our callouts nest 5 levels at most; this leaves room for odd `data`
# while staying far below Python's recursion limit of 1000.
MAX_JSON_DEPTH = 100
_READ_CHUNK = 64 * 1024
# A JSON string, or an unterminated one up to the end: always matches, so the scan is linear.
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.?[^"\\]*+)*+"?', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_DEPTH_STEP = [0] * 256
for _opening in b"[{":
    _DEPTH_STEP[_opening] = 1
for _closing in b"]}":
    _DEPTH_STEP[_closing] = -1


class NotJson(ValueError):
    """The body is not JSON we will parse; the message says why."""


def read_body() -> bytes:
    """The raw request body; 413 when it is over MAX_WEBHOOK_BYTES, however it is framed."""
    limit = current_app.config["MAX_WEBHOOK_BYTES"]
    # One byte of headroom tells "exactly the limit" from "over it" on a chunked body.
    request.max_content_length = limit + 1
    stream = request.stream
    chunks, size = [], 0
    while chunk := stream.read(min(_READ_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge()
    return b"".join(chunks)


def nesting_depth(body: bytes) -> int:
    """How deep arrays and objects nest, ignoring brackets inside strings."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(_DEPTH_STEP[byte] for byte in brackets), default=0)


def parse_json(body: bytes) -> Any:
    """json.loads with a bound on nesting; NotJson says why a body was refused."""
    # Fewer opening brackets than the bound cannot nest deeper than it: most bodies skip the scan.
    openings = body.count(b"[") + body.count(b"{")
    if openings > MAX_JSON_DEPTH and (depth := nesting_depth(body)) > MAX_JSON_DEPTH:
        raise NotJson(f"JSON nested {depth} levels deep (at most {MAX_JSON_DEPTH})")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NotJson(f"not JSON: {exc}") from exc

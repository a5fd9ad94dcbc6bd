"""POST /composite: up to 25 subrequests in one call, answered in order, counted as one API call.

Up to 5 of the subrequests may be queries (query, queryAll) or sObject Collections. Each
subrequest runs through the same handlers as a call of its own; references between them
(`@{ref.id}`) are not resolved by the emulator and are answered with a clear error.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response, request

from .control import json_response
from .salesforce_schema import SfError
from .salesforce_store import MultipleMatches

SUBREQUEST_LIMIT = 25
QUERY_OR_COLLECTION_LIMIT = 5
HALTED = SfError(
    "PROCESSING_HALTED",
    "The transaction was rolled back since another operation in the same transaction failed.",
)


def _heavy(url: str) -> bool:
    """A query or an sObject Collections subrequest: the kind Salesforce allows 5 of."""
    path = url.split("?", 1)[0]
    return bool(re.search(r"/v\d+\.\d/(query|queryAll|composite/sobjects)(/|$)", path))


class CompositeRequests:
    """Mixed into the REST handler: `dispatch` runs each subrequest as a call of its own."""

    fake: Any
    store: Any
    version: str

    def composite_request(self) -> Response:
        if request.method != "POST":
            raise self.not_allowed("POST")  # type: ignore[attr-defined]
        subrequests, all_or_none = self._composite_body()
        snap = self.store.snapshot() if all_or_none else None
        answers = []
        for sub in subrequests:
            answers.append(self._subrequest(sub))
        if snap is not None and any(a["httpStatusCode"] >= 400 for a in answers):
            self.store.restore(snap)
            answers = [
                a
                if a["httpStatusCode"] >= 400
                else {**a, "body": [HALTED.rest()], "httpStatusCode": 400, "httpHeaders": {}}
                for a in answers
            ]
        return json_response({"compositeResponse": answers})

    def _composite_body(self) -> tuple[list[dict], bool]:
        body = self.body()  # type: ignore[attr-defined]
        subs = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subs, list) or not subs:
            raise SfError(
                "JSON_PARSER_ERROR",
                'The body must be {"allOrNone": false, "compositeRequest": [subrequest, ...]}',
            )
        for sub in subs:
            if not (
                isinstance(sub, dict)
                and isinstance(sub.get("url"), str)
                and isinstance(sub.get("method"), str)
                and isinstance(sub.get("referenceId"), str)
            ):
                raise SfError(
                    "JSON_PARSER_ERROR", "each subrequest needs method, url and referenceId"
                )
        if len(subs) > SUBREQUEST_LIMIT:
            raise SfError(
                "LIMIT_EXCEEDED",
                f"A composite request can have at most {SUBREQUEST_LIMIT} subrequests",
            )
        heavy = sum(1 for sub in subs if _heavy(sub["url"]))
        if heavy > QUERY_OR_COLLECTION_LIMIT:
            raise SfError(
                "LIMIT_EXCEEDED",
                f"A composite request can have at most {QUERY_OR_COLLECTION_LIMIT} query or "
                "sObject Collections subrequests",
            )
        return subs, bool(body.get("allOrNone", False))

    def _subrequest(self, sub: dict) -> dict:
        status, answer = self._run_subrequest(sub)
        return {
            "body": answer,
            "httpHeaders": {},
            "httpStatusCode": status,
            "referenceId": sub["referenceId"],
        }

    def _run_subrequest(self, sub: dict) -> tuple[int, Any]:
        url, method = sub["url"], sub["method"].upper()
        match = re.fullmatch(r"/services/data/v(\d+\.\d)/([^?]*)(\?.*)?", url)
        if match is None or match.group(1) != self.version:
            error = SfError("NOT_FOUND", f"The subrequest url {url!r} is not of this API version")
            return error.status, [error.rest()]
        if "@{" in url or "@{" in json.dumps(sub.get("body")):
            error = SfError("INVALID_FIELD", "the emulator does not resolve @{reference} values")
            return error.status, [error.rest()]
        parts = [p for p in match.group(2).split("/") if p]
        if parts[:1] == ["composite"] and len(parts) == 1:
            error = SfError("INVALID_FIELD", "a composite request cannot hold another")
            return error.status, [error.rest()]
        body = sub.get("body")
        context = self.fake.app.test_request_context(
            url,
            method=method,
            data=json.dumps(body) if body is not None else None,
            content_type="application/json",
        )
        mark = len(self.store.changes)
        with context:
            try:
                response = self.dispatch(parts)  # type: ignore[attr-defined]
            except SfError as err:
                del self.store.changes[mark:]
                return err.status, [err.rest()]
            except MultipleMatches as many:
                return 300, [f"/services/data/v{self.version}/sobjects/{i}" for i in many.ids]
        data = response.get_data()
        return response.status_code, json.loads(data) if data else None

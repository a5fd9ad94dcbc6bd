"""Salesforce REST client (simple-salesforce) for the connected org.

simple-salesforce cannot refresh a session built from an access token, so this wrapper refreshes
with the stored refresh token on INVALID_SESSION_ID and retries the call once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from flask import current_app
from simple_salesforce import Salesforce, SalesforceError, SalesforceExpiredSession
from simple_salesforce.format import format_external_id

from .. import queue
from ..models import SalesforceOrg
from . import ConnectorError, Unavailable
from .last_success import note_success
from .tokens import refresh_connection, refresh_grant, salesforce_token_lock

log = logging.getLogger(__name__)
T = TypeVar("T")

COLLECTION_LIMIT = 200
# A /composite call holds up to 25 subrequests, at most 5 of them queries or sObject
# Collections (reference §2.6); all of it counts as one API call.
COMPOSITE_HEAVY_LIMIT = 5
RETRYABLE_CODES = {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"}
DESCRIBE_TTL = 300.0
# "duplicate value found: QBO_Id__c duplicates value on record with id: 001..."
DUPLICATE_FIELD = re.compile(r"duplicate value found: (\S+) duplicates")
# What the gateway reads from a field's describe; the rest is dropped before caching.
DESCRIBE_FIELD_KEYS = (
    "name", "label", "type", "length", "nillable", "createable", "updateable",
    "defaultedOnCreate", "externalId", "unique", "referenceTo",
)  # fmt: skip


def describe_cache_key(org_id: str, sobject: str | None = None) -> str:
    """Where the shared cache keeps an object's describe (``sobject`` None: describe global)."""
    return f"sf-describe:v2:{org_id}:{sobject}" if sobject else f"sf-describe-global:{org_id}"


def trimmed_field(field: dict) -> dict:
    """What the gateway keeps of one field of a describe answer."""
    return {name: field.get(name) for name in DESCRIBE_FIELD_KEYS}


def store_token(org: SalesforceOrg, token: dict) -> None:
    """Keep what a token answer gives; Salesforce returns a refresh token only sometimes."""
    org.access_token = token["access_token"]
    org.instance_url = token.get("instance_url") or org.instance_url
    org.refresh_token = token.get("refresh_token") or org.refresh_token


def _code(error: dict) -> str | None:
    # Top-level REST errors say errorCode, sObject Collections results say statusCode.
    return error.get("errorCode") or error.get("statusCode")


def _is_retryable(error: dict, external_id_field: str | None) -> bool:
    code = _code(error)
    if code in RETRYABLE_CODES:
        return True
    # Two jobs upserting the same new record by our external id at once: both find nothing,
    # one inserts, the other hits the unique index. The next try finds and updates it. A clash
    # on any other unique field is the data's problem and waits for a person.
    if code != "DUPLICATE_VALUE" or not external_id_field:
        return False
    field = external_id_field.lower()
    named = [str(f).lower() for f in error.get("fields") or []]
    found = DUPLICATE_FIELD.search(str(error.get("message") or ""))
    return field in named or (found is not None and found.group(1).lower() == field)


class SalesforceCallError(ConnectorError):
    def __init__(
        self,
        status: int | None,
        errors: list[dict],
        context: str,
        external_id_field: str | None = None,
    ):
        self.status = status
        self.errors = errors
        retryable = (status or 0) >= 500 or any(_is_retryable(e, external_id_field) for e in errors)
        detail = "; ".join(f"{_code(e)}: {e.get('message')}" for e in errors)
        super().__init__(f"Salesforce {status} on {context}: {detail}", retryable=retryable)


def record_error(result: dict, external_id_field: str | None = None) -> tuple[str, bool]:
    """The reason and retryability of one failed sObject Collections result; a write keyed by
    our external id field names it, so that a concurrent insert of the same record retries."""
    errors = result.get("errors") or []
    reason = "; ".join(
        f"{e.get('statusCode')}: {e.get('message')}"
        + (f" (fields: {', '.join(e['fields'])})" if e.get("fields") else "")
        for e in errors
    )
    retryable = any(_is_retryable(e, external_id_field) for e in errors)
    return reason or "Salesforce reported failure without detail", retryable


def _errors_of(exc: SalesforceError) -> list[dict]:
    content = exc.content
    if isinstance(content, list):
        return [e for e in content if isinstance(e, dict)]
    if isinstance(content, dict):
        return [content]
    return [{"errorCode": str(exc.status), "message": str(content)[:500]}]


class SalesforceClient:
    def __init__(self, org: SalesforceOrg):
        self.org_row_id = org.id
        self.org_id = org.org_id
        self.config = current_app.config
        self._build(org)

    def _build(self, org: SalesforceOrg) -> None:
        self.access_token = org.access_token
        self.instance_url = org.instance_url
        self.sf = Salesforce(
            instance_url=org.instance_url,
            session_id=org.access_token,
            version=self.config["SF_API_VERSION"],
            session=requests.Session(),
        )

    def refresh(self) -> None:
        failed_token = self.access_token
        config = self.config
        row = refresh_connection(
            SalesforceOrg,
            self.org_row_id,
            salesforce_token_lock(self.org_id),
            lambda row: row.access_token == failed_token,
            lambda refresh_token: refresh_grant(
                config["SF_LOGIN_URL"] + "/services/oauth2/token",
                config["SF_CLIENT_ID"],
                config["SF_CLIENT_SECRET"],
                refresh_token,
                config["SF_TIMEOUT_SECONDS"],
            ),
            store_token,
        )
        self._build(row)

    def call(
        self,
        context: str,
        operation: Callable[[Salesforce], T],
        external_id_field: str | None = None,
    ) -> T:
        """Run one API call; an expired session is refreshed and the call tried once more."""
        for attempt in (1, 2):
            try:
                result = operation(self.sf)
            except SalesforceExpiredSession as exc:
                if attempt == 2:
                    raise SalesforceCallError(401, _errors_of(exc), context) from exc
                log.info("Salesforce session expired; refreshing")
                self.refresh()
            except SalesforceError as exc:
                raise SalesforceCallError(
                    exc.status, _errors_of(exc), context, external_id_field
                ) from exc
            except requests.RequestException as exc:
                raise Unavailable(f"Salesforce unreachable on {context}: {exc}") from exc
            else:
                note_success("salesforce", self.org_id)
                return result
        raise AssertionError("unreachable")

    # -- operations -----------------------------------------------------------------------------

    def upsert_one(self, sobject: str, field: str, value: str, payload: dict) -> dict:
        def run(sf: Salesforce) -> dict:
            response = getattr(sf, sobject).upsert(
                format_external_id(field, value), payload, raw_response=True
            )
            body = response.json() if response.content else {}
            return {"success": True, "errors": [], **body}

        return self.call(f"upsert {sobject}", run, external_id_field=field)

    def _collection_writes(self, what: str, path: str, sobject: str, records: list[dict]):
        """One sObject Collections PATCH per 200 records, results in the records' order; more
        than 200 go as PATCH subrequests of /composite calls, 5 collections (1,000 records) a
        call instead of one call each."""
        context = f"collections {what} {sobject}"
        bodies = [
            {
                "allOrNone": False,
                "records": [{"attributes": {"type": sobject}, **record} for record in chunk],
            }
            for chunk in _chunks(records, COLLECTION_LIMIT)
        ]
        if len(bodies) == 1:
            return self.call(context, lambda sf: sf.restful(path, method="PATCH", json=bodies[0]))
        results: list[dict] = []
        for group in _chunks(bodies, COMPOSITE_HEAVY_LIMIT):
            subrequests = [
                {"method": "PATCH", "url": self._url(path), "referenceId": f"c{n}", "body": body}
                for n, body in enumerate(group)
            ]
            for answer in self.composite(context, subrequests):
                results.extend(answer)
        return results

    def upsert_many(self, sobject: str, field: str, records: list[dict]) -> list[dict]:
        """Upsert by external id (records carry the external id field)."""
        return self._collection_writes(
            "upsert", f"composite/sobjects/{sobject}/{field}", sobject, records
        )

    def update_many(self, sobject: str, records: list[dict]) -> list[dict]:
        """Update by Id (records carry "Id")."""
        return self._collection_writes("update", "composite/sobjects", sobject, records)

    def update_records(self, records: list[dict]) -> list[dict]:
        """Update by Id records that may be of several objects; each carries its
        `attributes.type`. One call per 200 records, results in the records' order."""
        results: list[dict] = []
        for chunk in _chunks(records, COLLECTION_LIMIT):
            body = {"allOrNone": False, "records": chunk}
            results.extend(
                self.call(
                    "collections update",
                    lambda sf, body=body: sf.restful(
                        "composite/sobjects", method="PATCH", json=body
                    ),
                )
            )
        return results

    def delete_many(self, ids: list[str]) -> list[dict]:
        results: list[dict] = []
        for chunk in _chunks(ids, COLLECTION_LIMIT):
            results.extend(
                self.call(
                    "collections delete",
                    lambda sf, chunk=chunk: sf.restful(
                        "composite/sobjects",
                        method="DELETE",
                        params={"ids": ",".join(chunk), "allOrNone": "false"},
                    ),
                )
            )
        return results

    def _url(self, path: str) -> str:
        return f"/services/data/v{self.config['SF_API_VERSION']}/{path}"

    def composite(self, context: str, subrequests: list[dict]) -> list[Any]:
        """One POST /composite, which counts as one API call: the subrequests' bodies in their
        order. A failed subrequest fails the whole, as the same call made alone would."""
        body = {"allOrNone": False, "compositeRequest": subrequests}
        answer = self.call(context, lambda sf: sf.restful("composite", method="POST", json=body))
        by_reference = {a.get("referenceId"): a for a in answer.get("compositeResponse", [])}
        bodies = []
        for sub in subrequests:
            got = by_reference.get(sub["referenceId"])
            if got is None:
                raise SalesforceCallError(None, [], f"{context}: no answer to a subrequest")
            status = got.get("httpStatusCode") or 0
            if status >= 300:
                errors = got.get("body")
                errors = errors if isinstance(errors, list) else []
                errors = [e for e in errors if isinstance(e, dict)]
                raise SalesforceCallError(status, errors, context)
            bodies.append(got.get("body"))
        return bodies

    def query_each(self, soqls: list[str]) -> list[dict]:
        """The records of several queries: one is a plain GET; more go 5 to a /composite call
        (one API call instead of five), and a long answer's further pages are read as usual."""
        if len(soqls) == 1:
            return self.query_all(soqls[0])
        rows: list[dict] = []
        for group in _chunks(soqls, COMPOSITE_HEAVY_LIMIT):
            subrequests = [
                {"method": "GET", "url": query_url(self._url(""), soql), "referenceId": f"q{n}"}
                for n, soql in enumerate(group)
            ]
            for page in self.composite("query", subrequests):
                rows.extend(page["records"])
                while not page.get("done", True):
                    page = self.call(
                        "query",
                        lambda sf, url=page["nextRecordsUrl"]: sf.query_more(
                            url, identifier_is_url=True
                        ),
                    )
                    rows.extend(page["records"])
        return rows

    def query_all(self, soql: str, include_deleted: bool = False) -> list[dict]:
        """Every page of the answer; `include_deleted` reads the recycle bin too (queryAll)."""
        return self.call(
            "query", lambda sf: sf.query_all(soql, include_deleted=include_deleted)["records"]
        )

    def query_pages(
        self, soql: str, include_deleted: bool = False
    ) -> Iterator[tuple[list[dict], bool]]:
        """The answer one page at a time, with whether it is the last (each page one call),
        so a caller can store a page before it asks for the next and hold one in memory."""
        page = self.call("query", lambda sf: sf.query(soql, include_deleted=include_deleted))
        while True:
            done = bool(page.get("done", True)) or not page.get("nextRecordsUrl")
            yield page["records"], done
            if done:
                return
            next_url = page["nextRecordsUrl"]
            page = self.call(
                "query more",
                lambda sf, url=next_url: sf.query_more(
                    url, identifier_is_url=True, include_deleted=include_deleted
                ),
            )

    def count(self, soql: str) -> int:
        """The totalSize of a `SELECT COUNT() ...` query."""
        return self.call("count", lambda sf: sf.query(soql)["totalSize"])

    def field_types(self, sobject: str) -> dict[str, str]:
        """Field name -> describe type, cached for a few minutes and shared by all workers."""
        return {field["name"]: field["type"] for field in self.describe_fields(sobject)}

    def describe_fields(self, sobject: str) -> list[dict]:
        """The object's fields as describe gives them (the keys the gateway reads), cached for a
        few minutes and shared by all processes: describe is slow and counts against limits."""
        key = describe_cache_key(self.org_id, sobject)
        cache = queue.backend()
        fields = cache.cache_get(key)
        if fields is None:
            describe = self.call(f"describe {sobject}", lambda sf: getattr(sf, sobject).describe())
            fields = [trimmed_field(field) for field in describe["fields"]]
            cache.cache_set(key, fields, DESCRIBE_TTL)
        return fields

    def describe_objects(self) -> list[dict]:
        """Name and label of every object in the org (describe global), cached like fields."""
        key = describe_cache_key(self.org_id)
        cache = queue.backend()
        objects = cache.cache_get(key)
        if objects is None:
            answer = self.call("describe global", lambda sf: sf.describe())
            objects = [
                {"name": item["name"], "label": item.get("label") or item["name"]}
                for item in answer["sobjects"]
            ]
            cache.cache_set(key, objects, DESCRIBE_TTL)
        return objects


def query_url(base: str, soql: str) -> str:
    """The URL of a query, as a GET of it sends it (and as a /composite subrequest names it)."""
    return f"{base}query/?{urlencode({'q': soql})}"


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

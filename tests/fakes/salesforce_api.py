"""The REST API under /services/data/vXX.X/: sObjects, collections, SOQL, describe, limits."""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from . import soql
from .control import json_response
from .oauth import bearer_token
from .salesforce_collections import COLLECTION_LIMIT, Collections
from .salesforce_composite import CompositeRequests
from .salesforce_schema import SfError, SObjectType
from .salesforce_store import MultipleMatches, Org, SfStore

if TYPE_CHECKING:
    from .salesforce import FakeSalesforce

MIN_VERSION = 46.0
VERSIONS = [f"{v}.0" for v in range(46, 63)]


def sf_errors(*errors: SfError, status: int | None = None) -> Response:
    return json_response([e.rest() for e in errors], status or errors[0].status)


def register(app: Flask, fake: FakeSalesforce) -> None:
    @app.get("/services/data/")
    @app.get("/services/data")
    def versions() -> Response:
        return json_response(
            [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS]
        )

    @app.route(
        "/services/data/<version>/",
        defaults={"rest": ""},
        methods=["GET", "POST", "PATCH", "DELETE"],
    )
    @app.route("/services/data/<version>/<path:rest>", methods=["GET", "POST", "PATCH", "DELETE"])
    def data(version: str, rest: str) -> Response:
        m = re.fullmatch(r"v(\d+\.\d)", version)
        if m is None or float(m.group(1)) < MIN_VERSION:
            return sf_errors(SfError("NOT_FOUND", "The requested resource does not exist", [], 404))
        subject, _why = fake.tokens.check_access(bearer_token())
        with fake.lock:
            org = fake.store.org
            if org is None or subject != org.org_id:
                return sf_errors(
                    SfError("INVALID_SESSION_ID", "Session expired or invalid", status=401)
                )
            org.api_usage += 1
            if org.api_usage > fake.settings["api_daily_limit"]:
                return sf_errors(
                    SfError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", status=403)
                )
            mark = len(fake.store.changes)
            try:
                response = Rest(fake, org, m.group(1)).dispatch([p for p in rest.split("/") if p])
            except SfError as err:
                del fake.store.changes[mark:]
                return sf_errors(err)
            except MultipleMatches as many:
                urls = [f"/services/data/{version}/sobjects/{g.sobject}/{i}" for i in many.ids]
                return json_response(urls, 300)
            fake.flush_changes()
            return response


class Rest(Collections, CompositeRequests):
    def __init__(self, fake: FakeSalesforce, org: Org, version: str) -> None:
        self.fake, self.org, self.version = fake, org, version
        self.store: SfStore = fake.store

    def dispatch(self, parts: list[str]) -> Response:
        head = parts[0] if parts else ""
        handler = {
            "sobjects": self.sobjects,
            "query": self.query,
            "queryAll": self.query,
            "composite": self.composite,
            "limits": self.limits,
        }.get(head)
        if handler is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return handler(parts)

    def body(self) -> Any:
        data = request.get_data()
        try:
            return json.loads(data) if data else None
        except ValueError:
            raise SfError(
                "JSON_PARSER_ERROR", "Unexpected character in the request body: it is not JSON"
            ) from None

    def sobject(self, name: str) -> SObjectType:
        obj = self.store.sobject(name)
        g.sobject = obj.name
        return obj

    def shape(self, obj: SObjectType, rec: dict, fields: list[str] | None = None) -> dict:
        names = fields or list(obj.fields)
        return {
            "attributes": soql.attributes(obj, rec, self.version),
            **{n: rec.get(n) for n in names},
        }

    @staticmethod
    def not_allowed(allowed: str) -> SfError:
        return SfError(
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
            status=405,
        )

    # --- sobjects -------------------------------------------------------------------------

    def sobjects(self, parts: list[str]) -> Response:
        method = request.method
        if len(parts) == 1:
            summaries = [o.summary(self.version) for o in self.org.objects.values()]
            return json_response(
                {"encoding": "UTF-8", "maxBatchSize": COLLECTION_LIMIT, "sobjects": summaries}
            )
        obj = self.sobject(parts[1])
        if len(parts) == 2:
            if method == "POST":
                rec = self.store.create(obj, self.body())
                return json_response({"id": rec["Id"], "success": True, "errors": []}, 201)
            if method == "GET":
                return json_response(
                    {"objectDescribe": obj.summary(self.version), "recentItems": []}
                )
            raise self.not_allowed("GET,POST")
        if len(parts) == 3 and parts[2] in ("describe", "updated", "deleted"):
            if parts[2] == "describe":
                return json_response(obj.describe(self.version))
            return json_response(self.changed_since(obj, parts[2]))
        if len(parts) == 3:
            return self.record(obj, parts[2])
        return self.by_external_id(obj, parts[2], "/".join(parts[3:]))

    def record(self, obj: SObjectType, record_id: str) -> Response:
        if request.method == "GET":
            fields = None
            if request.args.get("fields"):
                fields = [self.field(obj, f).name for f in request.args["fields"].split(",")]
            return json_response(self.shape(obj, self.store.get(obj, record_id), fields))
        if request.method == "PATCH":
            self.store.update(obj, record_id, self.body())
            return Response(status=204)
        if request.method == "DELETE":
            self.store.delete(obj, record_id)
            return Response(status=204)
        raise self.not_allowed("GET,PATCH,DELETE")

    def field(self, obj: SObjectType, name: str):
        fld = obj.field(name.strip())
        if fld is None:
            raise SfError("INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'")
        return fld

    def external_field(self, obj: SObjectType, name: str):
        fld = obj.field(name)
        if fld is None or not (fld.externalId or fld.idLookup):
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return fld

    def by_external_id(self, obj: SObjectType, field_name: str, value: str) -> Response:
        fld = self.external_field(obj, field_name)
        if request.method == "PATCH":
            if not (fld.externalId or fld.name == "Id"):
                raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
            rec, created = self.store.upsert(obj, fld, value, self.body())
            result = {"id": rec["Id"], "success": True, "errors": [], "created": created}
            return json_response(result, 201 if created else 200)
        found = self.store.match(obj, fld, value)
        if len(found) > 1:
            raise MultipleMatches([r["Id"] for r in found])
        if not found:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        if request.method == "GET":
            return json_response(self.shape(obj, found[0]))
        if request.method == "DELETE":
            self.store.delete(obj, found[0]["Id"])
            return Response(status=204)
        raise self.not_allowed("GET,PATCH,DELETE")

    def changed_since(self, obj: SObjectType, which: str) -> dict:
        try:
            start = datetime.fromisoformat(request.args["start"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(request.args["end"].replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise SfError(
                "INVALID_REPLICATION_DATE", "start and end must be ISO date-times"
            ) from None

        def within(stamp: str) -> bool:
            return start <= datetime.fromisoformat(stamp) <= end

        latest = end.isoformat()
        if which == "deleted":
            return {
                "deletedRecords": [
                    {"id": r["Id"], "deletedDate": r["SystemModstamp"]}
                    for r in self.org.deleted[obj.name].values()
                    if within(r["SystemModstamp"])
                ],
                "earliestDateAvailable": start.isoformat(),
                "latestDateCovered": latest,
            }
        return {
            "ids": [
                r["Id"] for r in self.org.records[obj.name].values() if within(r["SystemModstamp"])
            ],
            "latestDateCovered": latest,
        }

    # --- query ----------------------------------------------------------------------------

    def query(self, parts: list[str]) -> Response:
        if request.method != "GET":
            raise self.not_allowed("GET")
        if len(parts) > 1:
            return json_response(self.fake.next_page(parts[1], self.version, parts[0]))
        text = request.args.get("q")
        if not text:
            raise SfError("MALFORMED_QUERY", "A query string has to be specified")
        parsed = soql.parse(text, self.org)
        records = soql.run(parsed, self.org, self.version, include_deleted=parts[0] == "queryAll")
        if parsed.count:
            return json_response({"totalSize": len(records), "done": True, "records": []})
        return json_response(self.fake.first_page(records, self.version, parts[0]))

    def limits(self, parts: list[str]) -> Response:
        limit = self.fake.settings["api_daily_limit"]
        return json_response(
            {
                "DailyApiRequests": {"Max": limit, "Remaining": max(limit - self.org.api_usage, 0)},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            }
        )


def new_locator() -> str:
    return "01g" + secrets.token_hex(8)[:15].upper()

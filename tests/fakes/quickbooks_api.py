"""The v3 Accounting API under /v3/company/{realm}/: read, write, query, batch and CDC."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from . import quickbooks_faults as faults
from . import quickbooks_query as qbo_query
from .control import json_response
from .oauth import bearer_token
from .quickbooks_entities import BY_RESOURCE, KINDS, EntityKind, lookup
from .quickbooks_faults import QboError, fault_response, qbo_time
from .quickbooks_store import Company

if TYPE_CHECKING:
    from .quickbooks import FakeQuickBooks

MAX_BATCH_ITEMS = 30
CDC_MAX_OBJECTS = 1000
CDC_WINDOW = timedelta(days=30)
# What rendering works out (from the transactions) rather than stores: a query filtering or
# sorting by it must see every record rendered.
RENDERED_ONLY = {"Balance", "BalanceWithJobs"}


def register(app: Flask, fake: FakeQuickBooks) -> None:
    @app.route("/v3/company/<realm>/<path:rest>", methods=["GET", "POST"])
    def v3(realm: str, rest: str) -> Response:
        subject, why = fake.tokens.check_access(bearer_token())
        if subject is None or subject != realm:
            detail = {"expired": "Token expired", "revoked": "Token revoked"}.get(
                why, "Token invalid for this company"
            )
            return fault_response(faults.authentication(detail), "lowercase")
        try:
            with fake.lock:
                co = fake.store.companies[realm]
                return Api(fake, co).dispatch(rest.strip("/").split("/"))
        except QboError as err:
            return fault_response(err)


class Api:
    def __init__(self, fake: FakeQuickBooks, co: Company) -> None:
        self.fake, self.store, self.co = fake, fake.store, co

    def dispatch(self, parts: list[str]) -> Response:
        resource = parts[0]
        if request.method == "GET":
            if resource == "query":
                return self.answer({"QueryResponse": self.query(request.args.get("query", ""))})
            if resource == "cdc":
                return self.answer(self.cdc())
            if len(parts) == 2:
                kind = self.kind(resource)
                if kind.name == "CompanyInfo":
                    parts[1] = "1"
                rec = self.store.get(self.co, kind, parts[1])
                return self.answer({kind.name: self.store.render(self.co, kind, rec)})
            raise QboError(
                400,
                "4000",
                "Unsupported Operation",
                f"Operation GET {'/'.join(parts)} is not supported.",
            )
        if resource == "query":
            return self.answer({"QueryResponse": self.query(request.get_data(as_text=True))})
        return self.idempotent(lambda: self.write(parts))

    def answer(self, payload: dict, status: int = 200) -> Response:
        return json_response({**payload, "time": qbo_time()}, status)

    def kind(self, resource: str) -> EntityKind:
        kind = BY_RESOURCE.get(resource)
        if kind is None:
            raise QboError(
                400, "4000", "Unsupported Operation", f"Operation {resource} is not supported."
            )
        return kind

    def idempotent(self, write) -> Response:
        """A repeated `requestid` gets the first answer back and nothing is written again."""
        request_id = request.args.get("requestid")
        if request_id and request_id in self.co.replies:
            status, body, mimetype = self.co.replies[request_id]
            return Response(body, status=status, mimetype=mimetype)
        try:
            response = write()
        except QboError as err:
            response = fault_response(err)
        if request_id and response.status_code < 500:
            self.co.replies[request_id] = (
                response.status_code,
                response.get_data(),
                response.mimetype,
            )
        return response

    # --- writes ---------------------------------------------------------------------------

    def write(self, parts: list[str]) -> Response:
        if parts[0] == "batch":
            return self.answer({"BatchItemResponse": self.batch()})
        kind = self.kind(parts[0])
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict):
            raise faults.bad_request("The request body is not a valid JSON object")
        operation = request.args.get("operation", "")
        void = operation == "void" or request.args.get("include") == "void"
        rec = self.apply(kind, operation, body, void)
        return self.answer({kind.name: rec})

    def apply(self, kind: EntityKind, operation: str, body: dict, void: bool) -> dict:
        if operation == "delete":
            return self.store.delete(self.co, kind, body)
        if void:
            rec = self.store.void(self.co, kind, body)
        elif operation not in ("", "create", "update"):
            raise QboError(
                400, "4000", "Unsupported Operation", f"Operation {operation} is not supported."
            )
        elif "Id" in body:
            rec = self.store.update(self.co, kind, body, sparse=body.get("sparse") is True)
        else:
            rec = self.store.create(self.co, kind, body)
        return self.store.render(self.co, kind, rec)

    def batch(self) -> list[dict]:
        body = request.get_json(silent=True, force=True) or {}
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise faults.bad_request("BatchItemRequest must be a list")
        if len(items) > MAX_BATCH_ITEMS:
            raise QboError(
                400,
                "6000",
                "Batch size exceeds limit",
                f"Batch request contains {len(items)} items; the limit is {MAX_BATCH_ITEMS}",
            )
        if all("Query" in item for item in items if isinstance(item, dict)):
            g.call.kind = "read"
        self.fake.meter(self.co.realm_id, len(items) - 1)  # each item is metered as a call
        return [self.batch_item(item) for item in items]

    def batch_item(self, item: Any) -> dict:
        bid = item.get("bId") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise faults.bad_request("a batch item must be an object")
            if "Query" in item:
                return {"bId": bid, "QueryResponse": self.query(item["Query"])}
            entity = next((k for k in item if k in KINDS), None)
            if entity is None:
                raise faults.bad_request("the batch item names no entity")
            operation = item.get("operation", "create")
            void = item.get("optionsData") == "void"
            rec = self.apply(KINDS[entity], operation, item[entity], void)
            return {"bId": bid, entity: rec}
        except QboError as err:
            return {"bId": bid, "Fault": err.fault()}

    # --- reads ----------------------------------------------------------------------------

    def query(self, text: str) -> dict:
        parsed = qbo_query.parse(text)
        refused = set(self.fake.settings["unfilterable"]) & set(qbo_query.fields_of(parsed.where))
        if refused:
            raise qbo_query.validation_error(f"property '{min(refused)}' is not queryable")
        if qbo_query.mentions(parsed) & RENDERED_ONLY:
            return qbo_query.run(parsed, self.store.render_all(self.co, parsed.kind))
        # Rendering copies each record and works out balances: only the page's records are
        # rendered, so a page of a company of 50,000 customers does not copy them all.
        stored = list(self.co.records[parsed.kind.name].values())
        return qbo_query.run(
            parsed, stored, lambda page: self.store.render_all(self.co, parsed.kind, page)
        )

    def cdc(self) -> dict:
        names = [n for n in request.args.get("entities", "").split(",") if n.strip()]
        since_text = request.args.get("changedSince", "")
        if not names or not since_text:
            raise faults.required("entities" if not names else "changedSince")
        try:
            since = datetime.fromisoformat(since_text.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise faults.bad_request(
                f"changedSince {since_text!r} is not a date-time", code="2040"
            ) from None
        if since.tzinfo is None:
            since = since.astimezone()
        if since < datetime.now(since.tzinfo) - CDC_WINDOW:
            raise QboError(
                400, "2040", "Invalid Date Range", "changedSince must be within the last 30 days"
            )
        budget, responses = CDC_MAX_OBJECTS, []
        for name in names:
            kind = lookup(name.strip())
            if kind is None:
                raise faults.bad_request(f"Unknown entity {name}", code="2040")
            found = self.changed(kind, since.timestamp())[:budget]
            budget -= len(found)
            responses.append(
                {kind.name: found, "startPosition": 1, "maxResults": len(found)} if found else {}
            )
        return {"CDCResponse": [{"QueryResponse": responses}]}

    def changed(self, kind: EntityKind, since: float) -> list[dict]:
        ids = sorted(
            (t, id_)
            for (name, id_), t in self.co.changed_at.items()
            if name == kind.name and t >= since
        )
        live = self.co.records[kind.name]
        rendered = {
            r["Id"]: r
            for r in self.store.render_all(self.co, kind, [live[i] for _, i in ids if i in live])
        }
        tombs = self.co.tombstones[kind.name]
        return [
            rendered[i] if i in rendered else dict(tombs[i])
            for _, i in ids
            if i in rendered or i in tombs
        ]

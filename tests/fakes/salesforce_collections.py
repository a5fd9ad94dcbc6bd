"""sObject Collections: create, update, delete and upsert up to 200 records in one call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Response, request

from .control import json_response
from .salesforce_schema import Field, SfError, SObjectType
from .salesforce_store import MultipleMatches, Org, SfStore, normalize_id

COLLECTION_LIMIT = 200
# Salesforce's update() processes the first 12 repeats of an Id in one call, each in turn (the
# last one wins), and fails the rest (SOAP API guide, update(); the error text as orgs report
# it). REST sObject Collections share the save path; the reference does not confirm it.
DUPLICATE_UPDATES_ALLOWED = 12
ROLLED_BACK = SfError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all "
    "records were valid and the request was using AllOrNone header",
)


def _record_id(record: Any) -> str | None:
    fields = record if isinstance(record, dict) else {}
    key = next((k for k in fields if k.lower() == "id"), None)
    return normalize_id(str(fields[key])) if key else None


class Collections:
    """Mixed into the REST handler, whose helpers (body, sobject, shape, ...) it uses."""

    org: Org
    store: SfStore
    fake: Any  # the FakeSalesforce, for its settings

    def composite(self, parts: list[str]) -> Response:
        if len(parts) == 1:
            return self.composite_request()  # type: ignore[attr-defined]
        if parts[1] != "sobjects":
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        method = request.method
        if len(parts) == 2:
            if method == "DELETE":
                ids = [i for i in request.args.get("ids", "").split(",") if i]
                all_or_none = request.args.get("allOrNone", "false").lower() == "true"
                return self.collection(ids, all_or_none, self.delete_one)
            if method in ("POST", "PATCH"):
                records, all_or_none = self.collection_body()
                if method == "POST":
                    one = self.create_one
                else:
                    one = self.repeat_limited(records, self.update_one)
                return self.collection(records, all_or_none, one)
            raise self.not_allowed("POST,PATCH,DELETE")
        obj = self.sobject(parts[2])
        if len(parts) == 3 and method in ("GET", "POST"):
            return self.retrieve(obj)
        if len(parts) == 4 and method == "PATCH":
            fld = self.external_field(obj, parts[3])
            records, all_or_none = self.collection_body()
            return self.collection(records, all_or_none, self.upserter(obj, fld, records))
        raise self.not_allowed("PATCH")

    def collection_body(self) -> tuple[list, bool]:
        body = self.body()
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise SfError(
                "JSON_PARSER_ERROR", 'The body must be {"allOrNone": false, "records": [...]}'
            )
        return records, bool(body.get("allOrNone", False))

    def collection(self, items: list, all_or_none: bool, one: Callable[[Any], dict]) -> Response:
        if len(items) > COLLECTION_LIMIT:
            raise SfError(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than "
                f"{COLLECTION_LIMIT} records into this call",
            )
        snap = self.store.snapshot() if all_or_none else None
        results = []
        for item in items:
            try:
                results.append({**one(item), "success": True, "errors": []})
            except SfError as err:
                results.append({"id": None, "success": False, "errors": [err.record()]})
            except MultipleMatches as many:
                results.append(
                    {
                        "id": None,
                        "success": False,
                        "errors": [
                            SfError(
                                "DUPLICATE_EXTERNAL_ID",
                                f"more than one record found for external id field: {many.ids}",
                            ).record()
                        ],
                    }
                )
        if snap is not None and not all(r["success"] for r in results):
            self.store.restore(snap)
            results = [
                r
                if not r["success"]
                else {"id": None, "success": False, "errors": [ROLLED_BACK.record()]}
                for r in results
            ]
        return json_response(
            [
                {
                    "id": r["id"],
                    "success": r["success"],
                    "errors": r["errors"],
                    **({"created": r["created"]} if "created" in r else {}),
                }
                for r in results
            ]
        )

    def typed(self, record: Any) -> tuple[SObjectType, dict]:
        if not isinstance(record, dict):
            raise SfError("JSON_PARSER_ERROR", "each record must be a JSON object")
        type_ = (record.get("attributes") or {}).get("type")
        if not type_:
            raise SfError("INVALID_TYPE", "Must send a concrete entity type.")
        obj = self.org.object(type_)
        if obj is None:
            raise SfError("INVALID_TYPE", f"sObject type '{type_}' is not supported.")
        return obj, {k: v for k, v in record.items() if k != "attributes"}

    def create_one(self, record: Any) -> dict:
        obj, body = self.typed(record)
        return {"id": self.store.create(obj, body)["Id"]}

    def update_one(self, record: Any) -> dict:
        obj, body = self.typed(record)
        key = next((k for k in body if k.lower() == "id"), None)
        if key is None:
            raise SfError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        record_id = body.pop(key)
        return {"id": self.store.update(obj, str(record_id), body)["Id"]}

    def repeat_limited(self, records: list, update: Callable[[Any], dict]) -> Callable[[Any], dict]:
        """Updates that may name one Id several times, answered as the `repeated_ids`
        setting says."""
        ids = [_record_id(record) for record in records]
        counts = Counter(i for i in ids if i is not None)
        reject = self.fake.settings["repeated_ids"] == "reject"
        seen: set[str] = set()
        repeats = 0

        def one(record: Any) -> dict:
            nonlocal repeats
            record_id = _record_id(record)
            if record_id is not None and reject and counts[record_id] > 1:
                raise SfError("DUPLICATE_VALUE", f"Duplicate id in list: {record_id}")
            if record_id is not None and record_id in seen:
                repeats += 1
                if repeats > DUPLICATE_UPDATES_ALLOWED:
                    raise SfError(
                        "DUPLICATE_VALUE",
                        "Maximum number of duplicate updates in one batch "
                        f"({DUPLICATE_UPDATES_ALLOWED} allowed). Attempt to update Id more than "
                        f"once in this Api call: {record_id}",
                    )
            if record_id is not None:
                seen.add(record_id)
            return update(record)

        return one

    def delete_one(self, record_id: str) -> dict:
        found = self.org.find(record_id)
        if found is None:
            raise SfError("ENTITY_IS_DELETED", "entity is deleted")
        self.store.delete(self.org.objects[found[0]], record_id)
        return {"id": found[1]["Id"]}

    def upserter(self, obj: SObjectType, fld: Field, records: list) -> Callable[[Any], dict]:
        values = Counter(
            str(r.get(fld.name, "")).casefold() for r in records if isinstance(r, dict)
        )

        def one(record: Any) -> dict:
            typed_obj, body = self.typed(record)
            if typed_obj is not obj:
                raise SfError(
                    "INVALID_TYPE", f"Record type {typed_obj.name} does not match {obj.name}"
                )
            key = next((k for k in body if k.lower() == fld.name.lower()), None)
            value = body.pop(key, None) if key else None
            if value in (None, ""):
                raise SfError("MISSING_ARGUMENT", f"{fld.name} not specified", [fld.name])
            if values[str(value).casefold()] > 1:
                raise SfError(
                    "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", [fld.name]
                )
            rec, created = self.store.upsert(obj, fld, str(value), body)
            return {"id": rec["Id"], "created": created}

        return one

    def retrieve(self, obj: SObjectType) -> Response:
        source = request.args if request.method == "GET" else (self.body() or {})
        ids, fields = source.get("ids", ""), source.get("fields", "")
        ids = ids.split(",") if isinstance(ids, str) else ids
        fields = fields.split(",") if isinstance(fields, str) else fields
        names = [self.field(obj, f).name for f in fields if f]
        out = []
        for record_id in ids:
            try:
                out.append(self.shape(obj, self.store.get(obj, record_id), names or None))
            except SfError:
                out.append(None)
        return json_response(out)

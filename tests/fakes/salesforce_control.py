"""Control API of the fake Salesforce: the org, person edits, and extra fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify

from .control import ControlError, json_body
from .salesforce_schema import SfError, SObjectType, custom_object, new_field

if TYPE_CHECKING:
    from .salesforce import FakeSalesforce


def register(app: Flask, fake: FakeSalesforce) -> None:
    def sobject(name: str) -> SObjectType:
        if fake.store.org is None:
            raise ControlError("no org yet: POST /_fake/org first", error="no_org", status=404)
        obj = fake.store.org.object(name)
        if obj is None:
            raise ControlError(f"unknown object {name!r}", error="unknown_object", status=404)
        return obj

    def edit(action, status: int = 200) -> Response:
        """Run a store write as a person would; Salesforce's errors become control 400s."""
        try:
            with fake.lock:
                fake.store.acting_as = fake.store.org.person_id if fake.store.org else None
                try:
                    result = action()
                finally:
                    fake.store.acting_as = None
                fake.flush_changes()
        except SfError as err:
            del fake.store.changes[:]
            raise ControlError(
                err.message, error=err.error_code, status=400, errors=[err.rest()]
            ) from None
        resp = jsonify(result)
        resp.status_code = status
        return resp

    def shaped(obj: SObjectType, rec: dict) -> dict:
        return {"attributes": {"type": obj.name}, **rec}

    @app.post("/_fake/org")
    def create_org() -> Response:
        with fake.lock:
            org = fake.new_org()
            grant = fake.tokens.new_grant(org.org_id, scope="api refresh_token")
        return jsonify(
            {
                "org_id": org.org_id,
                "user_id": org.user_id,
                "person_id": org.person_id,
                "instance_url": fake.url,
                "refresh_token": grant.refresh_token,
            }
        )

    @app.get("/_fake/org")
    def get_org() -> Response:
        org = fake.store.org
        if org is None:
            raise ControlError("no org yet: POST /_fake/org first", error="no_org", status=404)
        return jsonify(
            {
                "org_id": org.org_id,
                "user_id": org.user_id,
                "person_id": org.person_id,
                "instance_url": fake.url,
                "api_usage": org.api_usage,
                "objects": list(org.objects),
            }
        )

    @app.get("/_fake/sobjects/<name>")
    def list_records(name: str) -> Response:
        with fake.lock:
            obj = sobject(name)
            org = fake.store.org
            records = [*org.records[obj.name].values(), *org.deleted[obj.name].values()]
            return jsonify([shaped(obj, r) for r in records])

    @app.get("/_fake/sobjects/<name>/<record_id>")
    def read_record(name: str, record_id: str) -> Response:
        obj = sobject(name)
        return edit(lambda: shaped(obj, fake.store.get(obj, record_id)))

    @app.post("/_fake/sobjects/<name>")
    def create_record(name: str) -> Response:
        obj, body = sobject(name), json_body()
        return edit(lambda: shaped(obj, fake.store.create(obj, body)), status=201)

    @app.patch("/_fake/sobjects/<name>/<record_id>")
    def update_record(name: str, record_id: str) -> Response:
        obj, body = sobject(name), json_body()
        return edit(lambda: shaped(obj, fake.store.update(obj, record_id, body)))

    @app.delete("/_fake/sobjects/<name>/<record_id>")
    def delete_record(name: str, record_id: str) -> Response:
        obj = sobject(name)
        return edit(lambda: fake.store.delete(obj, record_id) or {"deleted": True, "Id": record_id})

    @app.post("/_fake/sobjects/<name>/<record_id>/undelete")
    def undelete_record(name: str, record_id: str) -> Response:
        obj = sobject(name)
        return edit(lambda: shaped(obj, fake.store.undelete(obj, record_id)))

    @app.post("/_fake/fields/<name>")
    def add_field(name: str) -> Response:
        org = fake.store.org
        if org is not None and name.endswith("__c") and org.object(name) is None:
            with fake.lock:  # the first field of an unknown custom object creates the object
                org.objects[name] = custom_object(name, len(org.objects))
                org.records[name], org.deleted[name] = {}, {}
        obj = sobject(name)
        try:
            fld = new_field(json_body())
        except (TypeError, ValueError) as exc:
            raise ControlError(str(exc), error="bad_field") from None
        with fake.lock:
            if obj.field(fld.name) is not None:
                raise ControlError(f"{obj.name}.{fld.name} exists", error="duplicate_field")
            obj.fields[fld.name] = fld
            for rec in [
                *fake.store.org.records[obj.name].values(),
                *fake.store.org.deleted[obj.name].values(),
            ]:
                rec.setdefault(fld.name, fld.default)
            fake.store.org.value_index.clear()  # defaults written in place, past the index
        return jsonify(fld.describe())

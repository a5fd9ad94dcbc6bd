"""Control API of the fake QuickBooks: companies, and edits made as a person would make them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify

from .control import ControlError, json_body
from .quickbooks_entities import EntityKind, lookup
from .quickbooks_faults import QboError
from .quickbooks_store import Company

if TYPE_CHECKING:
    from .quickbooks import FakeQuickBooks

BULK_LIMIT = 10_000  # records in one control-API request: a few MB of JSON


def register(app: Flask, fake: FakeQuickBooks) -> None:
    def company(realm: str) -> Company:
        found = fake.store.companies.get(realm)
        if found is None:
            raise ControlError(f"no company {realm}", error="not_found", status=404)
        return found

    def kind_of(entity: str) -> EntityKind:
        kind = lookup(entity)
        if kind is None:
            raise ControlError(f"unknown entity {entity!r}", error="unknown_entity")
        return kind

    def edit(action) -> Response:
        """Run a store write; Intuit's validation errors become control-API 400s."""
        try:
            with fake.lock:
                return jsonify(action())
        except QboError as err:
            raise ControlError(err.detail, error=f"{err.code} {err.message}") from None

    @app.post("/_fake/companies")
    def create_company() -> Response:
        body = json_body(required=False) or {}
        with fake.lock:
            co = fake.store.create_company(body.get("name"))
            grant = fake.tokens.new_grant(co.realm_id)
        return jsonify(
            {"realmId": co.realm_id, "name": co.name, "refresh_token": grant.refresh_token}
        )

    @app.get("/_fake/companies")
    def list_companies() -> Response:
        with fake.lock:
            return jsonify(
                [{"realmId": c.realm_id, "name": c.name} for c in fake.store.companies.values()]
            )

    @app.get("/_fake/companies/<realm>/<entity>")
    def list_records(realm: str, entity: str) -> Response:
        kind = kind_of(entity)
        with fake.lock:
            co = company(realm)
            return jsonify(fake.store.render_all(co, kind))

    @app.get("/_fake/companies/<realm>/<entity>/<id_>")
    def read_record(realm: str, entity: str, id_: str) -> Response:
        kind = kind_of(entity)
        with fake.lock:
            co = company(realm)
            rec = co.records[kind.name].get(id_)
            if rec is None:
                raise ControlError(f"no {kind.name} {id_}", error="not_found", status=404)
            return jsonify(fake.store.render(co, kind, rec))

    def save(co: Company, kind: EntityKind, body: dict) -> dict:
        body = {k: v for k, v in body.items() if k != "SyncToken"}  # a person never sends one
        if "Id" in body:
            saved = fake.store.update(co, kind, body, sparse=True, check_token=False)
        else:
            saved = fake.store.create(co, kind, body)
        return fake.store.render(co, kind, saved)

    @app.post("/_fake/companies/<realm>/<entity>")
    def put_record(realm: str, entity: str) -> Response:
        kind, body = kind_of(entity), json_body()
        co = company(realm)
        if isinstance(body, list):
            return edit(lambda: save_all(co, kind, body))
        if not isinstance(body, dict):
            raise ControlError(
                'the body is a bare record, e.g. {"DisplayName": "Acme"}, or a list of them'
            )
        return edit(lambda: save(co, kind, body))

    def save_all(co: Company, kind: EntityKind, bodies: list) -> list[dict]:
        """Many records in one request (seeding a big company): each saved as if sent alone,
        in order; the first invalid one stops the rest, and those before it stay saved."""
        if len(bodies) > BULK_LIMIT:
            raise ControlError(f"at most {BULK_LIMIT} records in one request")
        saved = []
        for n, body in enumerate(bodies):
            if not isinstance(body, dict):
                raise ControlError(f"record {n} is not an object; {len(saved)} saved before it")
            try:
                saved.append(save(co, kind, body))
            except QboError as err:
                raise ControlError(
                    f"record {n}: {err.detail}; {len(saved)} saved before it",
                    error=f"{err.code} {err.message}",
                ) from None
        return saved

    @app.post("/_fake/companies/<realm>/<entity>/<id_>/<action>")
    def act(realm: str, entity: str, id_: str, action: str) -> Response:
        kind, co = kind_of(entity), company(realm)
        store = fake.store
        if action == "delete":
            # A name-list record is made inactive (and rendered); a transaction is deleted.
            return edit(
                lambda: store.render_all(
                    co, kind, [store.delete(co, kind, {"Id": id_}, check_token=False)]
                )[0]
            )
        if action == "void":
            return edit(
                lambda: store.render(co, kind, store.void(co, kind, {"Id": id_}, check_token=False))
            )
        if action == "merge":
            into = (json_body() or {}).get("into")
            if not into:
                raise ControlError('merge needs {"into": "<surviving Id>"}')
            return edit(lambda: store.render(co, kind, store.merge(co, kind, id_, str(into))))
        raise ControlError(f"unknown action {action!r}; use delete, void or merge")

"""The org's records and the rules every write follows (API and person alike)."""

from __future__ import annotations

import copy
import re
import secrets
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .salesforce_schema import Field, SfError, SObjectType, default_objects

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CHECKSUM = string.ascii_uppercase + "012345"
ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def id18(id15: str) -> str:
    """Salesforce's case-safe suffix: one character per five, marking the upper-case ones."""
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]) if ch.isupper())
        suffix += _CHECKSUM[bits]
    return id15 + suffix


def normalize_id(value: str) -> str | None:
    if not isinstance(value, str) or not ID_RE.match(value):
        return None
    return id18(value) if len(value) == 15 else value


def random_id(prefix: str) -> str:
    return id18(prefix + "".join(secrets.choice(_BASE62) for _ in range(12)))


class Clock:
    """Salesforce timestamps, strictly increasing so SystemModstamp orders every change."""

    def __init__(self) -> None:
        self._last_ms = 0

    def stamp(self) -> str:
        ms = max(int(time.time() * 1000), self._last_ms + 1)
        self._last_ms = ms
        return (
            datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{ms % 1000:03d}+0000"
        )


@dataclass
class Change:
    object: str
    operation: str  # upsert | delete | undelete
    id: str
    modstamp: str


class Org:
    def __init__(self) -> None:
        self.org_id = random_id("00D")
        self.user_id = random_id("005")  # the integration user: whoever calls the API
        # A person editing in the org (the control API), so LastModifiedById tells the two apart.
        self.person_id = random_id("005")
        self.objects: dict[str, SObjectType] = default_objects()
        self.records: dict[str, dict[str, dict]] = {name: {} for name in self.objects}
        self.deleted: dict[str, dict[str, dict]] = {name: {} for name in self.objects}
        self.counter = 0
        self.api_usage = 0
        # (object, field) -> casefolded value -> ids of live records holding it: built on the
        # first lookup by that field and kept up by every write, so that an upsert by external
        # id in an org of 50,000 records does not read them all.
        self.value_index: dict[tuple[str, str], dict[str, set[str]]] = {}
        self.pod = "".join(secrets.choice(_BASE62) for _ in range(2))

    def new_id(self, prefix: str) -> str:
        self.counter += 1
        digits = ""
        n = self.counter
        while n:
            n, r = divmod(n, 62)
            digits = _BASE62[r] + digits
        return id18(f"{prefix}{self.pod}00000{digits.rjust(5, '0')}")

    def object(self, name: str) -> SObjectType | None:
        found = self.objects.get(name)
        if found is None:
            found = next((o for n, o in self.objects.items() if n.lower() == name.lower()), None)
        return found

    def find(self, record_id: str) -> tuple[str, dict] | None:
        norm = normalize_id(record_id)
        for name, records in self.records.items():
            if norm in records:
                return name, records[norm]
        return None


class SfStore:
    def __init__(self) -> None:
        self.org: Org | None = None
        self.clock = Clock()
        self.changes: list[Change] = []
        self.acting_as: str | None = None  # set while a person edits; else the API user

    def _user(self) -> str:
        return self.acting_as or self.org.user_id

    def new_org(self) -> Org:
        self.org = Org()
        self.changes.clear()
        return self.org

    # --- rollback for allOrNone -----------------------------------------------------------

    def snapshot(self) -> tuple:
        org = self.org
        return copy.deepcopy(org.records), copy.deepcopy(org.deleted), len(self.changes)

    def restore(self, snap: tuple) -> None:
        self.org.records, self.org.deleted, n = snap
        self.org.value_index.clear()
        del self.changes[n:]

    # --- reads ----------------------------------------------------------------------------

    def sobject(self, name: str) -> SObjectType:
        found = self.org.object(name)
        if found is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return found

    def get(self, obj: SObjectType, record_id: str) -> dict:
        norm = normalize_id(record_id)
        if norm is None:
            raise SfError(
                "MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        rec = self.org.records[obj.name].get(norm)
        if rec is None:
            if norm in self.org.deleted[obj.name]:
                raise SfError("ENTITY_IS_DELETED", "entity is deleted", status=404)
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return rec

    def match(self, obj: SObjectType, fld: Field, value: Any) -> list[dict]:
        """Live records whose external id equals value (case-insensitively, like SF)."""
        folded = str(value).casefold()
        if fld.name == "Id":
            norm = normalize_id(str(value))
            found = self.org.records[obj.name].get(norm) if norm else None
            return [found] if found else []
        records = self.org.records[obj.name]
        ids = self._index(obj.name, fld.name).get(folded, set())
        found = [records[i] for i in ids if i in records]
        found = [r for r in found if str(r.get(fld.name)).casefold() == folded]
        if len(found) > 1:  # in the order the records were made, as a scan finds them
            wanted = {r["Id"] for r in found}
            found = [r for r in records.values() if r["Id"] in wanted]
        return found

    def _index(self, obj_name: str, field_name: str) -> dict[str, set[str]]:
        index = self.org.value_index.get((obj_name, field_name))
        if index is None:
            index = self.org.value_index[(obj_name, field_name)] = {}
            for rec in self.org.records[obj_name].values():
                if rec.get(field_name) is not None:
                    index.setdefault(str(rec[field_name]).casefold(), set()).add(rec["Id"])
        return index

    def _reindex(self, obj: SObjectType, old: dict | None, new: dict | None) -> None:
        """A live record changed from old to new (None: it was not, or is no longer, live)."""
        for (obj_name, field_name), index in self.org.value_index.items():
            if obj_name != obj.name:
                continue
            if old is not None and old.get(field_name) is not None:
                ids = index.get(str(old[field_name]).casefold())
                if ids is not None:
                    ids.discard(old["Id"])
            if new is not None and new.get(field_name) is not None:
                index.setdefault(str(new[field_name]).casefold(), set()).add(new["Id"])

    # --- writes ---------------------------------------------------------------------------

    def create(self, obj: SObjectType, body: Any) -> dict:
        values = self._values(obj, body, creating=True)
        now = self.clock.stamp()
        rec = {name: copy.deepcopy(f.default) for name, f in obj.fields.items()}
        rec.update(
            Id=self.org.new_id(obj.key_prefix),
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=self._user(),
            LastModifiedDate=now,
            LastModifiedById=self._user(),
            SystemModstamp=now,
        )
        rec.update(values)
        missing = [
            f.name for f in obj.fields.values() if f.required and rec.get(f.name) in (None, "")
        ]
        if missing:
            raise SfError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        self._derive(obj, rec)
        self._check_unique(obj, rec)
        self.org.records[obj.name][rec["Id"]] = rec
        self._reindex(obj, None, rec)
        self._changed(obj, rec, "upsert")
        return rec

    def update(self, obj: SObjectType, record_id: str, body: Any) -> dict:
        current = self.get(obj, record_id)
        values = self._values(obj, body, creating=False, own_id=current["Id"])
        rec = {**current, **values}
        cleared = [
            f.name
            for f in obj.fields.values()
            if f.required and f.name in values and rec.get(f.name) in (None, "")
        ]
        if cleared:
            raise SfError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(cleared)}]",
                cleared,
            )
        self._derive(obj, rec)
        self._check_unique(obj, rec)
        now = self.clock.stamp()
        rec.update(LastModifiedDate=now, LastModifiedById=self._user(), SystemModstamp=now)
        self.org.records[obj.name][rec["Id"]] = rec
        self._reindex(obj, current, rec)
        self._changed(obj, rec, "upsert")
        return rec

    def upsert(self, obj: SObjectType, fld: Field, value: str, body: Any) -> tuple[dict, bool]:
        if isinstance(body, dict):
            for key in body:
                if key.lower() in ("id", fld.name.lower()):
                    raise SfError(
                        "INVALID_FIELD",
                        f"The {key} field should not be specified in the sobject data.",
                        [key],
                    )
        found = self.match(obj, fld, value)
        if len(found) > 1:
            raise MultipleMatches([r["Id"] for r in found])
        if found:
            return self.update(obj, found[0]["Id"], body), False
        if fld.name == "Id":
            raise SfError(
                "NOT_FOUND",
                "Provided external ID field does not exist or is not accessible: Id",
                status=404,
            )
        return self.create(obj, {**(body or {}), fld.name: value}), True

    def delete(self, obj: SObjectType, record_id: str) -> None:
        rec = self.get(obj, record_id)
        del self.org.records[obj.name][rec["Id"]]
        self._reindex(obj, rec, None)
        now = self.clock.stamp()
        # LastModifiedById is left as it was: that a delete changes it is not confirmed, so
        # the gateway must not count on it (the reconciler would miss a person's delete).
        rec.update(IsDeleted=True, LastModifiedDate=now, SystemModstamp=now)
        self.org.deleted[obj.name][rec["Id"]] = rec
        self._changed(obj, rec, "delete")

    def undelete(self, obj: SObjectType, record_id: str) -> dict:
        norm = normalize_id(record_id)
        rec = self.org.deleted[obj.name].pop(norm or "", None)
        if rec is None:
            raise SfError("UNDELETE_FAILED", "Entity is not in the recycle bin", status=400)
        self._check_unique(obj, rec)
        now = self.clock.stamp()
        rec.update(IsDeleted=False, LastModifiedDate=now, SystemModstamp=now)
        self.org.records[obj.name][rec["Id"]] = rec
        self._reindex(obj, None, rec)
        self._changed(obj, rec, "undelete")
        return rec

    def _changed(self, obj: SObjectType, rec: dict, operation: str) -> None:
        self.changes.append(Change(obj.name, operation, rec["Id"], rec["SystemModstamp"]))

    # --- rules ----------------------------------------------------------------------------

    def _values(
        self, obj: SObjectType, body: Any, creating: bool, own_id: str | None = None
    ) -> dict:
        if not isinstance(body, dict):
            raise SfError("JSON_PARSER_ERROR", "The request body must be a JSON object")
        values = {}
        for key, value in body.items():
            if key == "attributes":
                continue
            fld = obj.field(key)
            if fld is None:
                rel = obj.relationship(key)
                if rel is not None and isinstance(value, dict):
                    values[rel.name] = self._resolve_parent(rel, value)
                    continue
                raise SfError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
                )
            if fld.name == "Id" and not creating and normalize_id(str(value)) == own_id:
                continue
            if not (fld.createable if creating else fld.updateable):
                raise SfError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {fld.name}. Please check the "
                    "security settings of this field and verify that it is "
                    "read/write for your profile or permission set.",
                    [fld.name],
                )
            stored = fld.check(value)
            if fld.type == "reference" and stored is not None:
                stored = self._check_reference(fld, stored)
            values[fld.name] = stored
        return values

    def _check_reference(self, fld: Field, value: str) -> str:
        norm = normalize_id(value)
        if norm is None:
            raise SfError(
                "MALFORMED_ID",
                f"{fld.label or fld.name}: id value of incorrect type: {value}",
                [fld.name],
            )
        found = self.org.find(norm)
        if found is None:
            raise SfError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fld.name])
        if found[0] not in fld.referenceTo:
            raise SfError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{fld.label or fld.name}: id value of incorrect type: {value}",
                [fld.name],
            )
        return norm

    def _resolve_parent(self, rel: Field, value: dict) -> str:
        """`"Account": {"QBO_Id__c": "x"}` points a lookup at a parent by its external id."""
        parent = self.sobject(rel.referenceTo[0])
        keys = [k for k in value if k != "attributes"]
        ext = parent.field(keys[0]) if len(keys) == 1 else None
        if ext is None or not (ext.externalId or ext.name == "Id"):
            raise SfError(
                "INVALID_FIELD",
                f"{rel.relationshipName} must name exactly one external id field of {parent.name}",
                [rel.name],
            )
        found = self.match(parent, ext, value[keys[0]])
        if len(found) != 1:
            raise SfError(
                "INVALID_FIELD",
                f"Foreign key external ID: {value[keys[0]]} not "
                f"found for field {ext.name} in entity {parent.name}",
                [rel.name],
            )
        return found[0]["Id"]

    @staticmethod
    def _derive(obj: SObjectType, rec: dict) -> None:
        if obj.name == "Contact":
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)

    def _check_unique(self, obj: SObjectType, rec: dict) -> None:
        for fld in obj.fields.values():
            value = rec.get(fld.name)
            if not fld.unique or value in (None, ""):
                continue
            for other in self.match(obj, fld, value):
                if other["Id"] != rec["Id"]:
                    raise SfError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {fld.name} "
                        f"duplicates value on record with id: {other['Id']}",
                    )


class MultipleMatches(Exception):
    def __init__(self, ids: list[str]) -> None:
        super().__init__(f"{len(ids)} records match")
        self.ids = ids

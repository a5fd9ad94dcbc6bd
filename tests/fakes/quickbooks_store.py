"""Companies and their records, and the rules every write follows (API and person alike)."""

from __future__ import annotations

import copy
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import quickbooks_faults as faults
from .quickbooks_entities import CHECKED_REFS, KINDS, READ_ONLY, SYSTEM_KEYS, EntityKind
from .quickbooks_faults import QboError, qbo_time

DELETED_SUFFIX = " (deleted)"
AMOUNT_LINES = ("SalesItemLineDetail", "GroupLineDetail", "DiscountLineDetail")


@dataclass
class Event:
    realm: str
    entity: str
    id: str
    operation: str  # Create | Update | Delete | Merge | Void
    deleted_id: str | None = None
    time_ns: int = field(default_factory=time.time_ns)

    @property
    def last_updated(self) -> str:
        return (
            datetime.fromtimestamp(self.time_ns / 1e9, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )


class Company:
    def __init__(self, realm_id: str, name: str) -> None:
        self.realm_id, self.name = realm_id, name
        self.records: dict[str, dict[str, dict]] = defaultdict(dict)
        self.tombstones: dict[str, dict[str, dict]] = defaultdict(dict)
        self.changed_at: dict[tuple[str, str], float] = {}  # precise times, for CDC
        self.next_id: dict[str, int] = defaultdict(int)
        self.next_doc_number = 1001
        self.replies: dict[str, tuple[int, bytes, str]] = {}  # requestid -> first answer
        # casefolded name -> (entity, Id) of the records holding it, built on the first name
        # check and kept by every write: a new customer in a company of 50,000 is checked
        # without reading them all
        self.names: dict[str, set[tuple[str, str]]] | None = None
        now = qbo_time(ms=False)
        self.records["CompanyInfo"]["1"] = {
            "CompanyName": name,
            "LegalName": name,
            "Country": "US",
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "0",
            "MetaData": {"CreateTime": now, "LastUpdatedTime": now},
        }


def _strip_suffix(name: str) -> str:
    return name[: -len(DELETED_SUFFIX)] if name.endswith(DELETED_SUFFIX) else name


def _money(value: Any, field_: str = "Amount") -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise faults.bad_request(f"{field_} must be a number, not {value!r}", code="2040")
    try:
        rounded = round(float(value), 2)
    except ValueError:
        raise faults.bad_request(f"{field_} must be a number, not {value!r}", code="2040") from None
    return int(rounded) if rounded == int(rounded) else rounded


def _lines(rec: dict) -> list[dict]:
    lines = rec.get("Line", [])
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise faults.bad_request("Line must be a list of line objects")
    return lines


class QboStore:
    def __init__(self, emit: Callable[[Event], None]) -> None:
        self._emit = emit
        self.companies: dict[str, Company] = {}

    def create_company(self, name: str | None = None) -> Company:
        realm = "9341" + "".join(random.choices("0123456789", k=12))
        company = Company(realm, name or f"Sandbox Company {len(self.companies) + 1}")
        self.companies[realm] = company
        return company

    # --- reads --------------------------------------------------------------------------

    def get(self, co: Company, kind: EntityKind, id_: str) -> dict:
        rec = co.records[kind.name].get(str(id_))
        if rec is None:
            raise faults.not_found(kind.name, id_)
        return rec

    def render_all(
        self, co: Company, kind: EntityKind, records: list[dict] | None = None
    ) -> list[dict]:
        """Records as the API shows them, with balances worked out from the transactions."""
        if records is None:
            records = list(co.records[kind.name].values())
        if kind.name not in ("Customer", "Invoice"):
            return [copy.deepcopy(r) for r in records]
        invoice_balance, customer_balance = self._balances(co)
        out = []
        for rec in records:
            rec = copy.deepcopy(rec)
            if kind.name == "Invoice":
                rec["Balance"] = invoice_balance.get(rec["Id"], 0)
            else:
                rec["Balance"] = rec["BalanceWithJobs"] = customer_balance.get(rec["Id"], 0)
            out.append(rec)
        return out

    def render(self, co: Company, kind: EntityKind, rec: dict) -> dict:
        return self.render_all(co, kind, [rec])[0]

    def _balances(self, co: Company) -> tuple[dict[str, float], dict[str, float]]:
        paid: dict[str, float] = defaultdict(float)
        for payment in co.records["Payment"].values():
            for line in payment.get("Line", []):
                for linked in line.get("LinkedTxn", []):
                    if linked.get("TxnType") == "Invoice":
                        paid[str(linked.get("TxnId"))] += float(line.get("Amount", 0))
        invoices, customers = {}, defaultdict(float)
        for inv in co.records["Invoice"].values():
            balance = _money(max(float(inv.get("TotalAmt", 0)) - paid[inv["Id"]], 0))
            invoices[inv["Id"]] = balance
            customers[str(inv.get("CustomerRef", {}).get("value"))] += balance
        return invoices, {k: _money(v) for k, v in customers.items()}

    # --- writes -------------------------------------------------------------------------

    def create(self, co: Company, kind: EntityKind, body: dict) -> dict:
        self._check_properties(kind, body)
        rec = dict(kind.defaults(body)) if kind.defaults else {}
        co.next_id[kind.name] += 1
        now = qbo_time(ms=False)
        rec.update(
            {
                "domain": "QBO",
                "sparse": False,
                "Id": str(co.next_id[kind.name]),
                "SyncToken": "0",
                "MetaData": {"CreateTime": now, "LastUpdatedTime": now},
            }
        )
        rec.update({k: copy.deepcopy(v) for k, v in body.items() if k not in READ_ONLY})
        self._derive(co, kind, rec, creating=True)
        co.records[kind.name][rec["Id"]] = rec
        self._rename(co, kind, None, rec)
        self._changed(co, kind, rec, "Create")
        return rec

    def update(
        self, co: Company, kind: EntityKind, body: dict, sparse: bool, check_token: bool = True
    ) -> dict:
        if "Id" not in body:
            raise faults.required("Id")
        self._check_properties(kind, body)
        current = self.get(co, kind, str(body["Id"]))
        if check_token:
            self._check_sync_token(current, body)
        if sparse:
            rec = copy.deepcopy(current)
        else:
            # A full update replaces every writable property: what is not sent is cleared.
            rec = dict(kind.defaults(body)) if kind.defaults else {}
            rec.update({k: current[k] for k in SYSTEM_KEYS})
        rec.update({k: copy.deepcopy(v) for k, v in body.items() if k not in READ_ONLY})
        for key in [k for k, v in body.items() if v is None and k not in READ_ONLY]:
            del rec[key]  # QBO answers without the properties a client cleared
        rec["sparse"] = False
        self._derive(co, kind, rec, creating=False)
        return self._replace(co, kind, rec, "Update")

    def delete(self, co: Company, kind: EntityKind, body: dict, check_token: bool = True) -> dict:
        current = self.get(co, kind, str(body.get("Id", "")))
        if check_token:
            self._check_sync_token(current, body)
        if kind.namelist:
            if check_token:
                raise QboError(
                    400,
                    "6000",
                    "A business validation error has occurred while processing your request",
                    f"Business Validation Error: "
                    f"{kind.name} cannot be deleted; make it inactive (Active=false)",
                )
            return self.update(
                co, kind, {"Id": current["Id"], "Active": False}, sparse=True, check_token=False
            )
        del co.records[kind.name][current["Id"]]
        tomb = {
            "domain": "QBO",
            "status": "Deleted",
            "Id": current["Id"],
            "MetaData": {**current["MetaData"], "LastUpdatedTime": qbo_time(ms=False)},
        }
        co.tombstones[kind.name][current["Id"]] = tomb
        self._changed(co, kind, tomb, "Delete")
        return tomb

    def void(self, co: Company, kind: EntityKind, body: dict, check_token: bool = True) -> dict:
        if kind.void is None:
            raise QboError(
                400,
                "6000",
                "A business validation error has occurred while processing your request",
                f"Business Validation Error: {kind.name} cannot be voided",
            )
        current = self.get(co, kind, str(body.get("Id", "")))
        if check_token:
            self._check_sync_token(current, body)
        rec = copy.deepcopy(current)
        for line in rec.get("Line", []):
            if "Amount" in line:
                line["Amount"] = 0
        rec["TotalAmt"] = 0
        if "UnappliedAmt" in rec:
            rec["UnappliedAmt"] = 0
        rec["PrivateNote"] = "Voided"
        return self._replace(co, kind, rec, "Void")

    def merge(self, co: Company, kind: EntityKind, gone_id: str, into_id: str) -> dict:
        if not kind.namelist:
            raise faults.bad_request(f"{kind.name} records cannot be merged", code="6000")
        if gone_id == into_id:
            raise faults.bad_request("a record cannot be merged into itself", code="6000")
        gone, survivor = self.get(co, kind, gone_id), self.get(co, kind, into_id)
        gone = copy.deepcopy(gone)
        gone["Active"] = False
        self._derive(co, kind, gone, creating=False)
        self._replace(co, kind, gone, None)
        ref_key = f"{kind.name}Ref"
        for txn_kind, records in co.records.items():
            for rec in list(records.values()):
                if rec.get(ref_key, {}).get("value") == gone_id:
                    moved = copy.deepcopy(rec)
                    moved[ref_key] = {"value": into_id, "name": survivor.get(kind.name_field)}
                    self._replace(co, KINDS[txn_kind], moved, None)
        merged = self._replace(co, kind, copy.deepcopy(survivor), None)
        self._emit(Event(co.realm_id, kind.name, into_id, "Merge", deleted_id=gone_id))
        return merged

    # --- rules --------------------------------------------------------------------------

    def _replace(self, co: Company, kind: EntityKind, rec: dict, operation: str | None) -> dict:
        rec["SyncToken"] = str(int(rec["SyncToken"]) + 1)
        rec["MetaData"] = {**rec["MetaData"], "LastUpdatedTime": qbo_time(ms=False)}
        self._rename(co, kind, co.records[kind.name].get(rec["Id"]), rec)
        co.records[kind.name][rec["Id"]] = rec
        if operation:
            self._changed(co, kind, rec, operation)
        else:
            co.changed_at[(kind.name, rec["Id"])] = time.time()
        return rec

    def _changed(self, co: Company, kind: EntityKind, rec: dict, operation: str) -> None:
        co.changed_at[(kind.name, rec["Id"])] = time.time()
        self._emit(Event(co.realm_id, kind.name, rec["Id"], operation))

    @staticmethod
    def _check_sync_token(current: dict, body: dict) -> None:
        if body.get("SyncToken") is None:
            raise faults.required("SyncToken")
        if str(body["SyncToken"]) != current["SyncToken"]:
            raise faults.stale(current["SyncToken"])

    @staticmethod
    def _check_properties(kind: EntityKind, body: Any) -> None:
        if not isinstance(body, dict):
            raise faults.bad_request(f"the body must be a JSON {kind.name} object")
        if kind.properties is None:
            return
        for key in body:
            if key not in kind.properties:
                raise faults.bad_request(
                    f'Property Name:Unrecognized field "{key}" (class com.intuit.schema.finance'
                    f".v3.{kind.name}), not marked as ignorable specified is unsupported or "
                    "invalid",
                    code="2010",
                )

    def _derive(self, co: Company, kind: EntityKind, rec: dict, creating: bool) -> None:
        if kind.name_field:
            self._derive_name(co, kind, rec, creating)
        self._check_refs(co, rec)
        if kind.name in ("Invoice", "SalesReceipt"):
            self._derive_sales(co, kind, rec)
        elif kind.name == "Payment":
            if rec.get("TotalAmt") is None:
                raise faults.required("TotalAmt")
            applied = sum(_money(line.get("Amount", 0)) for line in _lines(rec))
            rec["TotalAmt"] = _money(rec["TotalAmt"], "TotalAmt")
            rec["UnappliedAmt"] = _money(rec["TotalAmt"] - applied)
        if kind.name in ("Invoice", "Payment") and "CustomerRef" not in rec:
            raise faults.required("CustomerRef")

    def _derive_name(self, co: Company, kind: EntityKind, rec: dict, creating: bool) -> None:
        field_ = kind.name_field
        name = rec.get(field_)
        if not name and field_ == "DisplayName":
            parts = [rec.get(k) for k in ("GivenName", "MiddleName", "FamilyName")]
            name = " ".join(p for p in parts if p) or rec.get("CompanyName")
        if not isinstance(name, str) or not name.strip():
            raise faults.required(field_)
        name = _strip_suffix(name.strip())
        rec.setdefault("Active", True)
        if rec["Active"]:
            self._check_unique(co, kind, name, rec["Id"])
        if creating and kind.name in ("Customer", "Vendor"):
            rec.setdefault("PrintOnCheckName", name)
        rec[field_] = name if rec["Active"] else name + DELETED_SUFFIX
        parent = rec.get("ParentRef", {}).get("value") if kind.name == "Customer" else None
        prefix = ""
        if parent:
            parent_rec = self.get(co, kind, parent)
            prefix = _strip_suffix(parent_rec.get("FullyQualifiedName", "")) + ":"
            rec["Job"], rec["Level"] = True, 1
        if kind.name not in ("Vendor", "Employee"):
            rec["FullyQualifiedName"] = prefix + rec[field_]

    def _check_unique(self, co: Company, kind: EntityKind, name: str, own_id: str) -> None:
        group = {
            k.name: k
            for k in KINDS.values()
            if k is kind or (kind.unique_group and k.unique_group == kind.unique_group)
        }
        folded = name.casefold()
        for kind_name, id_ in self._names(co).get(folded, set()):
            other = group.get(kind_name)
            rec = co.records[kind_name].get(id_) if other else None
            if rec is None or (other is kind and id_ == own_id):
                continue
            if rec.get("Active", True) and str(rec.get(other.name_field, "")).casefold() == folded:
                raise faults.duplicate_name(name)

    def _names(self, co: Company) -> dict[str, set[tuple[str, str]]]:
        if co.names is None:
            co.names = {}
            for kind in KINDS.values():
                for rec in co.records[kind.name].values() if kind.name_field else ():
                    self._rename(co, kind, None, rec)
        return co.names

    def _rename(self, co: Company, kind: EntityKind, old: dict | None, new: dict) -> None:
        """Keep the name index: the record's old name (if any) out, its new one in."""
        if co.names is None or not kind.name_field:
            return
        if old is not None and old.get(kind.name_field) is not None:
            co.names.get(str(old[kind.name_field]).casefold(), set()).discard(
                (kind.name, old["Id"])
            )
        if new.get(kind.name_field) is not None:
            key = str(new[kind.name_field]).casefold()
            co.names.setdefault(key, set()).add((kind.name, new["Id"]))

    def _check_refs(self, co: Company, value: Any) -> None:
        """Referenced customers, vendors and items must exist; their names are filled in."""
        if isinstance(value, list):
            for item in value:
                self._check_refs(co, item)
            return
        if not isinstance(value, dict):
            return
        for key, sub in value.items():
            target = CHECKED_REFS.get(key)
            if target and isinstance(sub, dict) and "value" in sub:
                found = co.records[target].get(str(sub["value"]))
                if found is None:
                    raise QboError(
                        400,
                        "2500",
                        "Invalid Reference Id",
                        f"Invalid Reference Id : {target} element id {sub['value']} not found",
                    )
                if not found.get("Active", True):
                    raise faults.not_found(target, sub["value"])
                sub["value"] = str(sub["value"])
                sub["name"] = found.get(KINDS[target].name_field)
            else:
                self._check_refs(co, sub)

    def _derive_sales(self, co: Company, kind: EntityKind, rec: dict) -> None:
        if not rec.get("DocNumber"):
            rec["DocNumber"] = str(co.next_doc_number)
            co.next_doc_number += 1
        lines = [
            dict(line) for line in _lines(rec) if line.get("DetailType") != "SubTotalLineDetail"
        ]
        total, number = 0.0, 0
        for line in lines:
            number += 1
            line.setdefault("Id", str(number))
            line.setdefault("LineNum", number)
            detail = line.get(line.get("DetailType", ""), {})
            if (
                "Amount" not in line
                and isinstance(detail, dict)
                and "Qty" in detail
                and "UnitPrice" in detail
            ):
                line["Amount"] = _money(
                    _money(detail["Qty"], "Qty") * _money(detail["UnitPrice"], "UnitPrice")
                )
            if line.get("DetailType") in AMOUNT_LINES:
                sign = -1 if line["DetailType"] == "DiscountLineDetail" else 1
                line["Amount"] = _money(line.get("Amount", 0))
                total += sign * line["Amount"]
        if lines:
            lines.append(
                {
                    "Amount": _money(total),
                    "DetailType": "SubTotalLineDetail",
                    "SubTotalLineDetail": {},
                }
            )
        rec["Line"] = lines
        if rec.get("PrivateNote") != "Voided":
            rec["TotalAmt"] = _money(total)
        if kind.name == "Invoice":
            rec.setdefault("DueDate", rec.get("TxnDate"))
            rec["Balance"] = rec["TotalAmt"]

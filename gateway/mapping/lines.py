"""Line items, both ways: Salesforce child records (OpportunityLineItem) ⇄ the QuickBooks
parent's `Line` array (`SalesItemLineDetail` lines). Pure functions, like the rest of mapping.

A line is linked through the child's external id, `<realm>-<parent id>-<line id>`, so no table
is needed: the Salesforce side carries the QuickBooks line id. Only QuickBooks lines of the
mapping's detail type are synced; subtotal and discount lines are left as they are. `Amount`
is Qty × UnitPrice unless a rule maps it. A parent without child records becomes one line of
the parent's amount, for the `default_item`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gateway.mapping import (
    MappingError,
    get_path,
    payload_hash,
    set_path,
    to_quickbooks,
    to_salesforce,
    value_key,
)

ITEMS_KEY = "_line_items"  # where the sync puts a parent record's child records
DEFAULT_ITEM_MAPPING = "default_item"  # resolved[(this, item name)] = QuickBooks Item id
SUBTOTAL = "SubTotalLineDetail"


def line_external_id(realm_id: str, parent_id: str, line_id: str) -> str:
    return f"{realm_id}-{parent_id}-{line_id}"


def parse_line_external_id(value: Any, realm_id: str) -> tuple[str, str] | None:
    """(parent id, line id) of one of this company's line external ids, else None."""
    prefix = f"{realm_id}-"
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    parent, _, line = value[len(prefix) :].partition("-")
    return (parent, line) if parent and line else None


class LineMapping:
    """The `lines:` section of one mapping, for one company."""

    def __init__(self, lines_spec: Mapping[str, Any], direction: str, realm_id: str) -> None:
        self.spec = lines_spec
        self.realm_id = realm_id
        self.sobject: str = lines_spec["salesforce"]
        self.parent_field: str = lines_spec["parent_field"]
        self.external_id: str = lines_spec["external_id"]
        self.detail_type: str = lines_spec.get("detail_type") or "SalesItemLineDetail"
        self.default_item: str | None = lines_spec.get("default_item")
        # the line rules as a mapping of their own, so the record functions apply unchanged
        self.rules = {"fields": list(lines_spec.get("fields", ())), "direction": direction}

    # -- reading both sides ---------------------------------------------------------------------

    def salesforce_fields(self) -> list[str]:
        names = {"Id", self.parent_field, self.external_id}
        names |= {rule["salesforce"] for rule in self.rules["fields"] if "salesforce" in rule}
        return sorted(names)

    def items_of(self, record: Mapping[str, Any]) -> list[dict]:
        return list(record.get(ITEMS_KEY) or [])

    def quickbooks_lines(self, record: Mapping[str, Any]) -> list[dict]:
        return [
            line
            for line in record.get("Line") or []
            if isinstance(line, dict) and line.get("DetailType") == self.detail_type
        ]

    def lines_for_salesforce(self, record: Mapping[str, Any]) -> list[dict]:
        """The item lines that stand for child records: all of them, except the one line of
        the default item that a parent without children was billed with (it stands for "no
        line items", so it does not come back as one)."""
        lines = self.quickbooks_lines(record)
        if len(lines) == 1 and self.default_item:
            item = get_path(lines[0], f"{self.detail_type}.ItemRef.name")
            if isinstance(item, str) and item.casefold() == self.default_item.casefold():
                return []
        return lines

    def default_item_key(self) -> tuple[str, str]:
        return (DEFAULT_ITEM_MAPPING, self.default_item or "")

    # -- Salesforce -> QuickBooks ---------------------------------------------------------------

    def to_quickbooks(
        self,
        record: Mapping[str, Any],
        parent_id: str | None,
        parent_amount: Any,
        resolved: Mapping[tuple[str, str], Any],
        field_types: Mapping[str, str] | None,
    ) -> list[dict]:
        """The Line array for a parent record, in its child records' order. A child already
        linked to a line of `parent_id` keeps that line's Id, so QuickBooks updates the line
        instead of replacing it."""
        lines = []
        for item in self.items_of(record):
            body = to_quickbooks(item, self.rules, resolved, field_types)
            line: dict[str, Any] = {"DetailType": self.detail_type, **body}
            line.setdefault(self.detail_type, {})
            linked = parse_line_external_id(item.get(self.external_id), self.realm_id)
            if linked and parent_id and linked[0] == parent_id:
                line["Id"] = linked[1]
            if line.get("Amount") is None:
                line["Amount"] = _amount(line[self.detail_type])
            lines.append(line)
        if lines:
            return lines
        if not self.default_item:
            raise MappingError(
                f"{self.sobject}: the record has no line items and the mapping names no "
                "default_item to bill its amount under"
            )
        item_id = resolved.get(self.default_item_key())
        if item_id is None:
            raise MappingError(
                f"default_item {self.default_item!r} is not an Item in this QuickBooks company"
            )
        amount = _number(parent_amount or 0)
        return [
            {
                "DetailType": self.detail_type,
                "Amount": amount,
                self.detail_type: {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": amount},
            }
        ]

    def keep_other_lines(self, lines: list[dict], current: Mapping[str, Any]) -> list[dict]:
        """The new item lines plus the current record's other lines (discounts and the like),
        which a Line array in an update would otherwise drop. QuickBooks adds the subtotal."""
        others = [
            line
            for line in current.get("Line") or []
            if isinstance(line, dict) and line.get("DetailType") not in (self.detail_type, SUBTOTAL)
        ]
        return lines + others

    def hashable(self, lines: list[dict]) -> list[str]:
        """The mapped content of item lines, in a canonical order, for the payload hash: the
        same for lines we are about to send and for the lines QuickBooks answers with."""
        projected = []
        for line in lines:
            if line.get("DetailType", self.detail_type) != self.detail_type:
                continue
            body: dict[str, Any] = {}
            for rule in self.rules["fields"]:
                if "quickbooks" not in rule:
                    continue
                value = get_path(line, rule["quickbooks"])
                if value is not None and value != "":
                    set_path(body, rule["quickbooks"], value)
            projected.append(payload_hash(body))
        return sorted(projected)

    def external_id_write_backs(
        self, record: Mapping[str, Any], written: Mapping[str, Any]
    ) -> list[dict]:
        """Salesforce updates that give each child record the external id of the line it
        became. QuickBooks answers with the lines in the order they were sent."""
        items = self.items_of(record)
        lines = self.quickbooks_lines(written)
        if len(items) != len(lines):
            return []  # the default-item line, or QuickBooks merged lines: nothing to link
        rows = []
        for item, line in zip(items, lines, strict=True):
            wanted = line_external_id(self.realm_id, written["Id"], str(line.get("Id")))
            if item.get(self.external_id) != wanted:
                rows.append(
                    {
                        "attributes": {"type": self.sobject},
                        "Id": item["Id"],
                        self.external_id: wanted,
                    }
                )
        return rows

    # -- QuickBooks -> Salesforce ---------------------------------------------------------------

    def to_salesforce(
        self,
        record: Mapping[str, Any],
        resolved: Mapping[tuple[str, str], Any],
        field_types: Mapping[str, str] | None,
    ) -> list[dict]:
        """Child record payloads for a QuickBooks parent's item lines, each with its external id
        (the parent lookup is added by the sync, which knows the Salesforce parent)."""
        rows = []
        for line in self.lines_for_salesforce(record):
            payload = to_salesforce(line, self.rules, resolved, field_types)
            payload[self.external_id] = line_external_id(
                self.realm_id, str(record["Id"]), str(line.get("Id"))
            )
            rows.append(payload)
        return rows


def _number(value: Any) -> int | float:
    number = Decimal(value_key(value))
    return int(number) if number == number.to_integral_value() else float(number)


def _amount(detail: Mapping[str, Any]) -> int | float | None:
    qty, price = detail.get("Qty"), detail.get("UnitPrice")
    if qty is None or price is None:
        return None
    total = (Decimal(value_key(qty)) * Decimal(value_key(price))).quantize(Decimal("0.01"))
    return _number(total)

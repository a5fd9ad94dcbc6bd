""" "Auto-map by name": field rules proposed for an empty mapping, for a person to review.

Pure: the QuickBooks catalogue and the Salesforce describe go in, rule dicts come out. A pair is
proposed when the names match ignoring case and punctuation (the whole path or its last part,
against the API name or the label), or when it is a well-known pair (DisplayName -> Name), and
only if its types can convert (gateway.mapping_check.puts_wrong_kind).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from . import qbo_fields
from .mapping import BOTH, QUICKBOOKS_TO_SALESFORCE
from .mapping_check import puts_wrong_kind

# Pairs people expect that no name rule finds; the first one that exists wins.
KNOWN_PAIRS = (
    ("DisplayName", "Name"),
    ("Name", "Name"),
    ("PrimaryEmailAddr.Address", "Email"),
    ("PrimaryEmailAddr.Address", "Email__c"),
    ("PrimaryPhone.FreeFormNumber", "Phone"),
    ("Fax.FreeFormNumber", "Fax"),
    ("WebAddr.URI", "Website"),
    ("Notes", "Description"),
    ("Sku", "ProductCode"),
    ("Active", "IsActive"),
    ("TxnDate", "CloseDate"),
    ("TotalAmt", "Amount"),
    ("Balance", "QBO_Balance__c"),
    *(
        (f"{qbo}.{part}", f"{sf}{field}")
        for qbo, sf in (("BillAddr", "Billing"), ("ShipAddr", "Shipping"))
        for part, field in (
            ("Line1", "Street"),
            ("City", "City"),
            ("CountrySubDivisionCode", "State"),
            ("PostalCode", "PostalCode"),
            ("Country", "Country"),
        )
    ),
)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().removesuffix("__c"))


def _writable(field: Mapping) -> bool:
    return bool(field.get("createable") or field.get("updateable")) and field["type"] != "reference"


def auto_map(
    entity: str, sf_fields: Mapping[str, dict], external_id: str, direction: str = BOTH
) -> list[dict]:
    """Proposed field rules for a mapping flowing ``direction``, each QuickBooks field and
    Salesforce field used at most once."""
    catalogue = {f.path: f for f in qbo_fields.fields_of(entity) if f.kind != qbo_fields.LINES}
    targets = {
        name: field for name, field in sf_fields.items() if name != external_id and _writable(field)
    }
    pairs: list[tuple[str, str]] = [
        (qbo, sf) for qbo, sf in KNOWN_PAIRS if qbo in catalogue and sf in targets
    ]
    by_key: dict[str, str] = {}
    for name, field in targets.items():
        by_key.setdefault(_key(name), name)
        by_key.setdefault(_key(field.get("label") or name), name)
    for path in catalogue:
        for candidate in (path, path.rsplit(".", 1)[-1]):
            if _key(candidate) in by_key:
                pairs.append((path, by_key[_key(candidate)]))
                break
    rules: list[dict] = []
    used_qbo: set[str] = set()
    used_sf: set[str] = set()
    for qbo, sf in pairs:
        if qbo in used_qbo or sf in used_sf:
            continue
        source = catalogue[qbo]
        described = qbo_fields.catalogue(entity, qbo)
        if described is None or puts_wrong_kind(described.type, targets[sf]["type"]):
            continue
        rule = {"quickbooks": qbo, "salesforce": sf}
        if source.read_only:  # QuickBooks computes it: it can only flow out
            if direction == BOTH:
                rule["direction"] = QUICKBOOKS_TO_SALESFORCE
            elif direction != QUICKBOOKS_TO_SALESFORCE:
                continue
        rules.append(rule)
        used_qbo.add(qbo)
        used_sf.add(sf)
    return rules

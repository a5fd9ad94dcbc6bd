"""Salesforce -> QuickBooks: read the changed records, map them, write them, link them.

One run handles the claimed events of one (company, Salesforce object): one SOQL query reads
every changed record (and one more its line items), referenced records (an Opportunity's
Account, a line's Product2) are written first, creates and sparse updates go out in QuickBooks
batches of 30, and the company-qualified QuickBooks ids go back to Salesforce in one
collection call. Each event ends synced, skipped (with why) or failed (with the API's error).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from simple_salesforce.format import format_soql

from .. import inbox, mapping, realtime
from ..connectors.quickbooks import QuickBooksError, quote
from ..connectors.quickbooks_writes import (
    DuplicateName,
    KeptQuickBooks,
    QuickBooksWrites,
    StaleObject,
    Write,
)
from ..extensions import db
from ..mapping import SALESFORCE_TO_QUICKBOOKS as DIRECTION
from ..mapping.lines import LineMapping
from ..mapping.projection import (
    pruned,
    quickbooks_content_hash,
    recorded_quickbooks_hash,
)
from ..models import Company, Event, EventStatus, ObjectMapping, RecordLink
from ..qbo_entities import NAME_LIST_ENTITIES
from . import check_lock_held, links, references
from .conflicts import conflict_reason, parse_time, quickbooks_updated_at
from .in_step import QuickBooksInStep
from .lines import MAX_IDS_PER_QUERY, attach_line_items, line_mapping, records_by_ids
from .outcomes import Outcome, connect, finish
from .policy import delete_policy
from .quickbooks_duplicates import DuplicateNames
from .quickbooks_match import QuickBooksMatching
from .quickbooks_removals import QuickBooksRemovals
from .salesforce_write_back import SalesforceWriteBack

log = logging.getLogger(__name__)


@dataclass
class Planned:
    """One record ready to be written to QuickBooks."""

    record: dict  # the Salesforce record as read
    payload: dict  # the QuickBooks body (without Id/SyncToken)
    digest: str
    link: RecordLink | None  # None for a create
    quickbooks_id: str | None
    current: dict | None = None  # the QuickBooks record as matching or _drop_in_step read it


class SalesforceToQuickBooks(
    QuickBooksMatching, QuickBooksInStep, DuplicateNames, SalesforceWriteBack, QuickBooksRemovals
):
    def __init__(self, company_id: int, sobject: str, events: list[Event]):
        self.company = db.session.get(Company, company_id)
        self.sobject = sobject
        self.events = events
        self.outcomes: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
        self.link_writes = links.LinkWrites()
        self.mapping_ids: dict[str, int] = {}
        self.line_parents: dict[str, tuple[str, str]] = {}  # line item id -> its parent's key
        # what was read and written per (Salesforce object, id), for the sync log's attempts
        self.attempt_details: dict[tuple[str, str], dict] = defaultdict(dict)

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> None:
        enabled = realtime.enabled_mappings(self.company, DIRECTION, self.sobject)
        mappings = [m for m in enabled if m.salesforce_object == self.sobject]
        # mappings whose line items are this object: a changed line item is a changed parent
        line_owners = [m for m in enabled if m.salesforce_object != self.sobject]
        if not enabled:
            for event in self.events:
                inbox.finish(event, EventStatus.SKIPPED, f"real time is off for {self.sobject}")
            db.session.commit()
            return
        self._connect()
        for spec_row in mappings:
            # A callout naming a QuickBooks type (a QBO_Sync__c record) is for that mapping only.
            events = [e for e in self.events if e.target_type in (None, spec_row.quickbooks_type)]
            upsert_ids, removals = self._plan(events)
            records = self._read(spec_row, sorted(upsert_ids))
            found = {record["Id"] for record in records}
            gone = {sf_id: "not found in Salesforce (deleted)" for sf_id in upsert_ids - found}
            self.push(spec_row, records, depth=0)
            self.remove(spec_row, {**removals, **gone})
            db.session.commit()
        for spec_row in line_owners:
            self._push_parents_of_lines(spec_row)
            db.session.commit()
        check_lock_held()
        self._finish_events()
        db.session.commit()

    def _connect(self) -> None:
        self.qbo, self.sf = connect(self.company)
        self.writes = QuickBooksWrites(self.qbo)

    def _push_parents_of_lines(self, spec_row: ObjectMapping) -> None:
        lines = self._lines(spec_row.spec)
        ids = sorted({event.record_id for event in self.events})
        parent_of: dict[str, str] = {}
        for start in range(0, len(ids), MAX_IDS_PER_QUERY):
            # Names come from a validated mapping; ids went through format_soql. Deleted line
            # items are included: their parent lost a line.
            soql = format_soql(
                f"SELECT Id, {lines.parent_field} FROM {lines.sobject} WHERE Id IN {{}}",  # noqa: S608
                ids[start : start + MAX_IDS_PER_QUERY],
            )
            for row in self.sf.query_all(soql, include_deleted=True):
                parent_of[row["Id"]] = row[lines.parent_field]
        records = self._read(spec_row, sorted(set(parent_of.values())))
        self.push(spec_row, records, depth=0)
        for line_id, parent_id in parent_of.items():
            self.line_parents[line_id] = (spec_row.spec["salesforce"], parent_id)

    @staticmethod
    def _plan(events: list[Event]) -> tuple[set[str], dict[str, str]]:
        upsert_ids: set[str] = set()
        removals: dict[str, str] = {}
        for event in events:
            if event.operation == "delete":
                removals[event.record_id] = "deleted in Salesforce"
            else:  # upsert, and undelete: the record is back and written again
                upsert_ids.add(event.record_id)
                removals.pop(event.record_id, None)
        return upsert_ids - removals.keys(), removals

    # -- reading Salesforce ---------------------------------------------------------------------

    def _read(self, spec_row: ObjectMapping, ids: list[str]) -> list[dict]:
        """The records with every mapped field, in one query per few hundred ids."""
        if not ids:
            return []
        spec = spec_row.spec
        records = records_by_ids(self.sf, spec["salesforce"], self._fields(spec), ids)
        return self._with_lines(spec, records)

    @staticmethod
    def _fields(spec: dict) -> str:
        """The SOQL field list a record is synced from."""
        fields = {"Id", "SystemModstamp", spec["external_id"]}
        fields |= {rule["salesforce"] for rule in spec["fields"] if "salesforce" in rule}
        _, flag_field = delete_policy(spec)
        if flag_field:
            fields.add(flag_field)
        return ", ".join(sorted(fields))

    def _with_lines(self, spec: dict, records: list[dict]) -> list[dict]:
        lines = self._lines(spec)
        if lines is not None and records:
            attach_line_items(self.sf, lines, records)
        return records

    # -- creates and updates --------------------------------------------------------------------

    def push(self, spec_row: ObjectMapping, records: list[dict], depth: int) -> None:
        if not records:
            return
        spec = spec_row.spec
        entity = spec["quickbooks"]
        self.mapping_ids[spec["name"]] = spec_row.id
        field_types = self.sf.field_types(spec["salesforce"])
        existing = links.find_by_salesforce(
            spec_row.id, self.company.id, (r["Id"] for r in records)
        )
        resolved = self._resolve_references(spec, records, depth)
        lines = self._lines(spec)
        line_types = None
        if lines is not None:
            resolved.update(self._line_references(lines, records, depth))
            line_types = self.sf.field_types(lines.sobject)
        planned: list[Planned] = []
        for record in records:
            sf_id = record["Id"]
            link = existing.get(sf_id)
            qbo_id = link.quickbooks_id if link is not None else self._our_external_id(spec, record)
            detail = self.attempt_details[(spec["salesforce"], sf_id)]
            detail.update(source=record, target_object=entity, target_id=qbo_id)
            try:
                payload = mapping.to_quickbooks(record, spec, resolved, field_types)
                if lines is not None:
                    payload["Line"] = lines.to_quickbooks(
                        record,
                        qbo_id,
                        self._parent_amount(spec, record),
                        resolved,
                        line_types,
                    )
            except mapping.UnresolvedReference as exc:
                self._outcome(
                    spec, sf_id, EventStatus.FAILED, f"parent not synced yet: {exc}", True
                )
                continue
            except mapping.MappingError as exc:
                self._outcome(spec, sf_id, EventStatus.FAILED, str(exc))
                continue
            digest = quickbooks_content_hash(payload, lines)
            if link is not None and link.quickbooks_hash == digest and not link.deleted:
                self._outcome(spec, sf_id, EventStatus.SKIPPED, "unchanged")
                continue
            if link is not None and link.deleted and entity not in NAME_LIST_ENTITIES:
                qbo_id = None  # a deleted transaction is gone for good: the undelete recreates it
            if link is not None and link.deleted and entity in NAME_LIST_ENTITIES:
                payload["Active"] = True
            planned.append(Planned(record, payload, digest, link, qbo_id))
        planned = self._drop_in_step(spec_row, planned, lines, resolved, field_types)
        with self._adopting(spec_row, planned):
            planned = self._match_unlinked(spec_row, planned)
            self._write(spec_row, planned, resolved, field_types, lines)

    def _our_external_id(self, spec: dict, record: dict) -> str | None:
        """A record carrying our external id for this company was linked before (the other
        direction wrote it); its QuickBooks id is the part after the realm id."""
        value = record.get(spec["external_id"]) or ""
        prefix = f"{self.company.realm_id}-"
        return value[len(prefix) :] if value.startswith(prefix) else None

    @staticmethod
    def _parent_amount(spec: dict, record: dict):
        """The Salesforce amount a parent without line items is billed for."""
        for rule in spec["fields"]:
            if rule.get("quickbooks") == "TotalAmt" and "salesforce" in rule:
                return record.get(rule["salesforce"])
        return record.get("Amount")

    def _write(
        self,
        spec_row: ObjectMapping,
        planned: list[Planned],
        resolved: dict,
        field_types: dict,
        lines: LineMapping | None,
    ) -> None:
        spec = spec_row.spec
        entity = spec["quickbooks"]
        if not planned:
            self.link_writes.flush()  # the hashes of records found in step
            return
        current = self._current_versions(entity, planned, lines)
        writes: list[tuple[Planned, Write]] = []
        for plan in planned:
            sf_id = plan.record["Id"]
            if plan.quickbooks_id in current and current[plan.quickbooks_id] is None:
                plan.quickbooks_id = None  # gone from QuickBooks (deleted there): write it anew
                if lines is not None:
                    plan.payload["Line"] = [
                        {k: v for k, v in line.items() if k != "Id"}
                        for line in plan.payload["Line"]
                    ]
            if plan.quickbooks_id is None:
                key = f"{entity}:{sf_id}:{plan.digest}"
                # A new record has nothing to clear: empty values are left out.
                writes.append((plan, Write(entity, "create", key, pruned(plan.payload))))
                self.attempt_details[(spec["salesforce"], sf_id)].update(
                    written=writes[-1][1].body, target_id=None
                )
                continue
            now = current.get(plan.quickbooks_id)
            token = now["SyncToken"] if now else plan.link.quickbooks_sync_token
            if now is not None and not self._salesforce_is_later(spec, plan, now):
                continue
            if now is not None and lines is not None:
                plan.payload["Line"] = lines.keep_other_lines(plan.payload["Line"], now)
            key = f"{entity}:{plan.quickbooks_id}:{plan.digest}:{token}"
            writes.append(
                (plan, Write(entity, "update", key, plan.payload, plan.quickbooks_id, token))
            )
            self.attempt_details[(spec["salesforce"], sf_id)]["written"] = plan.payload
        check_lock_held()
        if len(writes) == 1:
            results = [self._single(writes[0][1])]
        else:
            results = self.writes.batch([write for _, write in writes]) if writes else []
        write_backs: list[tuple[Planned, dict, dict]] = []
        for (plan, write), result in zip(writes, results, strict=True):
            sf_id = plan.record["Id"]
            if isinstance(result, StaleObject) and write.record_id:
                result = self._update_after_stale(spec, plan, write)
            elif isinstance(result, DuplicateName):
                result = self._adopt_duplicate(spec, plan, result)
            detail = self.attempt_details[(spec["salesforce"], sf_id)]
            if isinstance(result, KeptQuickBooks):
                detail.pop("written")  # QuickBooks' later edit stands: nothing was written
                continue
            if isinstance(result, QuickBooksError):
                detail["error"] = result
                self._outcome(spec, sf_id, EventStatus.FAILED, str(result), result.retryable)
                continue
            detail["target_id"] = result["Id"]
            how = "created" if write.operation == "create" else "updated"
            if result.pop("_adopted", False) or (plan.link is None and plan.quickbooks_id):
                how = "linked and updated"
            write_backs.append((plan, result, {"how": how}))
        self._write_back(spec_row, write_backs, resolved, field_types)
        self.link_writes.flush()  # the hashes of records found in step, if nothing was written

    def _single(self, write: Write) -> dict | QuickBooksError:
        try:
            if write.operation == "create":
                return self.writes.create(write.entity, write.body, write.key)
            return self.writes.update(
                write.entity, write.record_id, write.sync_token, write.body, write.key
            )
        except QuickBooksError as exc:
            if exc.retryable and not isinstance(exc, StaleObject):
                raise  # 5xx, timeouts: the whole run is retried
            return exc

    def _current_versions(
        self, entity: str, planned: list[Planned], lines: LineMapping | None
    ) -> dict[str, dict | None]:
        """QuickBooks records that must be read before the update: those whose SyncToken we
        never saw, and invoices whose other lines (discounts) must be kept. One query."""
        known = {p.quickbooks_id: p.current for p in planned if p.current is not None}
        needed = [
            p.quickbooks_id
            for p in planned
            if p.quickbooks_id
            and p.quickbooks_id not in known
            and (lines is not None or p.link is None or not p.link.quickbooks_sync_token)
        ]
        if not needed:
            return known
        found = {r["Id"]: r for r in self.qbo.query_by_ids(entity, sorted(set(needed)))}
        return {**known, **{qbo_id: found.get(qbo_id) for qbo_id in needed}}

    def _salesforce_is_later(self, spec: dict, plan: Planned, current: dict) -> bool:
        """Both sides changed since we last synced: the later edit wins, by each platform's own
        clock (QuickBooks' MetaData.LastUpdatedTime, Salesforce's SystemModstamp)."""
        link = plan.link
        if link is None or not link.quickbooks_hash:
            return True
        if recorded_quickbooks_hash(current, spec, self._lines(spec)) == link.quickbooks_hash:
            return True  # QuickBooks holds what we last synced: only Salesforce changed
        qbo_time = quickbooks_updated_at(current)
        sf_time = parse_time(plan.record.get("SystemModstamp"))
        if qbo_time is None or sf_time is None or sf_time >= qbo_time:
            return True
        reason = conflict_reason("QuickBooks", qbo_time, "Salesforce", sf_time)
        self._outcome(spec, plan.record["Id"], EventStatus.SKIPPED, reason)
        return False

    def _lines(self, spec: dict) -> LineMapping | None:
        return line_mapping(spec, self.company.realm_id)

    def _update_after_stale(
        self, spec: dict, plan: Planned, write: Write
    ) -> dict | QuickBooksError | KeptQuickBooks:
        """5010: someone changed the record since we saw it; re-read, decide, write again."""

        def go_ahead(current: dict) -> bool:
            return self._salesforce_is_later(spec, plan, current)

        check_lock_held()
        try:
            return self.writes.update(
                write.entity, write.record_id, None, write.body, write.key, go_ahead
            )
        except KeptQuickBooks as kept:
            return kept
        except QuickBooksError as exc:
            return exc

    # -- references -----------------------------------------------------------------------------

    def _resolve_references(self, spec: dict, records: list[dict], depth: int) -> dict:
        """QuickBooks ids for every lookup; a parent not linked yet is written first."""
        needed = references.needed_references(records, spec, DIRECTION)
        return references.resolve(needed, depth, self._linked, self._sync_parents)

    def _line_references(self, lines: LineMapping, records: list[dict], depth: int) -> dict:
        items = [item for record in records for item in lines.items_of(record)]
        needed = references.needed_references(items, lines.rules, DIRECTION)
        resolved = references.resolve(needed, depth, self._linked, self._sync_parents)
        if lines.default_item and any(not lines.items_of(r) for r in records):
            item_id = self._default_item_id(lines.default_item)
            if item_id:
                resolved[lines.default_item_key()] = item_id
        return resolved

    def _sync_parents(self, parent: ObjectMapping, ids: list[str], depth: int) -> bool:
        """A parent is written only as its own mapping allows: flowing to QuickBooks, for
        this company."""
        if parent.direction not in ("both", DIRECTION):
            return False
        if not realtime.applies_to(parent, self.company):
            return False
        self.push(parent, self._read(parent, ids), depth)
        return True

    def _linked(self, parent: ObjectMapping, ids: set[str]) -> dict[str, str]:
        found = links.find_by_salesforce(parent.id, self.company.id, ids)
        return {
            sf_id: link.merged_into or link.quickbooks_id
            for sf_id, link in found.items()
            if not link.deleted or link.merged_into
        }

    def _default_item_id(self, name: str) -> str | None:
        # The entity is fixed and the name went through quote().
        statement = f"SELECT * FROM Item WHERE Name = {quote(name)} MAXRESULTS 1"  # noqa: S608
        items = self.qbo.query(statement).get("QueryResponse", {}).get("Item", [])
        return items[0]["Id"] if items else None

    # -- outcomes -------------------------------------------------------------------------------

    def _outcome(
        self, spec: dict, sf_id: str, status: str, reason: str, retryable: bool = False
    ) -> None:
        self.outcomes[(spec["salesforce"], sf_id)].append(Outcome(status, reason, retryable))

    def _finish_events(self) -> None:
        for event in self.events:
            key = self.line_parents.get(event.record_id, (self.sobject, event.record_id))
            finish(event, self.outcomes.get(key, []), self.attempt_details.get(key))

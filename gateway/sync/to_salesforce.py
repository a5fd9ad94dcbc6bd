"""QuickBooks -> Salesforce: read the changed records, map them, upsert them, link them.

One run handles the claimed events of one (company, QuickBooks entity): one query reads every
changed record, sObject Collections write up to 200 records a call, and each event ends synced,
skipped (with why) or failed (with the API's error).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from .. import inbox, mapping, realtime
from ..batch import review
from ..connectors.salesforce import SalesforceCallError, record_error
from ..extensions import db
from ..mapping.projection import recorded_quickbooks_hash, salesforce_content_hash
from ..models import CREATE_NEW, Company, Event, EventStatus, ObjectMapping
from . import check_lock_held, links
from .adoption import adoption_lock
from .conflicts import conflict_reason, quickbooks_updated_at, waiting_salesforce_edits
from .in_step import salesforce_in_step, salesforce_now
from .lines import line_mapping
from .outcomes import Outcome, ambiguous, connect, finish
from .parents import DIRECTION, ParentSync
from .policy import delete_policy
from .salesforce_lines import SalesforceLineWrites
from .salesforce_match import find_matches

log = logging.getLogger(__name__)


@dataclass
class Pending:
    """The records one mapping still has to write, and what each write means."""

    upserts: list[tuple[str, dict, str]] = field(default_factory=list)  # qbo id, payload, hash
    adoptions: list[tuple[str, dict, str, str]] = field(default_factory=list)  # + sf id


def external_id(realm_id: str, quickbooks_id: str) -> str:
    return f"{realm_id}-{quickbooks_id}"


class QuickBooksToSalesforce(ParentSync):
    def __init__(self, company_id: int, entity: str, events: list[Event]):
        self.company = db.session.get(Company, company_id)
        self.entity = entity
        self.events = events
        # outcomes per (QuickBooks entity, id), one entry per mapping that handled the record;
        # parents synced along the way have their own entity, so ids never collide
        self.outcomes: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
        self.link_writes = links.LinkWrites()
        self.merged_into: dict[str, str] = {}  # merged-away QuickBooks id -> survivor's id
        self.written: dict[tuple[int, str], str] = {}
        self.parent_problems: dict[tuple[str, str], Outcome] = {}
        # (mapping id, QuickBooks id) of inactive parents written flagged as deleted
        self.written_flagged: set[tuple[int, str]] = set()
        # per (entity, id): SyncToken and content hash of the version read, kept on the link
        self.quickbooks_state: dict[tuple[str, str], dict] = {}
        # what was read and written per (QuickBooks entity, id), for the sync log's attempts
        self.attempt_details: dict[tuple[str, str], dict] = defaultdict(dict)

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> None:
        mappings = realtime.enabled_mappings(self.company, DIRECTION, self.entity)
        if not mappings:
            self._finish_all(Outcome(EventStatus.SKIPPED, f"real time is off for {self.entity}"))
            return
        self._connect()
        upsert_ids, removals = self._plan()
        records = self.qbo.query_by_ids(self.entity, sorted(upsert_ids)) if upsert_ids else []
        found = {record["Id"]: record for record in records}
        for missing in sorted(upsert_ids - found.keys()):
            removals.setdefault(missing, "not found in QuickBooks")
        active = [r for r in found.values() if r.get("Active", True) is not False]
        inactive = {r["Id"]: "made inactive" for r in found.values() if r.get("Active") is False}
        for spec_row in mappings:
            self.push(spec_row, active, depth=0)
            self.remove(spec_row, {**removals, **inactive})
            db.session.commit()
        check_lock_held()
        self._finish_events()
        db.session.commit()

    def _connect(self) -> None:
        self.qbo, self.sf = connect(self.company)

    def _plan(self) -> tuple[set[str], dict[str, str]]:
        """Which records to read and upsert, and which to apply the delete policy to."""
        upsert_ids: set[str] = set()
        removals: dict[str, str] = {}
        for event in self.events:
            if event.operation == "delete":
                removals[event.record_id] = "deleted in QuickBooks"
            elif event.operation == "void":
                removals[event.record_id] = "voided in QuickBooks"
            else:
                upsert_ids.add(event.record_id)
            if event.operation == "merge" and event.deleted_id:
                removals[event.deleted_id] = f"merged into {event.record_id}"
                self.merged_into[event.deleted_id] = event.record_id
        # A record deleted in this batch is not read back, even if it was also edited.
        return upsert_ids - removals.keys(), removals

    # -- upserts --------------------------------------------------------------------------------

    def push(self, spec_row: ObjectMapping, records: list[dict], depth: int) -> None:
        """Map and write these records for one mapping, syncing missing parents first."""
        if not records:
            return
        spec = spec_row.spec
        field_types = self.sf.field_types(spec["salesforce"])
        existing = links.find(spec_row.id, self.company.id, (r["Id"] for r in records))
        resolved = self._resolve_references(spec, records, depth)
        lines = line_mapping(spec, self.company.realm_id)
        if lines is not None:
            line_writes = SalesforceLineWrites(self.sf, lines)
            line_types = self.sf.field_types(lines.sobject)
            qbo_lines = [line for r in records for line in lines.lines_for_salesforce(r)]
            resolved.update(self._resolve_references(lines.rules, qbo_lines, depth))
        policy, flag_field = delete_policy(spec)
        pending = Pending()
        unlinked: list[tuple[dict, dict, str]] = []
        waiting = self._later_salesforce_edits(existing, records)
        salesforce = salesforce_now(self.sf, spec, existing, lines)
        for record in records:
            qbo_id = record["Id"]
            detail = self.attempt_details[(spec["quickbooks"], qbo_id)]
            detail.update(source=record, target_object=spec["salesforce"])
            try:
                payload = mapping.to_salesforce(
                    mapping.clean_quickbooks_record(record), spec, resolved, field_types
                )
                line_rows = lines.to_salesforce(record, resolved, line_types) if lines else None
            except mapping.UnresolvedReference as exc:
                self._outcomes(spec, qbo_id).append(self._unresolved(exc))
                continue
            except mapping.MappingError as exc:
                self._outcomes(spec, qbo_id).append(Outcome(EventStatus.FAILED, str(exc)))
                continue
            # Only a parent synced as a dependency arrives here inactive (a run's own inactive
            # records go to remove()): it is written with its delete policy applied.
            inactive = record.get("Active") is False
            if inactive and policy == "delete":
                self._parent_problem(
                    spec_row,
                    qbo_id,
                    f"is inactive in QuickBooks and mapping '{spec_row.name}' deletes inactive "
                    "records",
                    retryable=False,
                )
                continue
            if flag_field:
                # a reactivated record loses its deleted flag; an inactive parent gets it
                payload[flag_field] = inactive
                if inactive:
                    self.written_flagged.add((spec_row.id, qbo_id))
            detail["written"] = payload
            digest = salesforce_content_hash(payload, line_rows)
            link = existing.get(qbo_id)
            state = self._quickbooks_state(spec, record)
            self.quickbooks_state[(spec["quickbooks"], qbo_id)] = state
            # The hash covers the delete flag, so an inactive parent written flagged before
            # is unchanged too (links the delete policy applied to have no hash).
            now = salesforce.get(link.salesforce_id) if link else None
            ext_id = external_id(self.company.realm_id, qbo_id)
            if (
                link
                and link.salesforce_id
                and (
                    link.salesforce_hash == digest
                    or salesforce_in_step(now, payload, spec["external_id"], ext_id)
                )
            ):
                self.written[(spec_row.id, qbo_id)] = link.salesforce_id
                self._outcomes(spec, qbo_id).append(
                    Outcome(EventStatus.SKIPPED, "unchanged", kind="unchanged")
                )
                self._keep_quickbooks_state(spec_row, link, {**state, "salesforce_hash": digest})
                continue
            if link and link.salesforce_id and qbo_id in waiting:
                qbo_time, sf_time = quickbooks_updated_at(record), waiting[qbo_id]
                reason = conflict_reason("Salesforce", sf_time, "QuickBooks", qbo_time)
                self._outcomes(spec, qbo_id).append(Outcome(EventStatus.SKIPPED, reason))
                self._keep_quickbooks_state(spec_row, link, state)
                continue
            if line_rows is not None:
                line_writes.add(qbo_id, line_rows)
            if link is None and spec.get("match"):
                unlinked.append((record, payload, digest))
            else:
                pending.upserts.append((qbo_id, payload, digest))
        if not unlinked:
            self._write(spec_row, pending)
        else:
            # One job at a time matches and adopts records of this Salesforce object: the next
            # one's match query then sees the external id the adoption wrote (a record carrying
            # one is never a candidate), so two jobs never adopt the same record.
            with adoption_lock(f"adopt:{self.sf.org_id}:{spec['salesforce']}", spec["salesforce"]):
                self._match(spec_row, unlinked, pending)
                self._write(spec_row, pending)
        if lines is not None:
            self._write_lines(spec_row, line_writes)

    def _write_lines(self, spec_row: ObjectMapping, line_writes: SalesforceLineWrites) -> None:
        """The written parents' line items, in as few calls as the batch allows. A parent whose
        lines failed fails, and is written in full on the retry."""
        spec = spec_row.spec
        written = {
            qbo_id: sf_id
            for (mapping_id, qbo_id), sf_id in self.written.items()
            if mapping_id == spec_row.id
        }
        check_lock_held()
        for qbo_id, reason in line_writes.write(written).items():
            self._outcomes(spec, qbo_id).append(Outcome(EventStatus.FAILED, reason, True))
            self.link_writes.save(spec_row.id, self.company.id, qbo_id, salesforce_hash=None)
        self.link_writes.flush()

    def _quickbooks_state(self, spec: dict, record: dict) -> dict:
        """What a Salesforce -> QuickBooks write needs to know of this QuickBooks version: its
        SyncToken (no read before the update) and the hash of what it holds of the mapping
        (the echo of our Salesforce write maps to the same, so nothing goes back)."""
        state = {"quickbooks_sync_token": record.get("SyncToken")}
        if spec.get("direction") == "both":
            lines = line_mapping(spec, self.company.realm_id)
            state["quickbooks_hash"] = recorded_quickbooks_hash(record, spec, lines)
        return state

    def _keep_quickbooks_state(self, spec_row: ObjectMapping, link, state: dict) -> None:
        if link.quickbooks_hash is None:
            # Salesforce -> QuickBooks compares a link without one in full (in_step), which
            # also sees a write-back to Salesforce still owed: filling it in here would hide it.
            state = {name: value for name, value in state.items() if name != "quickbooks_hash"}
        if any(getattr(link, name) != value for name, value in state.items()):
            self.link_writes.save(spec_row.id, self.company.id, link.quickbooks_id, **state)

    def _later_salesforce_edits(self, existing: dict, records: list[dict]) -> dict[str, object]:
        """QuickBooks id -> the time of a Salesforce edit of the same record that is later
        than this QuickBooks version and still waiting to be synced."""
        by_salesforce = {lk.salesforce_id: q for q, lk in existing.items() if lk.salesforce_id}
        waiting = waiting_salesforce_edits(self.company.id, by_salesforce)
        versions = {record["Id"]: quickbooks_updated_at(record) for record in records}
        later = {}
        for sf_id, sf_time in waiting.items():
            qbo_id = by_salesforce[sf_id]
            qbo_time = versions.get(qbo_id)
            if qbo_time is not None and sf_time > qbo_time:
                later[qbo_id] = sf_time
        return later

    def _match(self, spec_row: ObjectMapping, unlinked: list, pending: Pending) -> None:
        """Before creating, look for the record a person already made in Salesforce.

        A Salesforce record stands for one QuickBooks record: one already linked, or adopted by
        an earlier record of this batch, is never adopted again (two customers sharing an
        email are common on a first sync). Such a record waits for a person instead.
        """
        spec = spec_row.spec
        realm = self.company.realm_id
        wanted = [
            (
                record["Id"],
                external_id(realm, record["Id"]),
                mapping.match_criteria(record, spec, DIRECTION),
            )
            for record, _, _ in unlinked
        ]
        matches = find_matches(self.sf, spec["salesforce"], spec["external_id"], wanted)
        linked = links.linked_to(
            spec_row.id, self.company.id, (ids[0] for ids in matches.values() if len(ids) == 1)
        )
        adopted: dict[str, str] = {}  # Salesforce id -> the QuickBooks id adopting it now
        # What a person decided on the review list stands over what matching finds.
        decisions = review.decisions(
            spec_row.id, self.company.id, [record["Id"] for record, _, _ in unlinked]
        )
        for record, payload, digest in unlinked:
            qbo_id = record["Id"]
            found = matches.get(qbo_id, [])
            decision = decisions.get(qbo_id)
            if decision == CREATE_NEW:
                pending.upserts.append((qbo_id, payload, digest))
            elif decision:
                adopted[decision] = qbo_id
                pending.adoptions.append((qbo_id, payload, digest, decision))
            elif len(found) > 1:
                self._review(
                    spec_row,
                    qbo_id,
                    f"{len(found)} {spec['salesforce']} records match ({', '.join(found)})",
                    found,
                )
            elif found and (found[0] in linked or found[0] in adopted):
                sf_id = found[0]
                other, how = (
                    (linked[sf_id], "is linked to it")
                    if sf_id in linked
                    else (adopted[sf_id], "adopted it first")
                )
                self._review(
                    spec_row,
                    qbo_id,
                    f"{spec['salesforce']} {sf_id} matches {spec['quickbooks']} {qbo_id} but "
                    f"{spec['quickbooks']} {other} {how}",
                    [sf_id],
                )
            elif found:
                adopted[found[0]] = qbo_id
                pending.adoptions.append((qbo_id, payload, digest, found[0]))
            else:
                pending.upserts.append((qbo_id, payload, digest))

    def _review(
        self, spec_row: ObjectMapping, qbo_id: str, why: str, candidates: list[str]
    ) -> None:
        self._outcomes(spec_row.spec, qbo_id).append(ambiguous(why))
        self.needs_review(spec_row, qbo_id, why, candidates)

    def needs_review(
        self, spec_row: ObjectMapping, qbo_id: str, why: str, candidates: list[str]
    ) -> None:
        """Put the record on the review list, where a person picks its Salesforce record."""
        review.flag(spec_row.id, self.company.id, qbo_id, why, candidates)

    def _write(self, spec_row: ObjectMapping, pending: Pending) -> None:
        spec = spec_row.spec
        sobject, ext_field = spec["salesforce"], spec["external_id"]
        realm = self.company.realm_id
        results: list[tuple[str, str, dict]] = []  # qbo id, hash, result
        check_lock_held()
        if len(pending.upserts) == 1 and not pending.adoptions:
            qbo_id, payload, digest = pending.upserts[0]
            try:
                result = self.sf.upsert_one(sobject, ext_field, external_id(realm, qbo_id), payload)
            except SalesforceCallError as exc:
                result = {"success": False, "errors": [], "_error": exc}
            results.append((qbo_id, digest, result))
        elif pending.upserts:
            rows = [
                {**payload, ext_field: external_id(realm, qbo_id)}
                for qbo_id, payload, _ in pending.upserts
            ]
            for (qbo_id, _, digest), result in zip(
                pending.upserts, self.sf.upsert_many(sobject, ext_field, rows), strict=True
            ):
                results.append((qbo_id, digest, result))
        if pending.adoptions:
            check_lock_held()
            rows = [
                {"Id": sf_id, **payload, ext_field: external_id(realm, qbo_id)}
                for qbo_id, payload, _, sf_id in pending.adoptions
            ]
            for (qbo_id, _, digest, sf_id), result in zip(
                pending.adoptions, self.sf.update_many(sobject, rows), strict=True
            ):
                results.append((qbo_id, digest, {"id": sf_id, **result, "adopted": True}))
        for qbo_id, digest, result in results:
            self._record_write(spec_row, qbo_id, digest, result)
        self.link_writes.flush()  # before anything looks these links up (a child's lookup)

    def _record_write(
        self, spec_row: ObjectMapping, qbo_id: str, digest: str, result: dict
    ) -> None:
        spec = spec_row.spec
        detail = self.attempt_details[(spec["quickbooks"], qbo_id)]
        if "_error" in result:
            error = result["_error"]
            detail["error"] = error
            self._outcomes(spec, qbo_id).append(
                Outcome(EventStatus.FAILED, str(error), error.retryable)
            )
            return
        if not result.get("success"):
            detail["error"] = result
            reason, retryable = record_error(result, spec["external_id"])
            self._outcomes(spec, qbo_id).append(Outcome(EventStatus.FAILED, reason, retryable))
            return
        detail["target_id"] = result["id"]
        self.link_writes.save(
            spec_row.id,
            self.company.id,
            qbo_id,
            **self.quickbooks_state.get((spec["quickbooks"], qbo_id), {}),
            salesforce_id=result["id"],
            salesforce_hash=digest,
            deleted=(spec_row.id, qbo_id) in self.written_flagged,
            merged_into=None,
        )
        self.written[(spec_row.id, qbo_id)] = result["id"]
        how = (
            "adopted"
            if result.get("adopted")
            else "created"
            if result.get("created")
            else "updated"
        )
        self._outcomes(spec, qbo_id).append(
            Outcome(
                EventStatus.SYNCED,
                f"{how} {result['id']}",
                kind="linked" if how == "adopted" else how,
            )
        )

    # -- deletes, voids, merges, deactivation ---------------------------------------------------

    def remove(self, spec_row: ObjectMapping, removals: dict[str, str]) -> None:
        if not removals:
            return
        spec = spec_row.spec
        policy, flag_field = delete_policy(spec)
        existing = links.find(spec_row.id, self.company.id, removals)
        merged_into = {
            qbo_id: self.merged_into[qbo_id] for qbo_id in removals if qbo_id in self.merged_into
        }
        targets = {}
        for qbo_id, reason in removals.items():
            link = existing.get(qbo_id)
            if policy == "ignore":
                self._outcomes(spec, qbo_id).append(
                    Outcome(EventStatus.SKIPPED, f"{reason}; on_delete is ignore")
                )
            elif link is None or not link.salesforce_id:
                self._outcomes(spec, qbo_id).append(
                    Outcome(EventStatus.SKIPPED, f"{reason}; never synced to Salesforce")
                )
            elif link.deleted:
                self._outcomes(spec, qbo_id).append(
                    Outcome(EventStatus.SKIPPED, f"{reason}; already applied")
                )
            else:
                targets[qbo_id] = link.salesforce_id
        check_lock_held()
        if targets and policy == "delete":
            results = self.sf.delete_many(list(targets.values()))
        elif targets:
            rows = [{"Id": sf_id, flag_field: True} for sf_id in targets.values()]
            results = self.sf.update_many(spec["salesforce"], rows)
        else:
            results = []
        for (qbo_id, sf_id), result in zip(targets.items(), results, strict=True):
            codes = {e.get("statusCode") for e in result.get("errors") or []}
            if result.get("success") or (policy == "delete" and "ENTITY_IS_DELETED" in codes):
                self.link_writes.save(
                    spec_row.id,
                    self.company.id,
                    qbo_id,
                    deleted=True,
                    salesforce_hash=None,  # the next active version is written in full
                    merged_into=merged_into.get(qbo_id),
                )
                done = "deleted" if policy == "delete" else f"flagged {flag_field}"
                self._outcomes(spec, qbo_id).append(
                    Outcome(EventStatus.SYNCED, f"{removals[qbo_id]}; {done} {sf_id}")
                )
            else:
                reason, retryable = record_error(result)
                self._outcomes(spec, qbo_id).append(Outcome(EventStatus.FAILED, reason, retryable))
        for qbo_id, survivor in merged_into.items():
            if qbo_id not in targets and qbo_id in existing:
                self.link_writes.save(spec_row.id, self.company.id, qbo_id, merged_into=survivor)
        self.link_writes.flush()

    # -- outcomes -------------------------------------------------------------------------------

    def _outcomes(self, spec: dict, qbo_id: str) -> list[Outcome]:
        return self.outcomes[(spec["quickbooks"], qbo_id)]

    def _finish_all(self, outcome: Outcome) -> None:
        for event in self.events:
            inbox.finish(event, outcome.status, outcome.reason)
        db.session.commit()

    def _finish_events(self) -> None:
        for event in self.events:
            if detail := self.attempt_details.get((self.entity, event.record_id)):
                inbox.record_attempt(event, **detail)
            outcomes = list(self.outcomes.get((self.entity, event.record_id), []))
            if event.operation == "merge" and event.deleted_id:
                outcomes += self.outcomes.get((self.entity, event.deleted_id), [])
            finish(event, outcomes)

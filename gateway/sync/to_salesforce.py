"""QuickBooks -> Salesforce: read the changed records, map them, upsert them, link them.

One run handles the claimed events of one (company, QuickBooks entity): one query reads every
changed record, sObject Collections write up to 200 records a call, and each event ends synced,
skipped (with why) or failed (with the API's error).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from .. import inbox, mapping, realtime
from ..connectors import ReconnectNeeded
from ..connectors.quickbooks import QuickBooksClient
from ..connectors.salesforce import SalesforceCallError, SalesforceClient, record_error
from ..extensions import db
from ..models import Company, ConnectionStatus, Event, EventStatus, ObjectMapping, SalesforceOrg
from . import links
from .salesforce_match import find_matches

log = logging.getLogger(__name__)
MAX_PARENT_DEPTH = 3
DIRECTION = "quickbooks_to_salesforce"


@dataclass
class Outcome:
    status: str  # synced | skipped | failed
    reason: str | None = None
    retryable: bool = False


@dataclass
class Pending:
    """The records one mapping still has to write, and what each write means."""

    upserts: list[tuple[str, dict, str]] = field(default_factory=list)  # qbo id, payload, hash
    adoptions: list[tuple[str, dict, str, str]] = field(default_factory=list)  # + sf id


def external_id(realm_id: str, quickbooks_id: str) -> str:
    return f"{realm_id}-{quickbooks_id}"


def delete_policy(spec: dict) -> tuple[str, str | None]:
    policy = spec.get("on_delete", "ignore")
    if policy.startswith("flag:"):
        return "flag", policy.split(":", 1)[1]
    return policy, None


class QuickBooksToSalesforce:
    def __init__(self, company_id: int, entity: str, events: list[Event]):
        self.company = db.session.get(Company, company_id)
        self.entity = entity
        self.events = events
        # outcomes per (QuickBooks entity, id), one entry per mapping that handled the record;
        # parents synced along the way have their own entity, so ids never collide
        self.outcomes: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
        self.link_writes = links.LinkWrites()
        self.merged_into: dict[str, str] = {}  # merged-away QuickBooks id -> survivor's id
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
        self._finish_events()
        db.session.commit()

    def _connect(self) -> None:
        org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
        if org is None:
            raise ReconnectNeeded(
                "Salesforce is not connected (flask connect salesforce --refresh-token ...)"
            )
        for name, row in (("Salesforce", org), ("QuickBooks", self.company)):
            if row.status == ConnectionStatus.RECONNECT_NEEDED:
                raise ReconnectNeeded(f"{name} needs reconnecting: {row.status_detail}")
        self.qbo = QuickBooksClient(self.company)
        self.sf = SalesforceClient(org)

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
        realm = self.company.realm_id
        field_types = self.sf.field_types(spec["salesforce"])
        existing = links.find(spec_row.id, self.company.id, (r["Id"] for r in records))
        resolved = self._resolve_references(spec, records, depth)
        policy, flag_field = delete_policy(spec)
        pending = Pending()
        unlinked: list[tuple[dict, dict, str]] = []
        for record in records:
            qbo_id = record["Id"]
            detail = self.attempt_details[(spec["quickbooks"], qbo_id)]
            detail.update(source=record, target_object=spec["salesforce"])
            try:
                payload = mapping.to_salesforce(
                    mapping.clean_quickbooks_record(record), spec, resolved, field_types
                )
            except mapping.UnresolvedReference as exc:
                # The parent failed to sync (its own event says why) or is not in Salesforce
                # yet: worth another try once it is, unlike a record that can never map.
                self._outcomes(spec, qbo_id).append(
                    Outcome(EventStatus.FAILED, f"parent not synced yet: {exc}", retryable=True)
                )
                continue
            except mapping.MappingError as exc:
                self._outcomes(spec, qbo_id).append(Outcome(EventStatus.FAILED, str(exc)))
                continue
            if flag_field:
                payload[flag_field] = False  # a reactivated record loses its deleted flag
            detail["written"] = payload
            digest = mapping.payload_hash(payload)
            link = existing.get(qbo_id)
            if link and link.salesforce_id and not link.deleted and link.salesforce_hash == digest:
                self._outcomes(spec, qbo_id).append(Outcome(EventStatus.SKIPPED, "unchanged"))
                continue
            if link is None and spec.get("match"):
                unlinked.append((record, payload, digest))
            else:
                pending.upserts.append((qbo_id, payload, digest))
        if unlinked:
            self._match(spec, realm, unlinked, pending)
        self._write(spec_row, pending)

    def _match(self, spec: dict, realm: str, unlinked: list, pending: Pending) -> None:
        """Before creating, look for the record a person already made in Salesforce."""
        wanted = [
            (
                record["Id"],
                external_id(realm, record["Id"]),
                mapping.match_criteria(record, spec, DIRECTION),
            )
            for record, _, _ in unlinked
        ]
        matches = find_matches(self.sf, spec["salesforce"], spec["external_id"], wanted)
        for record, payload, digest in unlinked:
            qbo_id = record["Id"]
            found = matches.get(qbo_id, [])
            if len(found) > 1:
                self._outcomes(spec, qbo_id).append(
                    Outcome(
                        EventStatus.FAILED,
                        f"ambiguous match: {len(found)} {spec['salesforce']} records match "
                        f"({', '.join(found)}); link one by hand or tighten the match rules",
                    )
                )
            elif found:
                pending.adoptions.append((qbo_id, payload, digest, found[0]))
            else:
                pending.upserts.append((qbo_id, payload, digest))

    def _write(self, spec_row: ObjectMapping, pending: Pending) -> None:
        spec = spec_row.spec
        sobject, ext_field = spec["salesforce"], spec["external_id"]
        realm = self.company.realm_id
        results: list[tuple[str, str, dict]] = []  # qbo id, hash, result
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
            reason, retryable = record_error(result)
            self._outcomes(spec, qbo_id).append(Outcome(EventStatus.FAILED, reason, retryable))
            return
        detail["target_id"] = result["id"]
        self.link_writes.save(
            spec_row.id,
            self.company.id,
            qbo_id,
            salesforce_id=result["id"],
            salesforce_hash=digest,
            deleted=False,
            merged_into=None,
        )
        how = (
            "adopted"
            if result.get("adopted")
            else "created"
            if result.get("created")
            else "updated"
        )
        self._outcomes(spec, qbo_id).append(Outcome(EventStatus.SYNCED, f"{how} {result['id']}"))

    # -- references -----------------------------------------------------------------------------

    def _resolve_references(self, spec: dict, records: list[dict], depth: int) -> dict:
        """Salesforce ids for every lookup; a parent not linked yet is synced first."""
        needed: dict[str, set[str]] = defaultdict(set)
        for record in records:
            for reference in mapping.references(record, spec, DIRECTION):
                needed[reference.mapping_name].add(str(reference.source_id))
        resolved: dict[tuple[str, str], str] = {}
        for name, ids in needed.items():
            parent = db.session.execute(
                select(ObjectMapping).where(ObjectMapping.name == name)
            ).scalar_one_or_none()
            if parent is None:
                continue  # reported by the mapping as unresolved
            found = self._linked(parent, ids)
            missing = ids - found.keys()
            if missing and depth < MAX_PARENT_DEPTH:
                parents = self.qbo.query_by_ids(parent.quickbooks_type, sorted(missing))
                self.push(parent, parents, depth + 1)
                found.update(self._linked(parent, missing))
            resolved.update({(name, qbo_id): sf_id for qbo_id, sf_id in found.items()})
        return resolved

    def _linked(self, parent: ObjectMapping, ids: set[str]) -> dict[str, str]:
        found = links.find(parent.id, self.company.id, ids)
        survivors = {link.merged_into for link in found.values() if link.merged_into}
        survivor_links = links.find(parent.id, self.company.id, survivors) if survivors else {}
        resolved = {}
        for qbo_id, link in found.items():
            # A customer merged away resolves to the survivor's record.
            target = survivor_links.get(link.merged_into) if link.merged_into else link
            if target is not None and target.salesforce_id:
                resolved[qbo_id] = target.salesforce_id
        return resolved

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
            failed = [o for o in outcomes if o.status == EventStatus.FAILED]
            synced = [o for o in outcomes if o.status == EventStatus.SYNCED]
            if failed:
                inbox.fail(
                    event,
                    "; ".join(o.reason or "" for o in failed),
                    retryable=all(o.retryable for o in failed),
                )
            elif synced:
                inbox.finish(event, EventStatus.SYNCED, "; ".join(o.reason or "" for o in synced))
            else:
                reasons = "; ".join(o.reason or "" for o in outcomes) or "nothing to do"
                inbox.finish(event, EventStatus.SKIPPED, reasons)

"""Deleted in Salesforce: the mapping's on_delete applied in QuickBooks. Transactions are
deleted; name-list records (customers, items) cannot be, so they are made inactive."""

from __future__ import annotations

from ..connectors.quickbooks import QuickBooksClient, QuickBooksError
from ..connectors.quickbooks_writes import QuickBooksWrites, StaleObject, Write
from ..models import Company, EventStatus, ObjectMapping
from ..qbo_entities import NAME_LIST_ENTITIES
from . import check_lock_held, links
from .policy import delete_policy


class QuickBooksRemovals:
    """Mixed into the Salesforce -> QuickBooks run, whose outcomes and links it records."""

    company: Company
    qbo: QuickBooksClient
    writes: QuickBooksWrites
    link_writes: links.LinkWrites

    def remove(self, spec_row: ObjectMapping, removals: dict[str, str]) -> None:
        """Apply the mapping's on_delete to QuickBooks. Name-list records (customers, items)
        cannot be deleted there: deleting one in Salesforce makes it inactive."""
        if not removals:
            return
        spec = spec_row.spec
        entity = spec["quickbooks"]
        policy, _ = delete_policy(spec)
        existing = links.find_by_salesforce(spec_row.id, self.company.id, removals)
        targets = {}
        for sf_id, reason in removals.items():
            link = existing.get(sf_id)
            if policy == "ignore":
                self._outcome(spec, sf_id, EventStatus.SKIPPED, f"{reason}; on_delete is ignore")
            elif link is None:
                self._outcome(spec, sf_id, EventStatus.SKIPPED, f"{reason}; never in QuickBooks")
            elif link.deleted:
                self._outcome(spec, sf_id, EventStatus.SKIPPED, f"{reason}; already applied")
            elif policy != "delete" and entity not in NAME_LIST_ENTITIES:
                self._outcome(
                    spec,
                    sf_id,
                    EventStatus.SKIPPED,
                    f"{reason}; on_delete {spec.get('on_delete')} leaves QuickBooks "
                    f"{entity} records alone",
                )
            else:
                targets[sf_id] = link
        if not targets:
            return
        unknown = [
            link.quickbooks_id for link in targets.values() if not link.quickbooks_sync_token
        ]
        tokens = {
            r["Id"]: r["SyncToken"] for r in self.qbo.query_by_ids(entity, unknown) if unknown
        }
        writes = []
        for link in targets.values():
            token = tokens.get(link.quickbooks_id, link.quickbooks_sync_token)
            operation = "deactivate" if entity in NAME_LIST_ENTITIES else "delete"
            key = f"{entity}:{link.quickbooks_id}:{token}"
            writes.append(Write(entity, operation, key, {}, link.quickbooks_id, token))
        check_lock_held()
        results = self.writes.batch(writes)
        for (sf_id, link), write, result in zip(targets.items(), writes, results, strict=True):
            if isinstance(result, StaleObject):
                result = self._remove_after_stale(write)
            if isinstance(result, QuickBooksError):
                self._outcome(spec, sf_id, EventStatus.FAILED, str(result), result.retryable)
                continue
            done = "made inactive" if write.operation == "deactivate" else "deleted"
            self.link_writes.save(
                spec_row.id,
                self.company.id,
                link.quickbooks_id,
                deleted=True,
                quickbooks_hash=None,  # the next live version is written in full
                quickbooks_sync_token=result.get("SyncToken"),
            )
            self._outcome(
                spec,
                sf_id,
                EventStatus.SYNCED,
                f"{removals[sf_id]}; {done} {entity} {link.quickbooks_id}",
            )
        self.link_writes.flush()

    def _remove_after_stale(self, write: Write) -> dict | QuickBooksError:
        try:
            current = self.qbo.read(write.entity, write.record_id)
            token = current["SyncToken"]
            key = f"{write.entity}:{write.record_id}:{token}"
            check_lock_held()
            if write.operation == "deactivate":
                return self.writes.update(
                    write.entity, write.record_id, token, {"Active": False}, key
                )
            return self.writes.delete(write.entity, write.record_id, token, key)
        except QuickBooksError as exc:
            return exc

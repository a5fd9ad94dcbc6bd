"""Writing to QuickBooks Online: create, sparse update, delete, void, deactivate and batch.

Every write carries a `requestid` derived from what is written (the caller's key), so a job
that runs again after a crash gets Intuit's first answer back instead of a second record.
The record a write answers with is the new state (with its SyncToken): callers keep it rather
than reading the record again, because reads are metered and writes are not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..qbo_entities import NAME_LIST_ENTITIES, resource_path
from .quickbooks import QuickBooksClient, QuickBooksError

MAX_BATCH_ITEMS = 30  # Intuit's limit per batch request
MAX_STALE_RETRIES = 3
STALE_OBJECT = "5010"
DUPLICATE_NAME = "6240"
# Entities voided by a sparse update with include=void rather than operation=void.
VOID_BY_UPDATE = frozenset({"Payment", "SalesReceipt", "BillPayment"})
_REQUEST_NAMESPACE = uuid.UUID("6f1c4a52-8d0e-4a4e-9a57-5e1b2c7d9f30")


class DuplicateName(QuickBooksError):
    """6240: another active name-list record already has this name."""


class StaleObject(QuickBooksError):
    """5010: the SyncToken sent was not the current one."""


class KeptQuickBooks(Exception):
    """The caller's check of the re-read record said QuickBooks' newer version wins."""

    def __init__(self, current: dict):
        super().__init__("QuickBooks has a newer version")
        self.current = current


def classify(error: QuickBooksError) -> QuickBooksError:
    """The same error as a DuplicateName or StaleObject when its Fault code says so."""
    codes = {str(e.get("code", "")) for e in error.errors}
    for code, kind in ((DUPLICATE_NAME, DuplicateName), (STALE_OBJECT, StaleObject)):
        if code in codes and not isinstance(error, kind):
            typed = kind(error.status, error.errors, error.intuit_tid, error.retryable)
            typed.__cause__ = error
            return typed
    return error


def request_id(realm_id: str, key: str) -> str:
    """A requestid that is the same every time the same content is written to the same record."""
    return str(uuid.uuid5(_REQUEST_NAMESPACE, f"{realm_id}|{key}"))


@dataclass
class Write:
    """One write for `batch`: operation is create, update (sparse), delete, void or deactivate."""

    entity: str
    operation: str
    key: str  # what makes this write unique: record, content, SyncToken
    body: dict[str, Any] = field(default_factory=dict)
    record_id: str | None = None
    sync_token: str | None = None

    def item_body(self) -> dict[str, Any]:
        if self.operation == "create":
            return dict(self.body)
        base = {"Id": self.record_id, "SyncToken": self.sync_token}
        if self.operation in ("delete",) or (
            self.operation == "void" and self.entity not in VOID_BY_UPDATE
        ):
            return base
        if self.operation == "deactivate":
            return {**base, "sparse": True, "Active": False}
        return {**self.body, **base, "sparse": True}


class QuickBooksWrites:
    """The write operations of one company's client."""

    def __init__(self, client: QuickBooksClient):
        self.client = client

    def _post(self, write: Write) -> dict:
        params = {"requestid": request_id(self.client.realm_id, f"{write.operation}:{write.key}")}
        if write.operation == "delete":
            params["operation"] = "delete"
        elif write.operation == "void":
            if write.entity in VOID_BY_UPDATE:
                params.update(operation="update", include="void")
            else:
                params["operation"] = "void"
        try:
            answer = self.client.request(
                "POST", resource_path(write.entity), params=params, json_body=write.item_body()
            )
        except QuickBooksError as exc:
            raise classify(exc) from exc
        return answer[write.entity]

    def create(self, entity: str, body: dict[str, Any], key: str) -> dict:
        return self._post(Write(entity, "create", key, body))

    def update(
        self,
        entity: str,
        record_id: str,
        sync_token: str | None,
        fields: dict[str, Any],
        key: str,
        go_ahead: Callable[[dict], bool] | None = None,
    ) -> dict:
        """Sparse update of only `fields`, so a person's change to any other field survives.

        Without a known SyncToken, or on 5010, the record is read and the write tried again
        with the current token; `go_ahead(current)` may decide that the newer QuickBooks
        version wins instead (KeptQuickBooks).
        """
        current: dict | None = None
        for _attempt in range(MAX_STALE_RETRIES):
            if sync_token is None:
                current = self.client.read(entity, record_id)
                if go_ahead is not None and not go_ahead(current):
                    raise KeptQuickBooks(current)
                sync_token = current["SyncToken"]
            write = Write(entity, "update", f"{key}:{sync_token}", fields, record_id, sync_token)
            try:
                return self._post(write)
            except StaleObject:
                sync_token = None
        raise StaleObject(
            400,
            [{"code": STALE_OBJECT, "message": "Stale Object Error", "detail": "kept changing"}],
            None,
            retryable=True,
        )

    def delete(self, entity: str, record_id: str, sync_token: str, key: str) -> dict:
        """Transactions are deleted; name-list records cannot be, so they are made inactive."""
        operation = "deactivate" if entity in NAME_LIST_ENTITIES else "delete"
        return self._post(Write(entity, operation, key, {}, record_id, sync_token))

    def void(self, entity: str, record_id: str, sync_token: str, key: str) -> dict:
        return self._post(Write(entity, "void", key, {}, record_id, sync_token))

    def batch(self, writes: list[Write]) -> list[dict | QuickBooksError]:
        """Up to 30 writes a call; each answer is the new record or its own error, in order."""
        results: list[dict | QuickBooksError] = []
        for start in range(0, len(writes), MAX_BATCH_ITEMS):
            chunk = writes[start : start + MAX_BATCH_ITEMS]
            results.extend(self._batch_call(chunk))
        return results

    def _batch_call(self, writes: list[Write]) -> list[dict | QuickBooksError]:
        items = []
        for number, write in enumerate(writes):
            item: dict[str, Any] = {"bId": str(number), write.entity: write.item_body()}
            if write.operation == "void" and write.entity in VOID_BY_UPDATE:
                item.update(operation="update", optionsData="void")
            elif write.operation == "deactivate":
                item["operation"] = "update"
            else:
                item["operation"] = write.operation
            items.append(item)
        key = "batch:" + "|".join(f"{w.operation}:{w.key}" for w in writes)
        try:
            answer = self.client.request(
                "POST",
                "batch",
                params={"requestid": request_id(self.client.realm_id, key)},
                json_body={"BatchItemRequest": items},
            )
        except QuickBooksError as exc:
            raise classify(exc) from exc
        by_bid = {str(item.get("bId")): item for item in answer.get("BatchItemResponse", [])}
        results: list[dict | QuickBooksError] = []
        for number, write in enumerate(writes):
            item = by_bid.get(str(number), {})
            if write.entity in item:
                results.append(item[write.entity])
                continue
            fault = item.get("Fault") or {}
            errors = [
                {
                    "code": str(e.get("code", "")),
                    "message": str(e.get("Message") or e.get("message") or ""),
                    "detail": str(e.get("Detail") or e.get("detail") or ""),
                }
                for e in fault.get("Error") or fault.get("error") or []
            ] or [{"code": "", "message": "no answer for this batch item", "detail": ""}]
            results.append(classify(QuickBooksError(400, errors, None)))
        return results

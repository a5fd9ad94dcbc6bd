"""Benchmarks 2-4, end to end: fake QuickBooks -> signed webhooks -> gateway (gunicorn) ->
RQ worker(s) -> fake Salesforce.

- burst: 1,000 new customers, then a bulk edit of all 1,000; API calls counted from each fake's
  calls log (kinds read and write; auth excluded), and the seconds from the first change until
  every Account is right in Salesforce. Peak RSS of the web and worker process trees meanwhile.
- single: sequential one-record edits, webhook received (events.received_at) -> Salesforce
  written (the write's entry in the fake's calls log: its start time plus elapsed_ms).
- burst_latency: the bulk edit again with every emulated API call taking latency_ms longer.
- burst_aggregated: the bulk edit again, its webhooks aggregated as Intuit does in production.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import datetime

from .memory import MemorySampler
from .stack import Stack
from .stats import distribution

BURST = int(os.environ.get("BENCH_BURST_SIZE", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_EDIT_CONCURRENCY", "16"))
SINGLE_EDITS = int(os.environ.get("BENCH_SINGLE_EDITS", "100"))
EMULATOR_LATENCY_MS = float(os.environ.get("BENCH_EMULATOR_LATENCY_MS", "100"))
# Intuit aggregates production webhooks over 1, 3 or 5 minutes; this window covers the whole
# burst so it reaches the gateway the way Intuit would deliver it: a few POSTs at once.
AGGREGATION_MS = float(os.environ.get("BENCH_AGGREGATION_MS", "15000"))
DONE_TIMEOUT = float(os.environ.get("BENCH_BURST_TIMEOUT", "120"))


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _end_time(call: dict) -> float:
    """When the emulator answered: the call's start (`time`, UTC, ms) plus its elapsed_ms."""
    return _parse_time(call["time"]) + call.get("elapsed_ms", 0) / 1000


def _api_calls(calls: list[dict]) -> dict:
    counted = [call for call in calls if call.get("kind") in ("read", "write")]
    by_kind = Counter(call["kind"] for call in counted)
    statuses = Counter(str(call.get("status")) for call in counted)
    endpoints = Counter(f"{call['method']} {_shape(call['path'])}" for call in counted)
    return {
        "total": len(counted),
        "read": by_kind.get("read", 0),
        "write": by_kind.get("write", 0),
        "auth_excluded": sum(1 for call in calls if call.get("kind") == "auth"),
        "statuses": dict(statuses),
        "endpoints": dict(endpoints),
    }


def _shape(path: str) -> str:
    """A path with its ids blanked, to group calls by endpoint."""
    parts = path.split("/")
    keep = []
    for i, part in enumerate(parts):
        previous = parts[i - 1] if i else ""
        if previous in ("company", "QBO_Id__c") or (len(part) in (15, 18) and part.isalnum()):
            keep.append("{id}")
        else:
            keep.append(part)
    return "/".join(keep)


def _open_events(stack: Stack) -> int:
    return stack.sql("SELECT count(*) FROM events WHERE status IN ('pending', 'processing')")[0][0]


def _events_by_status(stack: Stack, since_id: int) -> dict:
    rows = stack.sql(
        "SELECT status, count(*) FROM events WHERE id > %s GROUP BY status ORDER BY status",
        since_id,
    )
    return {status: count for status, count in rows}


def _failures(stack: Stack, since_id: int) -> list[str]:
    rows = stack.sql(
        "SELECT DISTINCT reason FROM events WHERE id > %s AND status = 'failed' LIMIT 5", since_id
    )
    return [reason for (reason,) in rows]


def _last_event_id(stack: Stack) -> int:
    return stack.sql("SELECT coalesce(max(id), 0) FROM events")[0][0]


def _quiet(stack: Stack, timeout: float = 30.0) -> bool:
    """Nothing left in flight: no undelivered webhook, no open event, twice in a row."""
    deadline = time.monotonic() + timeout
    calm = 0
    while time.monotonic() < deadline:
        if stack.fakes.webhooks_pending() == 0 and _open_events(stack) == 0:
            calm += 1
            if calm >= 3:
                return True
        else:
            calm = 0
        time.sleep(0.2)
    return False


class Burst:
    def __init__(self, stack: Stack, label: str, log) -> None:
        self.stack, self.label, self.log = stack, label, log
        self.fakes = stack.fakes
        self.realm = stack.realm

    def _accounts_right(self, expected: dict[str, dict]) -> int:
        right = 0
        for account in self.fakes.accounts():
            want = expected.get(account.get("QBO_Id__c") or "")
            if (
                want
                and not account.get("IsDeleted")
                and all(account.get(name) == value for name, value in want.items())
            ):
                right += 1
        return right

    def run(self, records: list[dict], expect) -> dict:
        """Save `records` concurrently; `expect(saved record)` -> the Account fields it means."""
        stack, fakes = self.stack, self.fakes
        fakes.clear_calls()
        since_id = _last_event_id(stack)
        deliveries_before = len(fakes.qbo("GET", "/_fake/webhooks")["deliveries"])
        first_change = time.time()
        saved = self.saved = fakes.save_customers(self.realm, records, CONCURRENCY)
        edits_done = time.time()
        expected = {f"{self.realm}-{rec['Id']}": expect(rec) for rec in saved}
        right, polls, all_right_at = 0, 0, None
        deadline = time.monotonic() + DONE_TIMEOUT
        while time.monotonic() < deadline:
            polls += 1
            right = self._accounts_right(expected)
            if right == len(expected):
                all_right_at = time.time()
                break
            time.sleep(0.2)
        quiet = _quiet(stack)
        qbo_calls, sf_calls = fakes.calls("qbo"), fakes.calls("sf")
        sf_writes = [c for c in sf_calls if c.get("kind") == "write" and c.get("status", 500) < 300]
        last_write = max((_end_time(c) for c in sf_writes), default=None)
        result = {
            "changes": len(saved),
            "edit_concurrency": CONCURRENCY,
            "seconds_to_make_changes": round(edits_done - first_change, 2),
            "all_right": right == len(expected),
            "accounts_right": right,
            # Polled every 0.2 s (plus the time a poll takes): an upper bound.
            "seconds_first_change_to_all_right_polled": (
                round(all_right_at - first_change, 2) if all_right_at else None
            ),
            # How far the sync trailed the edits: the last change made -> all right (polled).
            "seconds_last_change_to_all_right_polled": (
                round(all_right_at - edits_done, 2) if all_right_at else None
            ),
            # From the fake's own log: when the last successful Salesforce write answered.
            "seconds_first_change_to_last_sf_write": (
                round(last_write - first_change, 2) if last_write and all_right_at else None
            ),
            "quiet_afterwards": quiet,
            "quickbooks_api_calls": _api_calls(qbo_calls),
            "salesforce_api_calls": _api_calls(sf_calls),
            "events": _events_by_status(stack, since_id),
            "failures": _failures(stack, since_id),
            # Deliveries the fake made (it keeps the last 1,000), retries not counted twice.
            "webhook_posts": len(fakes.qbo("GET", "/_fake/webhooks")["deliveries"])
            - deliveries_before,
        }
        self.log(
            f"{self.label}: {len(saved)} changes in {result['seconds_to_make_changes']} s, "
            f"all right after {result['seconds_first_change_to_all_right_polled']} s; "
            f"QBO calls {result['quickbooks_api_calls']['total']}, "
            f"SF calls {result['salesforce_api_calls']['total']}"
        )
        return result


def _new_customers(tag: str) -> list[dict]:
    return [
        {
            "DisplayName": f"Bench Customer {tag} {n:04d}",
            "PrimaryEmailAddr": {"Address": f"customer{n:04d}.{tag}@bench.example"},
            "BillAddr": {"City": f"Created {n:04d}"},
        }
        for n in range(1, BURST + 1)
    ]


def _expected_account(record: dict) -> dict:
    """The Account fields a saved customer (as QuickBooks returned it) must end up as."""
    return {"Name": record["DisplayName"], "BillingCity": record["BillAddr"]["City"]}


def _bulk_edit(ids: list[str], tag: str) -> list[dict]:
    return [{"Id": qbo_id, "BillAddr": {"City": f"{tag} {n:04d}"}} for n, qbo_id in enumerate(ids)]


def _first(calls: list[dict], kind: str) -> dict | None:
    return next((c for c in calls if c.get("kind") == kind and c.get("status", 500) < 300), None)


def single_changes(stack: Stack, ids: list[str], log) -> dict:
    fakes = stack.fakes
    fakes.settings("qbo", webhook_batch_ms=0)
    latencies, edit_to_written, missing = [], [], 0
    to_read, read_to_written = [], []  # the two halves: queue + job start, then the API work
    for n in range(SINGLE_EDITS):
        qbo_id = ids[n % len(ids)]
        fakes.clear_calls()
        since_id = _last_event_id(stack)
        edited = time.time()
        fakes.save_customer(stack.realm, {"Id": qbo_id, "BillAddr": {"City": f"Single {n:04d}"}})
        write = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            write = _first(fakes.calls("sf"), "write")
            if write:
                break
            time.sleep(0.01)
        received = stack.sql(
            "SELECT extract(epoch FROM received_at) FROM events "
            "WHERE id > %s AND record_id = %s ORDER BY id LIMIT 1",
            since_id,
            qbo_id,
        )
        if write is None or not received:
            missing += 1
            continue
        written, received_at = _end_time(write), float(received[0][0])
        latencies.append((written - received_at) * 1000)
        edit_to_written.append((written - edited) * 1000)
        read = _first(fakes.calls("qbo"), "read")
        if read:
            to_read.append((_parse_time(read["time"]) - received_at) * 1000)
            read_to_written.append((written - _parse_time(read["time"])) * 1000)
        # The next edit starts once this one's events are closed (normally at once).
        deadline = time.monotonic() + 5
        while _open_events(stack) and time.monotonic() < deadline:
            time.sleep(0.02)
    fakes.settings("qbo", webhook_batch_ms=200)
    # The last value of every record edited must be in Salesforce.
    want = {}
    for n in range(SINGLE_EDITS):
        want[f"{stack.realm}-{ids[n % len(ids)]}"] = f"Single {n:04d}"
    right = sum(
        1 for a in fakes.accounts() if want.get(a.get("QBO_Id__c") or "") == a.get("BillingCity")
    )
    result = {
        "edits": SINGLE_EDITS,
        "measured": len(latencies),
        "missing": missing,
        "accounts_right_at_end": right,
        "accounts_expected": len(want),
        "webhook_batch_ms": 0,
        "received_to_written_ms": distribution(latencies, 1),
        "edit_to_written_ms": distribution(edit_to_written, 1),
        # received -> the QuickBooks read starts: enqueue, RQ pick-up, work-horse fork, claim.
        "received_to_quickbooks_read_ms": distribution(to_read, 1),
        # QuickBooks read starts -> Salesforce write answered: the two API calls and mapping.
        "quickbooks_read_to_written_ms": distribution(read_to_written, 1),
    }
    log(
        f"single: received -> written p50 {result['received_to_written_ms'].get('p50')} ms, "
        f"p99 {result['received_to_written_ms'].get('p99')} ms ({len(latencies)} measured)"
    )
    return result


def run(stack: Stack, which: list[str], log, problems: list[str]) -> dict:
    results: dict = {}
    stack.reset_inbox(links=True)
    worker_pids = stack.start_workers()
    roots = {"web": stack.pid("web")}
    roots.update({f"worker{n}": pid for n, pid in enumerate(worker_pids)})
    log(f"{len(worker_pids)} RQ worker(s) started")
    time.sleep(1.0)  # let the workers register and run their start-up sweep

    # The customers every later step edits; creating them is the first burst.
    burst = Burst(stack, "burst create", log)
    with MemorySampler(roots) as memory:
        created = burst.run(_new_customers("A"), _expected_account)
    created["memory"] = memory.summary()
    ids = [record["Id"] for record in burst.saved]
    if "burst" in which:
        results["burst_create"] = created
        with MemorySampler(roots) as memory:
            edited = Burst(stack, "burst edit", log).run(
                _bulk_edit(ids, "Edited"), _expected_account
            )
        edited["memory"] = memory.summary()
        results["burst_edit"] = edited
    if "single" in which:
        results["single"] = single_changes(stack, ids, log)
    if "burst_latency" in which:
        latency = EMULATOR_LATENCY_MS
        stack.fakes.settings("qbo", latency_ms=latency)
        stack.fakes.settings("sf", latency_ms=latency)
        try:
            with MemorySampler(roots) as memory:
                slow = Burst(stack, f"burst edit, emulators +{latency:g} ms", log).run(
                    _bulk_edit(ids, "Slow"), _expected_account
                )
            slow["memory"] = memory.summary()
            slow["emulator_latency_ms"] = latency
            results["burst_edit_latency"] = slow
        finally:
            stack.fakes.settings("qbo", latency_ms=0)
            stack.fakes.settings("sf", latency_ms=0)
    if "burst_aggregated" in which:
        stack.fakes.settings("qbo", webhook_batch_ms=AGGREGATION_MS)
        try:
            with MemorySampler(roots) as memory:
                aggregated = Burst(
                    stack, f"burst edit, webhooks aggregated over {AGGREGATION_MS:g} ms", log
                ).run(_bulk_edit(ids, "Aggregated"), _expected_account)
            aggregated["memory"] = memory.summary()
            aggregated["webhook_batch_ms"] = AGGREGATION_MS
            results["burst_edit_aggregated"] = aggregated
        finally:
            stack.fakes.settings("qbo", webhook_batch_ms=200)
    for name, result in results.items():
        if isinstance(result, dict) and result.get("all_right") is False:
            problems.append(f"{name}: only {result['accounts_right']} accounts right in time")
    stack.stop_workers()
    return results

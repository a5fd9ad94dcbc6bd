"""Batch benchmarks: a first sync (backfill) of many QuickBooks customers, the reconciler after
missed webhooks, and real-time latency while a backfill runs.

- backfill: BENCH_BACKFILL_SIZE (50,000) customers with emails made with webhooks off, and an
  account made by hand for every BENCH_BACKFILL_EXISTING_EVERY-th (100) of them (adopted, not
  duplicated), then `flask sync run customers --direction quickbooks_to_salesforce --json`:
  seconds, QuickBooks and Salesforce API calls (the fakes' call logs, auth excluded), peak RSS
  of the process running the backfill.
- reconcile: BENCH_MISSED_CHANGES (1,000) customers edited with webhooks off, then
  `flask sync reconcile`: QuickBooks calls, and seconds until every account is right.
- backfill_realtime: while a second backfill runs (everything unchanged: reads and hashing),
  one-record edits with webhooks on: received -> synced per edit (events table).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from .e2e import _api_calls
from .memory import MemorySampler
from .stack import REPO, Stack
from .stats import distribution

BACKFILL = int(os.environ.get("BENCH_BACKFILL_SIZE", "50000"))
MISSED = int(os.environ.get("BENCH_MISSED_CHANGES", "1000"))
LIVE_EDITS = int(os.environ.get("BENCH_BACKFILL_EDITS", "20"))
CONCURRENCY = int(os.environ.get("BENCH_EDIT_CONCURRENCY", "16"))
TIMEOUT = float(os.environ.get("BENCH_BACKFILL_TIMEOUT", "1800"))
# Every this-many-th customer already has an account a person made, with its email.
EXISTING_EVERY = int(os.environ.get("BENCH_BACKFILL_EXISTING_EVERY", "100"))
ALL = ("backfill", "reconcile", "backfill_realtime")
OVERLAP = 5  # RECONCILE_OVERLAP_SECONDS for the reconcile step (default 120)


def _email(n: int) -> str:
    return f"backfill.customer.{n}@example.com"


def _existing() -> range:
    return range(0, BACKFILL, EXISTING_EVERY) if EXISTING_EVERY else range(0)


def _start_backfill(stack: Stack) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        [
            *(sys.executable, "-m", "flask", "--app", "wsgi", "sync", "run", "customers"),
            *("--direction", "quickbooks_to_salesforce", "--json"),
        ],
        env=stack.env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _finish(process: subprocess.Popen) -> dict:
    out, _ = process.communicate(timeout=TIMEOUT)
    if process.returncode != 0:
        raise RuntimeError(f"flask sync run exited {process.returncode}: {out[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def _served(fakes, which: str) -> float:
    """Seconds the emulator spent answering (its call log's elapsed times): the part of the
    run's time that is the stand-in for Salesforce or QuickBooks, not the gateway."""
    return round(sum(call.get("elapsed_ms", 0) for call in fakes.calls(which)) / 1000, 1)


def _accounts_named(stack: Stack, prefix: str) -> int:
    return sum(1 for a in stack.fakes.accounts() if str(a.get("Name", "")).startswith(prefix))


def backfill(stack: Stack, log) -> dict:
    fakes = stack.fakes
    fakes.clear_calls()
    log(f"backfill of {BACKFILL} customers")
    started = time.monotonic()
    process = _start_backfill(stack)
    with MemorySampler({"backfill": process.pid}) as memory:
        summary = _finish(process)
    seconds = time.monotonic() - started
    result = {
        "customers": BACKFILL,
        "seconds": round(seconds, 1),
        "summary": summary,
        "quickbooks_calls": _api_calls(fakes.calls("qbo")),
        "salesforce_calls": _api_calls(fakes.calls("sf")),
        "emulator_seconds": {"qbo": _served(fakes, "qbo"), "sf": _served(fakes, "sf")},
        "memory": memory.summary(),
    }
    # after the timing: every customer has exactly one account (adopted or created)
    result["accounts_in_salesforce"] = len(fakes.accounts())
    log(
        f"backfill: {result['seconds']} s, QuickBooks {result['quickbooks_calls']['total']} "
        f"calls, Salesforce {result['salesforce_calls']['total']} calls, peak RSS "
        f"{result['memory']['backfill']['peak_tree_rss_mb']} MB"
    )
    return result


def reconcile(stack: Stack, ids: list[str], log) -> dict:
    fakes = stack.fakes
    # The backfill moved the watermark to its start; the overlap must not reach back past it
    # into the customers the benchmark made moments before (a real backfill's are older).
    time.sleep(OVERLAP + 1)
    fakes.settings("qbo", webhooks_enabled=False)
    edits = [{"Id": qbo_id, "DisplayName": f"Missed {n}"} for n, qbo_id in enumerate(ids[:MISSED])]
    fakes.save_customers(stack.realm, edits, CONCURRENCY)
    fakes.settings("qbo", webhooks_enabled=True)
    fakes.clear_calls()
    log(f"reconcile after {len(edits)} missed changes")
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "flask", "--app", "wsgi", "sync", "reconcile", "--json"],
        env=stack.env(RECONCILE_OVERLAP_SECONDS=str(OVERLAP)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask sync reconcile exited {done.returncode}: {done.stderr[-2000:]}")
    found = json.loads(done.stdout)
    deadline = started + TIMEOUT
    right = 0
    while time.monotonic() < deadline:
        right = _accounts_named(stack, "Missed ")
        if right >= len(edits):
            break
        time.sleep(0.5)
    seconds = time.monotonic() - started
    result = {
        "missed_changes": len(edits),
        "overlap_seconds": OVERLAP,
        "found": found,
        "seconds_until_all_right": round(seconds, 1),
        "accounts_right": right,
        "quickbooks_calls": _api_calls(fakes.calls("qbo")),
        "salesforce_calls": _api_calls(fakes.calls("sf")),
    }
    log(
        f"reconcile: {result['seconds_until_all_right']} s, QuickBooks "
        f"{result['quickbooks_calls']['total']} calls, {right}/{len(edits)} right"
    )
    return result


def realtime_during_backfill(stack: Stack, ids: list[str], log) -> dict:
    fakes = stack.fakes
    fakes.settings("qbo", webhook_batch_ms=0)
    process = _start_backfill(stack)
    latencies, missing = [], 0
    try:
        for n in range(LIVE_EDITS):
            if process.poll() is not None:
                break
            qbo_id = ids[-1 - n]
            since = stack.sql("SELECT coalesce(max(id), 0) FROM events")[0][0]
            fakes.save_customer(stack.realm, {"Id": qbo_id, "DisplayName": f"Live {n}"})
            deadline = time.monotonic() + 30
            row = None
            while time.monotonic() < deadline:
                rows = stack.sql(
                    "SELECT extract(epoch FROM received_at), extract(epoch FROM updated_at) "
                    "FROM events WHERE id > %s AND record_id = %s AND status = 'synced' "
                    "ORDER BY id LIMIT 1",
                    since,
                    qbo_id,
                )
                if rows:
                    row = rows[0]
                    break
                time.sleep(0.02)
            if row is None:
                missing += 1
            else:
                latencies.append((float(row[1]) - float(row[0])) * 1000)
        overlapped = process.poll() is None
        backfill_summary = _finish(process)
    finally:
        if process.poll() is None:
            process.kill()
        fakes.settings("qbo", webhook_batch_ms=200)
    result = {
        "edits": len(latencies) + missing,
        "missing": missing,
        "backfill_still_running_after_edits": overlapped,
        "backfill_summary": backfill_summary,
        "received_to_synced_ms": distribution(latencies, 1),
    }
    log(f"real time during a backfill: {result['received_to_synced_ms']}")
    return result


def run(stack: Stack, which: list[str], log, problems: list[str]) -> dict:
    fakes = stack.fakes
    stack.reset_inbox(links=True)
    fakes.settings("qbo", webhooks_enabled=False)
    log(f"creating {BACKFILL} customers with webhooks off")
    seeding = time.monotonic()
    records = [
        {
            "DisplayName": f"Backfill {n}",
            "BillAddr": {"City": "Leeds"},
            "PrimaryEmailAddr": {"Address": _email(n)},
        }
        for n in range(BACKFILL)
    ]
    ids = [record["Id"] for record in fakes.seed_customers(stack.realm, records)]
    fakes.settings("qbo", webhooks_enabled=True)
    # Accounts a person made before the gateway came: the backfill must adopt them.
    for n in _existing():
        fakes.create_account({"Name": f"Made by hand {n}", "Email__c": _email(n)})
    log(f"seeded in {time.monotonic() - seeding:.1f} s ({len(_existing())} accounts to adopt)")
    # A real company's history is older than its connection, where the reconciler starts
    # (a backfill leaves its watermark there: CDC still has the deletes a query cannot see).
    # Seeding makes thousands of customers a second, more than CDC answers for one second, so
    # the company is connected after them, and the reconciler's overlap must not reach back.
    time.sleep(OVERLAP + 1)
    stack.sql("UPDATE companies SET created_at = now()")
    stack.sql("DELETE FROM watermarks")
    stack.start_workers()
    results: dict = {}
    try:
        if "backfill" in which:
            results["backfill"] = backfill(stack, log)
            summary = results["backfill"]["summary"]
            adopted = len(_existing())
            if (summary["created"], summary["linked"]) != (BACKFILL - adopted, adopted):
                problems.append(f"backfill created/linked {summary}")
            if results["backfill"]["accounts_in_salesforce"] != BACKFILL:
                problems.append(
                    f"{results['backfill']['accounts_in_salesforce']} accounts for {BACKFILL} "
                    "customers: duplicates or missing ones"
                )
        if "reconcile" in which:
            results["reconcile"] = reconcile(stack, ids, log)
            if results["reconcile"]["accounts_right"] < min(MISSED, len(ids)):
                problems.append("reconcile: not every missed change reached Salesforce")
        if "backfill_realtime" in which:
            results["backfill_realtime"] = realtime_during_backfill(stack, ids, log)
    finally:
        fakes.settings("qbo", webhooks_enabled=True)
        stack.stop_workers()
    return results

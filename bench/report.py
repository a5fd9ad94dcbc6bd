"""A human summary (Markdown) of one results JSON, written beside it as summary.md."""

from __future__ import annotations

AIMS = {
    "throughput": 1000.0,  # verified webhooks per second
    "ratio": 0.5,  # gateway / bare
    "p99_ms": 50.0,  # at the fixed rate
    "qbo_calls": 5,
    "sf_calls": 10,
    "single_p50_ms": 300.0,
}


def _met(value, aim, higher_is_better: bool) -> str:
    if value is None:
        return "not measured"
    ok = value >= aim if higher_is_better else value <= aim
    return "met" if ok else "NOT met"


def _runs(entry: dict, unit: str = "") -> str:
    if not entry or entry.get("median") is None:
        return "n/a"
    return (
        f"{entry['median']}{unit} (runs {', '.join(str(v) for v in entry['runs'])}; "
        f"spread {entry['spread_pct']}%)"
    )


def _ingest(lines: list[str], ingest: dict) -> None:
    s, cfg = ingest["summary"], ingest["settings"]
    lines += [
        "## 1. Webhook ingest (gunicorn, PostgreSQL + Redis, no worker)",
        "",
        f"gunicorn gthread, WEB_CONCURRENCY={cfg['web_concurrency']}, "
        f"WEB_THREADS={cfg['web_threads']}; wrk -t{cfg['wrk_threads']} "
        f"-c{cfg['wrk_connections']} for {cfg['throughput_seconds']:g} s; open loop at "
        f"{cfg['fixed_rate_per_s']:g}/s for {cfg['fixed_rate_seconds']:g} s; "
        f"{cfg['repetitions']} repetitions, medians quoted.",
        "",
        "| measure | gateway | bare Flask | aim | |",
        "|---|---|---|---|---|",
        f"| throughput, req/s | {_runs(s['gateway_requests_per_s'])} | "
        f"{_runs(s['bare_requests_per_s'])} | >= {AIMS['throughput']:g} | "
        f"{_met(s['gateway_requests_per_s']['median'], AIMS['throughput'], True)} |",
        f"| ratio gateway / bare | {_runs(s['ratio_gateway_to_bare'])} | | >= {AIMS['ratio']} | "
        f"{_met(s['ratio_gateway_to_bare']['median'], AIMS['ratio'], True)} |",
        f"| p50 at fixed rate, ms | {_runs(s['gateway_p50_ms'])} | {_runs(s['bare_p50_ms'])} | | |",
        f"| p99 at fixed rate, ms | {_runs(s['gateway_p99_ms'])} | {_runs(s['bare_p99_ms'])} | "
        f"< {AIMS['p99_ms']:g} | {_met(s['gateway_p99_ms']['median'], AIMS['p99_ms'], False)} |",
        f"| CPU ms per request, server processes | {_runs(s['gateway_cpu_ms_per_request'])} "
        f"| {_runs(s['bare_cpu_ms_per_request'])} | | |",
        f"| CPU ms per request, PostgreSQL backends | "
        f"{_runs(s['gateway_db_cpu_ms_per_request'])} | | | |",
        "",
        f"Machine busy during the gateway throughput runs: "
        f"{s['machine_busy_pct_gateway_runs']} %; CPU seconds used by other processes "
        f"meanwhile: {s['others_cpu_s_gateway_runs']}.",
        "",
        f"Load average after each repetition: "
        f"{[one.get('load_average_after') for one in ingest['repetitions']]}.",
        "",
        f"Events stored pending per throughput run: {s['gateway_events_stored_pending']} "
        f"(wrk completed {s['gateway_requests_completed']}; non-2xx "
        f"{s['gateway_non_2xx']}; body-list wrap-arounds {s['gateway_wrapped']}). "
        f"Fixed-rate 2xx answers: gateway {s['gateway_fixed_rate_ok']}, "
        f"bare {s['bare_fixed_rate_ok']}.",
        "",
    ]


def _context(lines: list[str], context: dict | None) -> None:
    if not context:
        return
    lat, cpu = context["latency_ms"], context["cpu"]
    lines += [
        f"Context (one run, gateway only): at {context['rate_target_per_s']:g}/s for "
        f"{context['seconds']} s, p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms, "
        f"{context['ok']} of {context['requests']} answered 2xx, machine busy "
        f"{cpu['machine_busy_pct']} %.",
        "",
    ]


def _calls(entry: dict) -> str:
    return f"{entry['total']} ({entry['read']} read, {entry['write']} write)"


def _burst(lines: list[str], title: str, burst: dict) -> None:
    qbo, sf = burst["quickbooks_api_calls"], burst["salesforce_api_calls"]
    lines += [
        f"## {title}",
        "",
        "| measure | value | aim | |",
        "|---|---|---|---|",
        f"| changes (concurrency {burst['edit_concurrency']}) | {burst['changes']} in "
        f"{burst['seconds_to_make_changes']} s | | |",
        f"| QuickBooks API calls | {_calls(qbo)} | <= {AIMS['qbo_calls']} | "
        f"{_met(qbo['total'], AIMS['qbo_calls'], False)} |",
        f"| Salesforce API calls | {_calls(sf)} | <= {AIMS['sf_calls']} | "
        f"{_met(sf['total'], AIMS['sf_calls'], False)} |",
        f"| s, first change -> all Accounts right (polled) | "
        f"{burst['seconds_first_change_to_all_right_polled']} | | |",
        f"| s, last change made -> all Accounts right (polled) | "
        f"{burst['seconds_last_change_to_all_right_polled']} | | |",
        f"| s, first change -> last Salesforce write | "
        f"{burst['seconds_first_change_to_last_sf_write']} | | |",
        f"| webhook POSTs received | {burst['webhook_posts']} | | |",
        f"| events | {burst['events']} | | |",
        "",
    ]
    if burst.get("failures"):
        lines += [f"Failures: {burst['failures']}", ""]
    memory = burst.get("memory") or {}
    if memory:
        lines += [
            "| process tree | peak sum of VmRSS, MB | peak sum of Pss, MB | "
            "largest single VmHWM, MB | processes seen (at once) |",
            "|---|---|---|---|---|",
        ]
        for name, tree in memory.items():
            lines.append(
                f"| {name} | {tree['peak_tree_rss_mb']} | {tree.get('peak_tree_pss_mb')} | "
                f"{tree['max_process_hwm_mb']} | {tree['processes_seen']} "
                f"({tree['peak_processes_at_once']}) |"
            )
        lines.append("")


def _single(lines: list[str], single: dict) -> None:
    r, e = single["received_to_written_ms"], single["edit_to_written_ms"]
    lines += [
        "## 3. One change, webhook received -> Salesforce written",
        "",
        f"{single['measured']} of {single['edits']} sequential edits measured "
        f"({single['missing']} missing); Accounts right at the end "
        f"{single['accounts_right_at_end']}/{single['accounts_expected']}.",
        "",
        "| ms | p50 | p90 | p99 | max | aim | |",
        "|---|---|---|---|---|---|---|",
        f"| received -> written | {r.get('p50')} | {r.get('p90')} | {r.get('p99')} | "
        f"{r.get('max')} | p50 <= {AIMS['single_p50_ms']:g} | "
        f"{_met(r.get('p50'), AIMS['single_p50_ms'], False)} |",
        f"| edit -> written (incl. the fake's webhook send) | {e.get('p50')} | {e.get('p90')} | "
        f"{e.get('p99')} | {e.get('max')} | | |",
    ]
    for key, label in (
        ("received_to_quickbooks_read_ms", "received -> QuickBooks read starts"),
        ("quickbooks_read_to_written_ms", "QuickBooks read starts -> written"),
    ):
        part = single.get(key) or {}
        lines.append(
            f"| {label} | {part.get('p50')} | {part.get('p90')} | {part.get('p99')} | "
            f"{part.get('max')} | | |"
        )
    lines += [
        "",
    ]


def _admin_pages(lines: list[str], admin: dict) -> None:
    lines += [
        f"## Admin pages ({admin['mappings']} mappings, {admin['companies']} companies; "
        "server time, in-process)",
        "",
        "| page | median ms | p95 ms | max ms |",
        "|---|---|---|---|",
    ]
    for path, timing in admin["pages"].items():
        lines.append(
            f"| `{path}` | {timing['median_ms']} | {timing['p95_ms']} | {timing['max_ms']} |"
        )
    lines.append("")


def _batch(lines: list[str], batch: dict) -> None:
    """bench/batch.py: backfill, reconcile, real time during a backfill."""
    if "backfill" in batch:
        done = batch["backfill"]
        lines += [
            f"## 5. Backfill of {done['customers']:,} customers",
            "",
            f"{done['seconds']} s; QuickBooks {done['quickbooks_calls']['total']} calls, "
            f"Salesforce {done['salesforce_calls']['total']} calls; peak RSS of the process "
            f"running it {done['memory']['backfill']['peak_tree_rss_mb']} MB; "
            f"counts {done['summary']}; {done.get('accounts_in_salesforce')} accounts in "
            f"Salesforce afterwards; the emulators answering {done.get('emulator_seconds')} s.",
            "",
        ]
    if "reconcile" in batch:
        done = batch["reconcile"]
        lines += [
            f"## 6. Reconcile after {done['missed_changes']:,} missed changes",
            "",
            f"QuickBooks {done['quickbooks_calls']['total']} calls; "
            f"{done['seconds_until_all_right']} s until all {done['accounts_right']} are right.",
            "",
        ]
    if "backfill_realtime" in batch:
        done = batch["backfill_realtime"]
        lines += [
            "## 7. Real-time edits while a backfill runs",
            "",
            f"{done['edits']} edits ({done['missing']} missing), received -> synced "
            f"{done['received_to_synced_ms']} ms; backfill still running after the edits: "
            f"{done['backfill_still_running_after_edits']}.",
            "",
        ]


def _sync_log(lines: list[str], result: dict) -> None:
    lines += [
        f"## Sync log and dashboard with {result['events']:,} events (server time, aim < 100 ms)",
        "",
        "| page | path | median ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for label, timing in result["pages"].items():
        lines.append(
            f"| {label} | `{timing['path']}` | {timing['median_ms']} | {timing['p95_ms']} |"
        )
    lines.append("")


def render(results: dict) -> str:
    machine = results.get("machine", {})
    lines = [
        f"# Benchmark results {results.get('started_at')}",
        "",
        f"Command: `{results.get('command')}`; {machine.get('cpus')} CPUs "
        f"({machine.get('cpu_model')}), load average at start "
        f"{' '.join(machine.get('load_average_at_start', []))}; took {results.get('seconds')} s.",
        f"Commit {results.get('revision', {}).get('commit', '?')[:12]}; uncommitted changes in "
        f"gateway/ or tests/fakes/: {results.get('revision', {}).get('uncommitted_changes_in')}.",
        "",
    ]
    if "admin_pages" in results:
        _admin_pages(lines, results["admin_pages"])
    if "ingest" in results:
        _ingest(lines, results["ingest"])
        _context(lines, results["ingest"].get("context_run"))
    if "burst_create" in results:
        _burst(lines, "2a. Burst: 1,000 new customers (end to end)", results["burst_create"])
    if "burst_edit" in results:
        _burst(lines, "2b. Burst: bulk edit of 1,000 customers (end to end)", results["burst_edit"])
    if "burst_edit_latency" in results:
        _burst(
            lines,
            f"2c. Bulk edit with emulator latency "
            f"{results['burst_edit_latency']['emulator_latency_ms']:g} ms",
            results["burst_edit_latency"],
        )
    if "burst_edit_aggregated" in results:
        _burst(
            lines,
            f"2d. Bulk edit, webhooks aggregated over "
            f"{results['burst_edit_aggregated']['webhook_batch_ms']:g} ms (as Intuit does)",
            results["burst_edit_aggregated"],
        )
    if "single" in results:
        _single(lines, results["single"])
    if "to_quickbooks" in results:
        _to_quickbooks(lines, results["to_quickbooks"])
    if "batch" in results:
        _batch(lines, results["batch"])
    if "sync_log" in results:
        _sync_log(lines, results["sync_log"])
    for note in results.get("notes") or []:
        lines.append(f"- note: {note}")
    for problem in results.get("problems") or []:
        lines.append(f"- PROBLEM: {problem}")
    return "\n".join(lines) + "\n"


def _to_quickbooks(lines: list[str], run: dict) -> None:
    accounts = run.get("accounts_200", {})
    qbo, sf = accounts.get("quickbooks_calls", {}), accounts.get("salesforce_calls", {})
    aims = accounts.get("aims", {})
    lines += [
        "## 5. Salesforce -> QuickBooks",
        "",
        f"Changes delivered by {run.get('delivered_by')}.",
        "",
        "| measure | value | aim |",
        "|---|---|---|",
        f"| {accounts.get('accounts')} Accounts in one transaction: seconds until all are right "
        f"in QuickBooks | {accounts.get('seconds_until_all_right')} | |",
        f"| QuickBooks calls (read/write) | {qbo.get('total')} ({qbo.get('read')}/"
        f"{qbo.get('write')}) | <= {aims.get('quickbooks_calls')} |",
        f"| Salesforce calls (read/write) | {sf.get('total')} ({sf.get('read')}/"
        f"{sf.get('write')}) | <= {aims.get('salesforce_calls')} |",
    ]
    opportunities = run.get("opportunity_10_lines", {})
    latency = opportunities.get("callout_to_invoice_ms", {})
    lines += [
        f"| Opportunity with {opportunities.get('lines_each')} lines: callout received -> "
        f"Invoice written, p50 / p90 ms ({latency.get('count')} runs) | {latency.get('p50')} / "
        f"{latency.get('p90')} | |",
        "",
    ]

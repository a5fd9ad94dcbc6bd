"""`python -m bench`: run the benchmarks, write bench/results/*.json and a summary.

BENCH_ONLY=ingest,burst,single,burst_latency,burst_aggregated,admin_pages,sync_log,
to_quickbooks,batch picks a subset (default: all); batch is bench/batch.py (backfill, reconcile,
real time during a backfill).
Other knobs are environment variables read in bench/stack.py, bench/ingest.py and bench/e2e.py.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from . import admin_pages, batch, e2e, ingest, report, sync_log, to_quickbooks
from .procs import Processes, free_port
from .stack import REPO, Options, Stack

RESULTS = Path(__file__).with_name("results")
ALL = (
    "ingest",
    "burst",
    "single",
    "burst_latency",
    "burst_aggregated",
    "admin_pages",
    "sync_log",
    "to_quickbooks",
    "batch",
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _machine() -> dict:
    with open("/proc/cpuinfo") as cpuinfo:
        models = [
            line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
        ]
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": models[0] if models else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": load,
    }


def _revision() -> dict:
    """The commit measured, and whether the shared working tree differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout

    # Porcelain lines are "XY path"; the leading status column may be a space.
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "gateway", "tests/fakes")
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "uncommitted_changes_in": sorted({line[3:] for line in changed.splitlines()}),
    }


def _stop(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    only = [name for name in os.environ.get("BENCH_ONLY", ",".join(ALL)).split(",") if name]
    unknown = set(only) - set(ALL)
    if unknown:
        print(f"unknown BENCH_ONLY entries: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    pid_file = Path(os.environ.get("BENCH_PID_FILE", work_dir / "pids"))
    processes = Processes(pid_file, RESULTS / "logs" / stamp)
    stack = Stack(Options(), processes)
    results: dict = {
        "started_at": stamp,
        "command": os.environ.get("BENCH_COMMAND", "python -m bench"),
        "machine": _machine(),
        "revision": _revision(),
        "only": only,
        "notes": stack.notes,
        "problems": [],
    }
    started = time.monotonic()
    try:
        log(f"database {stack.options.database}, Redis DB {stack.options.redis_db}")
        if "admin_pages" in only:
            # Its own database and in-process app: runs before the stack starts its processes.
            results["admin_pages"] = admin_pages.run(stack.options, log)
        if "sync_log" in only:  # the same: its own database, in-process
            results["sync_log"] = sync_log.run(stack.options, log)
        stack.recreate_database()
        stack.flush_redis()
        try:
            stack.start_emulators()
            stack.connect()
        except Exception as exc:  # the emulators are still being finished by others
            results["problems"].append(f"emulators unavailable: {exc}")
            log(f"emulators unavailable, only the ingest benchmark can run: {exc}")
            processes.stop("fakes")
            stack.fakes = None
            stack.connect_without_emulators("9130350000000001")
            stack.notes.append(
                "The company row was written directly (emulators unavailable), not by "
                "`flask connect quickbooks`."
            )
            only = [name for name in only if name == "ingest"]
        stack.start_web("web", "wsgi:app", stack.gateway_port)
        log(f"gateway on {stack.gateway_url}")
        if "ingest" in only:
            bare_port = free_port()
            stack.start_web("bare", "bench.bare_app:app", bare_port)
            log(f"bare Flask endpoint on port {bare_port}")
            results["ingest"] = ingest.run(stack, bare_port, work_dir, log)
            processes.stop("bare")
        own_runners = ("ingest", "admin_pages", "sync_log", "to_quickbooks", "batch")
        e2e_only = [name for name in only if name not in own_runners]
        if e2e_only:
            results.update(e2e.run(stack, e2e_only, log, results["problems"]))
        if "to_quickbooks" in only:
            results["to_quickbooks"] = to_quickbooks.run(stack, log, results["problems"])
        if "batch" in only:
            results["batch"] = batch.run(stack, list(batch.ALL), log, results["problems"])
    except KeyboardInterrupt as exc:
        results["problems"].append(f"interrupted: {exc}")
        log(f"interrupted: {exc}")
    except Exception as exc:
        results["problems"].append(f"failed: {exc!r}")
        log(f"failed: {exc!r}")
        raise
    finally:
        processes.stop_all()
        results["seconds"] = round(time.monotonic() - started, 1)
        try:
            stack.flush_redis()
            stack.drop_database()
        except Exception as exc:  # report, but never hide the results
            results["problems"].append(f"cleanup: {exc!r}")
        path = RESULTS / f"{stamp}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
        shutil.rmtree(work_dir, ignore_errors=True)
        summary = report.render(results)
        (RESULTS / "summary.md").write_text(summary)
        print(summary)
        log(f"results: {path.relative_to(REPO)}, bench/results/summary.md")
    return 0 if not results["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Throughput: wrk, closed loop (each connection sends its next request when the last answers)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

LUA = Path(__file__).with_name("wrk_webhooks.lua")


def run_wrk(url: str, bodies_file: Path, threads: int, connections: int, seconds: float) -> dict:
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
        "--",
        str(bodies_file),
        str(threads),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result line:\n{done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("BENCH_JSON "))
    errors = result["errors"]
    good = result["requests"] - errors["status"]
    seconds_measured = result["duration_us"] / 1e6
    return {
        "command": " ".join(argv),
        "requests": result["requests"],
        "non_2xx": errors["status"],
        "socket_errors": {k: v for k, v in errors.items() if k != "status"},
        "wrapped": result["wrapped"],
        "seconds": round(seconds_measured, 3),
        "requests_per_s": round(good / seconds_measured, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in result["latency_us"].items()},
    }

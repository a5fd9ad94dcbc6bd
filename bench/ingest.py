"""Benchmark 1: verified single-event webhooks under gunicorn on PostgreSQL + Redis.

Beside the gateway, in the same run and with the same gunicorn config, a bare Flask endpoint
(bench/bare_app.py) takes the same requests; the ratio gateway / bare is what verify -> store ->
enqueue costs. No worker runs: the jobs wait in Redis. Each repetition starts from an empty
inbox and an empty Redis DB.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import bodies
from .closed_loop import run_wrk
from .cpu import CpuMeter
from .open_loop import run_fixed_rate
from .stack import VERIFIER_TOKEN, Stack
from .stats import runs

PATH = "/webhooks/quickbooks"


class Settings:
    repetitions = int(os.environ.get("BENCH_REPETITIONS", "3"))
    throughput_seconds = float(os.environ.get("BENCH_THROUGHPUT_SECONDS", "10"))
    wrk_threads = int(os.environ.get("BENCH_WRK_THREADS", "1"))
    wrk_connections = int(os.environ.get("BENCH_WRK_CONNECTIONS", "16"))
    rate = float(os.environ.get("BENCH_RATE", "300"))
    latency_seconds = float(os.environ.get("BENCH_LATENCY_SECONDS", "20"))
    # One extra fixed-rate run of the gateway at a lower rate, for context (0: skip).
    context_rate = float(os.environ.get("BENCH_CONTEXT_RATE", "150"))
    context_seconds = float(os.environ.get("BENCH_CONTEXT_SECONDS", "10"))
    # Enough distinct bodies that no wrk thread has to start over within a run.
    bodies_per_second = int(os.environ.get("BENCH_BODIES_PER_SECOND", "6000"))


def _load_average() -> list[str]:
    with open("/proc/loadavg") as loadavg:
        return loadavg.read().split()[:3]


def _inbox(stack: Stack) -> dict:
    rows = stack.sql("SELECT status, count(*) FROM events GROUP BY status ORDER BY status")
    return {status: count for status, count in rows}


def _queued_jobs(stack: Stack) -> int:
    import redis

    return redis.Redis.from_url(stack.redis_url).llen("rq:queue:sync")


def _throughput(stack: Stack, server: str, port: int, bodies_file: Path, settings) -> dict:
    with CpuMeter(stack.pid(server), stack.database_pids) as meter:
        result = run_wrk(
            f"http://127.0.0.1:{port}{PATH}",
            bodies_file,
            settings.wrk_threads,
            settings.wrk_connections,
            settings.throughput_seconds,
        )
    result["cpu"] = meter.result(result["requests"])
    return result


def _fixed_rate(stack: Stack, server: str, port: int, requests: list[bytes], rate: float) -> dict:
    with CpuMeter(stack.pid(server), stack.database_pids) as meter:
        result = run_fixed_rate("127.0.0.1", port, requests, rate)
    result["cpu"] = meter.result(result["ok"])
    return result


def _requests(stack: Stack, port: int, tag: str, count: int) -> list[bytes]:
    return [
        bodies.raw_request("127.0.0.1", port, PATH, signature, body)
        for signature, body in bodies.signed_bodies(VERIFIER_TOKEN, stack.realm, tag, count)
    ]


def run(stack: Stack, bare_port: int, work_dir: Path, log) -> dict:
    settings = Settings()
    gateway_port = stack.gateway_port
    count = int(settings.bodies_per_second * settings.throughput_seconds)
    bodies_file = work_dir / "webhooks.txt"
    latency_count = int(settings.rate * settings.latency_seconds)

    log("ingest: warm-up (3 s of wrk on each server, discarded)")
    bodies.write_wrk_file(
        bodies_file, bodies.signed_bodies(VERIFIER_TOKEN, stack.realm, "warm", 20000)
    )
    for port in (gateway_port, bare_port):
        run_wrk(f"http://127.0.0.1:{port}{PATH}", bodies_file, 1, settings.wrk_connections, 3)

    repetitions = []
    for rep in range(1, settings.repetitions + 1):
        one: dict = {}
        stack.reset_inbox()
        bodies.write_wrk_file(
            bodies_file, bodies.signed_bodies(VERIFIER_TOKEN, stack.realm, f"thr{rep}", count)
        )
        one["gateway_throughput"] = _throughput(stack, "web", gateway_port, bodies_file, settings)
        one["gateway_throughput"]["inbox_after"] = _inbox(stack)
        one["gateway_throughput"]["jobs_queued_after"] = _queued_jobs(stack)
        one["bare_throughput"] = _throughput(stack, "bare", bare_port, bodies_file, settings)
        log(
            f"ingest rep {rep}: throughput gateway "
            f"{one['gateway_throughput']['requests_per_s']}/s, "
            f"bare {one['bare_throughput']['requests_per_s']}/s"
        )

        stack.reset_inbox()
        gateway_requests = _requests(stack, gateway_port, f"lat{rep}", latency_count)
        one["gateway_latency"] = _fixed_rate(
            stack, "web", gateway_port, gateway_requests, settings.rate
        )
        one["gateway_latency"]["inbox_after"] = _inbox(stack)
        bare_requests = _requests(stack, bare_port, f"lat{rep}", latency_count)
        one["bare_latency"] = _fixed_rate(stack, "bare", bare_port, bare_requests, settings.rate)
        log(
            f"ingest rep {rep}: at {settings.rate:g}/s gateway p50/p99 "
            f"{one['gateway_latency']['latency_ms'].get('p50')}/"
            f"{one['gateway_latency']['latency_ms'].get('p99')} ms, bare "
            f"{one['bare_latency']['latency_ms'].get('p50')}/"
            f"{one['bare_latency']['latency_ms'].get('p99')} ms"
        )
        one["load_average_after"] = _load_average()
        repetitions.append(one)
    context = None
    if settings.context_rate:
        stack.reset_inbox()
        context_requests = _requests(
            stack, gateway_port, "ctx", int(settings.context_rate * settings.context_seconds)
        )
        context = _fixed_rate(stack, "web", gateway_port, context_requests, settings.context_rate)
        log(
            f"ingest context: at {settings.context_rate:g}/s gateway p50/p99 "
            f"{context['latency_ms'].get('p50')}/{context['latency_ms'].get('p99')} ms"
        )
    stack.reset_inbox()
    bodies_file.unlink(missing_ok=True)
    return {
        "settings": {
            "repetitions": settings.repetitions,
            "throughput_seconds": settings.throughput_seconds,
            "wrk_threads": settings.wrk_threads,
            "wrk_connections": settings.wrk_connections,
            "fixed_rate_per_s": settings.rate,
            "fixed_rate_seconds": settings.latency_seconds,
            "web_concurrency": stack.options.web_concurrency,
            "web_threads": stack.options.web_threads,
        },
        "summary": summarize(repetitions),
        "repetitions": repetitions,
        "context_run": context,
    }


def summarize(repetitions: list[dict]) -> dict:
    def pick(kind: str, *path: str) -> list:
        values = []
        for one in repetitions:
            value = one[kind]
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        return values

    gateway = pick("gateway_throughput", "requests_per_s")
    bare = pick("bare_throughput", "requests_per_s")
    ratios = [g / b if g and b else None for g, b in zip(gateway, bare, strict=True)]
    inserted = [one["gateway_throughput"]["inbox_after"].get("pending", 0) for one in repetitions]
    return {
        "gateway_requests_per_s": runs(gateway, 1),
        "bare_requests_per_s": runs(bare, 1),
        "ratio_gateway_to_bare": runs(ratios, 3),
        "gateway_non_2xx": pick("gateway_throughput", "non_2xx"),
        "gateway_wrapped": pick("gateway_throughput", "wrapped"),
        "gateway_events_stored_pending": inserted,
        "gateway_requests_completed": pick("gateway_throughput", "requests"),
        "gateway_p50_ms": runs(pick("gateway_latency", "latency_ms", "p50")),
        "gateway_p99_ms": runs(pick("gateway_latency", "latency_ms", "p99")),
        "bare_p50_ms": runs(pick("bare_latency", "latency_ms", "p50")),
        "bare_p99_ms": runs(pick("bare_latency", "latency_ms", "p99")),
        "gateway_cpu_ms_per_request": runs(
            pick("gateway_throughput", "cpu", "server_cpu_ms_per_request"), 3
        ),
        "gateway_db_cpu_ms_per_request": runs(
            pick("gateway_throughput", "cpu", "database_cpu_ms_per_request"), 3
        ),
        "bare_cpu_ms_per_request": runs(
            pick("bare_throughput", "cpu", "server_cpu_ms_per_request"), 3
        ),
        "machine_busy_pct_gateway_runs": pick("gateway_throughput", "cpu", "machine_busy_pct"),
        "others_cpu_s_gateway_runs": pick("gateway_throughput", "cpu", "others_cpu_s"),
        "gateway_fixed_rate_ok": pick("gateway_latency", "ok"),
        "bare_fixed_rate_ok": pick("bare_latency", "ok"),
    }

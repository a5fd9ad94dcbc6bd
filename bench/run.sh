#!/usr/bin/env bash
# `make bench`: every benchmark, results in bench/results/ (JSON + summary.md).
# Needs the machine's PostgreSQL (127.0.0.1:5432, trust auth) and Redis (127.0.0.1:6379); uses
# only its own database (qbo_sf_bench) and Redis DB number (13), and drops/flushes them at the end.
# Every process started here is stopped by the trap, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
if ! command -v wrk >/dev/null 2>&1; then
    echo "[bench] installing wrk (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get install -y wrk >/dev/null 2>&1 \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
fi

PID_FILE=$(mktemp -t bench-pids.XXXXXX)
BENCH_PID=""
cleanup() {
    status=$?
    trap - EXIT INT TERM
    if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
        kill -TERM "$BENCH_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$BENCH_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$BENCH_PID" 2>/dev/null || true
    fi
    # Each pid listed leads a process group of its own (gunicorn + workers, RQ + work-horses).
    while read -r pid; do
        [ -n "$pid" ] || continue
        kill -TERM -- "-$pid" 2>/dev/null || true
    done <"$PID_FILE"
    sleep 0.5
    while read -r pid; do
        [ -n "$pid" ] || continue
        kill -KILL -- "-$pid" 2>/dev/null || true
    done <"$PID_FILE"
    rm -f "$PID_FILE"
    exit "$status"
}
trap cleanup EXIT INT TERM

export BENCH_PID_FILE="$PID_FILE"
export BENCH_COMMAND="${BENCH_COMMAND:-make bench}"
"$PYTHON" -m bench &
BENCH_PID=$!
wait "$BENCH_PID"

"""Where a webhook's time goes: the gateway's request path in-process, under cProfile.

`python -m bench.profile_ingest` (not part of `make bench`). No HTTP server: Flask's test client
calls the real view against a scratch PostgreSQL database and the bench's Redis DB, so what is
left is the app's own work per request (verify, parse, classify, store, commit, enqueue).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time

import psycopg
import redis

from . import bodies
from .stack import MAPPING_YAML, VERIFIER_TOKEN, Options

REALM = "9130350000000001"
WARM, MEASURED = 300, 2000

# The parts of the request path worth naming, by function (file suffix, function name).
PARTS = {
    "verify signature": ("gateway/inbound/signatures.py", "verify_intuit"),
    "parse body": ("gateway/inbound/quickbooks_format.py", "parse"),
    "classify (company + mapping lookups)": ("gateway/inbound/quickbooks.py", "classify"),
    "store (insert + commit)": ("gateway/inbox.py", "store"),
    "enqueue (Redis)": ("gateway/queue.py", "schedule_syncs"),
    "waiting on PostgreSQL (psycopg wait)": ("psycopg/connection.py", "wait"),
    "SQL compiled afresh (not from the cache)": ("sqlalchemy/sql/elements.py", "_compiler"),
    "whole view": ("gateway/inbound/quickbooks.py", "receive"),
}


def main() -> int:
    options = Options()
    database = options.database + "_profile"
    admin = f"{options.pg_base}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    redis_url = f"{options.redis_base}/{options.redis_db}"
    os.environ.update(
        DATABASE_URL=f"{options.pg_base}/{database}",
        REDIS_URL=redis_url,
        SECRET_KEY="bench-secret-key",
        ADMIN_PASSWORD="bench-admin-password",
        QBO_WEBHOOK_VERIFIER_TOKENS=VERIFIER_TOKEN,
    )
    try:
        return _profile()
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _profile() -> int:
    from flask_migrate import upgrade

    from gateway import create_app, sync_config
    from gateway.extensions import db
    from gateway.models import Company, ObjectMapping

    app = create_app()
    with app.app_context():
        upgrade()
        db.session.add(Company(realm_id=REALM, name="Bench Co"))
        for spec in sync_config.parse_config(MAPPING_YAML.read_text()):
            row = ObjectMapping()
            row.apply_spec(spec)
            db.session.add(row)
        db.session.commit()
    client = app.test_client()
    pairs = list(bodies.signed_bodies(VERIFIER_TOKEN, REALM, "profile", WARM + 2 * MEASURED))

    def post(pair: tuple[str, bytes]) -> None:
        signature, body = pair
        response = client.post(
            "/webhooks/quickbooks", data=body, headers={"intuit-signature": signature}
        )
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code} {response.text}")

    for pair in pairs[:WARM]:
        post(pair)
    started = time.perf_counter()
    for pair in pairs[WARM : WARM + MEASURED]:
        post(pair)
    wall_ms = (time.perf_counter() - started) * 1000 / MEASURED
    profiler = cProfile.Profile()
    profiler.enable()
    for pair in pairs[WARM + MEASURED :]:
        post(pair)
    profiler.disable()
    stats = pstats.Stats(profiler)
    view = _cumulative(stats, *PARTS["whole view"])
    print(f"wall time per request, unprofiled, one thread: {wall_ms:.2f} ms")
    print(f"share of the view's profiled time ({MEASURED} requests):")
    for name, (path, function) in PARTS.items():
        seconds = _cumulative(stats, path, function)
        calls = _calls(stats, path, function) / MEASURED
        print(f"  {name:40s} {100 * seconds / view:5.1f} %  ({calls:g} calls per request)")
    stats.sort_stats("cumulative").print_stats(25)
    return 0


def _calls(stats: pstats.Stats, path: str, function: str) -> int:
    return sum(
        entry[1]
        for (filename, _line, name), entry in stats.stats.items()
        if filename.endswith(path) and name == function
    )


def _cumulative(stats: pstats.Stats, path: str, function: str) -> float:
    return sum(
        entry[3]
        for (filename, _line, name), entry in stats.stats.items()
        if filename.endswith(path) and name == function
    )


if __name__ == "__main__":
    sys.exit(main())

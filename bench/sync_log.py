"""Server time of the dashboard and the sync log with 1,000,000 events in PostgreSQL (issue 8
item 8; aim: median under 100 ms each). In-process with Flask's test client, so the time is the
gateway's own work (sign-in check, queries, rendering), not the network's.

The inbox is filled in SQL (INSERT ... SELECT generate_series), spread over the last 30 days:
about 33,000 events in the dashboard's 24 hours, 3 % failed with five causes, 1 % pending, a
tenth of the events with an attempt row, 200,000 record links.

    python -m bench.sync_log          (also part of `make bench`: BENCH_ONLY=sync_log)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import psycopg

from gateway import create_app
from gateway.extensions import db

from .admin_pages import PASSWORD, _signed_in, _time
from .stack import Options

EVENTS = int(os.environ.get("BENCH_SYNC_LOG_EVENTS", "1000000"))
COMPANIES = 5
RECORDS = 200_000
DAYS = 30

# $1 = number of events. Statuses by i % 100: 0-2 failed, 3 pending, 4-5 ignored, 6-9 skipped,
# the rest synced; entities and companies cycle; record ids repeat (several events a record).
FILL_EVENTS = """
INSERT INTO events (id, source, dedupe_key, company_id, account_id, entity, record_id,
    operation, sync_key, status, reason, failure_cause, attempts, retryable, payload,
    received_at, updated_at)
SELECT i,
    CASE WHEN i % 10 = 0 THEN 'salesforce' ELSE 'quickbooks' END,
    'bench-' || i,
    1 + i % {companies},
    '91303500000' || lpad((i % {companies})::text, 5, '0'),
    (ARRAY['Customer', 'Invoice', 'Item', 'Payment'])[1 + (i / 7) % 4],
    ((i::bigint * 7919) % {records})::text,
    'update',
    'qbo:' || (1 + i % {companies}) || ':' ||
        (ARRAY['Customer', 'Invoice', 'Item', 'Payment'])[1 + (i / 7) % 4],
    CASE WHEN i % 100 < 3 THEN 'failed' WHEN i % 100 = 3 THEN 'pending'
         WHEN i % 100 < 6 THEN 'ignored' WHEN i % 100 < 10 THEN 'skipped' ELSE 'synced' END,
    CASE WHEN i % 100 < 3 THEN
        'REQUIRED_FIELD_MISSING: Required fields are missing: [Name] (fields: Name) #' || i
        ELSE 'updated 001' || lpad(i::text, 12, '0') END,
    CASE WHEN i % 100 < 3 THEN
        (ARRAY['REQUIRED_FIELD_MISSING on Account.Name', 'INVALID_FIELD on Account.Foo__c',
               'STRING_TOO_LONG on Account.BillingCity', 'QuickBooks 500: … (intuit_tid …)',
               'ambiguous match: … Account records match (…)'])[1 + (i / 3) % 5]
    END,
    1 + i % 3,
    CASE WHEN i % 100 < 3 THEN false END,
    '{{"eventNotifications": [{{"realmId": "9130", "dataChangeEvent": {{"entities": '
        || '[{{"name": "Customer", "id": "' || i || '", "operation": "Update"}}]}}}}]}}',
    now() - make_interval(secs => ({events} - i) * {seconds_per_event}),
    now() - make_interval(secs => ({events} - i) * {seconds_per_event})
FROM generate_series(1, {events}) AS i
"""
FILL_ATTEMPTS = """
INSERT INTO event_attempts (event_id, attempted_at, outcome, reason, error_code,
    error_message, target_object, target_id, source, written)
SELECT id, received_at, status, reason,
    CASE WHEN status = 'failed' THEN 'REQUIRED_FIELD_MISSING' END,
    CASE WHEN status = 'failed' THEN 'Required fields are missing: [Name]' END,
    'Account', '001' || lpad(id::text, 12, '0'),
    '{"Id": "' || record_id || '", "DisplayName": "Customer ' || record_id || '"}',
    '{"Name": "Customer ' || record_id || '", "BillingCity": "Leeds"}'
FROM events WHERE id % 10 = 0 OR status = 'failed'
"""
FILL_LINKS = """
INSERT INTO record_links (mapping_id, company_id, quickbooks_id, salesforce_id, deleted,
    updated_at)
SELECT 1, 1 + i % {companies}, i::text, '001' || lpad(i::text, 15, '0'), false, now()
FROM generate_series(0, {records} - 1) AS i
"""


def _seed(database_url: str, log: Callable[[str], None]) -> None:
    from flask_migrate import upgrade

    upgrade()
    started = time.monotonic()
    # Straight through psycopg: the statements are plain SQL with no parameters.
    with psycopg.connect(database_url, autocommit=True) as connection:
        for number in range(COMPANIES):
            connection.execute(
                "INSERT INTO companies (id, realm_id, name, is_default, status, created_at, "
                "updated_at) VALUES (%s, %s, %s, false, 'connected', now(), now())",
                (number + 1, f"91303500000{number:05d}", f"Company {number}"),
            )
        connection.execute(
            "INSERT INTO object_mappings (id, name, quickbooks_type, salesforce_object, "
            "direction, realtime, spec, updated_at) VALUES (1, 'customers', 'Customer', "
            "'Account', 'quickbooks_to_salesforce', true, '{}', now())"
        )
        seconds_per_event = DAYS * 86400 / EVENTS
        fills = (
            FILL_EVENTS.format(
                companies=COMPANIES,
                records=RECORDS,
                events=EVENTS,
                seconds_per_event=seconds_per_event,
            ),
            FILL_ATTEMPTS,
            FILL_LINKS.format(companies=COMPANIES, records=RECORDS),
            "SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events))",
            "VACUUM ANALYZE events",
            "VACUUM ANALYZE event_attempts",
            "VACUUM ANALYZE record_links",
        )
        for statement in fills:
            connection.execute(statement.encode())  # bytes: no placeholder parsing
    log(f"sync log: {EVENTS} events filled in {time.monotonic() - started:.1f} s")


def _pages() -> dict[str, str]:
    failed_id = db.session.execute(
        db.text("SELECT max(id) FROM events WHERE status = 'failed'")
    ).scalar_one()
    record = db.session.execute(
        db.text("SELECT record_id FROM events WHERE id = :id"), {"id": failed_id}
    ).scalar_one()
    return {
        "dashboard": "/admin/",
        "log first page": "/admin/log",
        "filtered page": "/admin/log?status=failed&company=9130350000000002&object=Invoice",
        "filtered page, rare combination": "/admin/log?status=pending&object=Payment&since=7d",
        "search by QuickBooks id": f"/admin/log?q={record}",
        "search by Salesforce id": "/admin/log?q=001000000000012345",
        "event detail": f"/admin/log/{failed_id}",
        "retry-all count": "/admin/log/retry-all?status=failed",
    }


def run(options: Options, log: Callable[[str], None]) -> dict:
    name = f"{options.database}_sync_log"
    admin_url = f"{options.pg_base}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"{options.pg_base}/{name}",
            "REDIS_URL": f"{options.redis_base}/{options.redis_db}",
            "SECRET_KEY": "bench-secret",
            "ADMIN_PASSWORD": PASSWORD,
            "QBO_WEBHOOK_VERIFIER_TOKENS": ["bench"],
        }
    )
    results: dict = {"events": EVENTS, "days": DAYS, "pages": {}}
    try:
        with app.app_context():
            _seed(f"{options.pg_base}/{name}", log)
            client = _signed_in(app)
            for label, path in _pages().items():

                def fetch(path=path):
                    response = client.get(path)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path} answered {response.status_code}")

                timing = _time(fetch)
                results["pages"][label] = {"path": path, **timing}
                log(f"sync log {label}: median {timing['median_ms']} ms")
            db.session.remove()
            db.engine.dispose()
    finally:
        if not options.keep_database:
            with psycopg.connect(admin_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def main() -> None:
    import json

    print(json.dumps(run(Options(), print), indent=2))


if __name__ == "__main__":
    main()

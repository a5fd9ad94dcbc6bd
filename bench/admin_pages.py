"""Server time of the admin pages with 50 mappings and 5 companies (issue 7 item 9; aim: median
under 50 ms). In-process with Flask's test client, so the time is the gateway's own work
(routing, sign-in check, queries, completeness checks, rendering), not the network's.

The Salesforce describes are in the shared cache, as they are on any page view within
gateway.connectors.salesforce.DESCRIBE_TTL of the previous one; a cold cache adds one describe call
per Salesforce object once.

    python -m bench.admin_pages          (also part of `make bench`: BENCH_ONLY=admin_pages)
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

import psycopg
import redis

from gateway import create_app, queue, sync_config
from gateway.connectors.salesforce import describe_cache_key, trimmed_field
from gateway.extensions import db
from gateway.models import Company, ObjectMapping, SalesforceOrg
from tests.fakes.salesforce_schema import default_objects

from .stack import Options

COMPANIES = 5
MAPPINGS = 50
WARMUP = 5
ROUNDS = 40
PAGES = (
    "/admin/realtime",
    "/admin/mappings",
    "/admin/mappings/1",
    "/admin/connections",
    "/admin/setup",
)
PASSWORD = "bench-admin-password"  # noqa: S105
ORG_ID = "00DBENCH000000001"
# (QuickBooks entity, Salesforce object, fields) — complete mappings against the describe.
KINDS = (
    ("Customer", "Account", "{quickbooks: DisplayName, salesforce: Name}"),
    ("Vendor", "Account", "{quickbooks: DisplayName, salesforce: Name}"),
    ("Item", "Product2", "{quickbooks: Name, salesforce: Name}"),
    ("Employee", "Contact", "{quickbooks: FamilyName, salesforce: LastName}"),
    (
        "Invoice",
        "Opportunity",
        "{quickbooks: DocNumber, salesforce: Name}, {quickbooks: TxnDate, salesforce: CloseDate}, "
        "{salesforce: StageName, default: Closed Won}",
    ),
)


def _config_text() -> str:
    lines = ["mappings:"]
    for number in range(MAPPINGS):
        entity, sobject, fields = KINDS[number % len(KINDS)]
        lines += [
            f"  - name: m{number:02d}",
            f"    quickbooks: {entity}",
            f"    salesforce: {sobject}",
            "    direction: quickbooks_to_salesforce",
            f"    realtime: {'true' if number % 2 else 'false'}",
            f"    fields: [{fields}]",
        ]
    return "\n".join(lines) + "\n"


def _seed(app) -> None:
    from flask_migrate import upgrade

    upgrade()
    for number in range(COMPANIES):
        db.session.add(Company(realm_id=f"91303500000{number:05d}", name=f"Company {number}"))
    org = SalesforceOrg(org_id=ORG_ID, instance_url="https://bench.invalid", user_id="005BENCH")
    org.refresh_token = "5Aep-bench-not-a-token"  # noqa: S105
    db.session.add(org)
    for spec in sync_config.parse_config(_config_text()):
        row = ObjectMapping()
        row.apply_spec(spec)
        db.session.add(row)
    db.session.commit()
    version = app.config["SF_API_VERSION"]
    objects = default_objects()
    for name, sobject in objects.items():
        fields = sobject.describe(version)["fields"]
        queue.backend().cache_set(
            describe_cache_key(ORG_ID, name), [trimmed_field(f) for f in fields], 3600
        )
    queue.backend().cache_set(
        describe_cache_key(ORG_ID),
        [{"name": name, "label": sobject.label} for name, sobject in objects.items()],
        3600,
    )


def _signed_in(app):
    client = app.test_client()
    page = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/admin/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    if answer.status_code != 302:
        raise RuntimeError(f"bench sign-in failed: {answer.status_code}")
    return client


def _time(fetch: Callable[[], object]) -> dict:
    for _ in range(WARMUP):
        fetch()
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fetch()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
        "max_ms": round(samples[-1], 2),
        "rounds": ROUNDS,
    }


def run(options: Options, log: Callable[[str], None]) -> dict:
    name = f"{options.database}_admin"
    admin_url = f"{options.pg_base}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    redis_url = f"{options.redis_base}/{options.redis_db}"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"{options.pg_base}/{name}",
            "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-secret",
            "ADMIN_PASSWORD": PASSWORD,
            "QBO_WEBHOOK_VERIFIER_TOKENS": ["bench"],
            "QBO_CLIENT_ID": "bench",
            "QBO_CLIENT_SECRET": "bench",
            "SF_CLIENT_ID": "bench",
            "SF_CLIENT_SECRET": "bench",
        }
    )
    results: dict = {"companies": COMPANIES, "mappings": MAPPINGS, "pages": {}}
    try:
        with app.app_context():
            _seed(app)
            client = _signed_in(app)
            for path in PAGES:

                def fetch(path=path):
                    response = client.get(path)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path} answered {response.status_code}")

                results["pages"][path] = _time(fetch)
                log(f"admin {path}: median {results['pages'][path]['median_ms']} ms")
            db.session.remove()
            db.engine.dispose()
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(Options(), print), indent=2))

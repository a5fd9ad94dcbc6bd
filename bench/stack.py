"""The system under test: a bench database and Redis DB, the emulators, gunicorn and RQ workers.

The shared PostgreSQL and Redis are only touched in the bench's own database and DB number.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from . import emulators
from .procs import Processes, free_port, http_ok, wait_until

REPO = Path(__file__).resolve().parent.parent
VERIFIER_TOKEN = "bench-verifier-token"
CALLOUT_SECRET = "bench-callout-secret"
MAPPING_YAML = Path(__file__).with_name("mapping.yaml")


@dataclass
class Options:
    pg_base: str = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    database: str = os.environ.get("BENCH_DATABASE", "qbo_sf_bench")
    redis_base: str = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
    redis_db: int = int(os.environ.get("BENCH_REDIS_DB", "13"))
    web_concurrency: int = int(os.environ.get("BENCH_WEB_CONCURRENCY", "2"))
    web_threads: int = int(os.environ.get("BENCH_WEB_THREADS", "4"))
    workers: int = int(os.environ.get("BENCH_WORKERS", "1"))
    keep_database: bool = os.environ.get("BENCH_KEEP_DATABASE", "") == "1"


@dataclass
class Stack:
    options: Options
    processes: Processes
    gateway_port: int = field(default_factory=free_port)
    fakes: emulators.Emulators | None = None
    realm: str | None = None
    org: dict | None = None  # the fake org's refresh_token and instance_url
    notes: list[str] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return f"{self.options.pg_base}/{self.options.database}"

    @property
    def redis_url(self) -> str:
        return f"{self.options.redis_base}/{self.options.redis_db}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("QBO_", "SF_", "DATABASE_", "REDIS_", "WEB_", "GUNICORN_"))
        }
        env.update(
            FLASK_APP="wsgi",
            PYTHONUNBUFFERED="1",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            SECRET_KEY="bench-secret-key",
            ADMIN_PASSWORD="bench-admin-password",
            PUBLIC_URL=self.gateway_url,
            QBO_WEBHOOK_VERIFIER_TOKENS=VERIFIER_TOKEN,
            SF_CALLOUT_SECRETS=CALLOUT_SECRET,
            QBO_CLIENT_ID="bench-qbo-client",
            QBO_CLIENT_SECRET="bench-qbo-secret",
            SF_CLIENT_ID="bench-sf-client",
            SF_CLIENT_SECRET="bench-sf-secret",
        )
        if self.fakes is not None:
            env.update(
                QBO_API_BASE=self.fakes.quickbooks_url,
                QBO_TOKEN_URL=self.fakes.quickbooks_url + "/oauth2/v1/tokens/bearer",
                SF_LOGIN_URL=self.fakes.salesforce_url,
                REQUESTS_CA_BUNDLE=self.fakes.ca_bundle,
            )
        env.update(extra)
        return env

    # -- database and Redis --------------------------------------------------------------------

    def recreate_database(self) -> None:
        name = self.options.database
        with psycopg.connect(f"{self.options.pg_base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.flask("db", "upgrade")

    def drop_database(self) -> None:
        if self.options.keep_database:
            return
        with psycopg.connect(f"{self.options.pg_base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.options.database}" WITH (FORCE)')

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query, params or None)
            return cursor.fetchall() if cursor.description else []

    def database_pids(self) -> list[int]:
        """The PostgreSQL backends connected to the bench database (asked from another one)."""
        with psycopg.connect(f"{self.options.pg_base}/postgres", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.options.database,)
            ).fetchall()
        return [pid for (pid,) in rows]

    def flush_redis(self) -> None:
        redis.Redis.from_url(self.redis_url).flushdb()

    def reset_inbox(self, links: bool = False) -> None:
        """Empty the events inbox with its attempts (and the record links) and the bench's Redis
        DB."""
        tables = "events, event_attempts" + (", record_links" if links else "")
        self.sql(f"TRUNCATE {tables} RESTART IDENTITY")
        self.flush_redis()

    # -- the gateway's own tools ---------------------------------------------------------------

    def flask(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            env=self.env(),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"flask {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def start_emulators(self) -> None:
        self.fakes = emulators.start(
            self.processes, REPO, self.env(), self.gateway_url, VERIFIER_TOKEN, CALLOUT_SECRET
        )

    def connect(self) -> None:
        """A company and an org in the emulators, connected the headless way, and the mapping."""
        assert self.fakes is not None
        company = self.fakes.new_company("Bench Co")
        org = self.fakes.new_org()
        self.org = org
        self.realm = company["realmId"]
        self.flask(
            "connect", "quickbooks", "--realm-id", self.realm,
            "--refresh-token", company["refresh_token"],
        )  # fmt: skip
        self.flask("connect", "salesforce", "--refresh-token", org["refresh_token"])
        self.import_mapping()

    def import_mapping(self) -> None:
        self.flask("sync-config", "import", str(MAPPING_YAML))

    def connect_without_emulators(self, realm: str) -> None:
        """Fallback for the ingest benchmark only: the company row, written by the gateway's
        own models, when the emulators cannot be started (no tokens: nothing is synced)."""
        script = (
            "from gateway import create_app\n"
            "from gateway.extensions import db\n"
            "from gateway.models import Company\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            f"    db.session.add(Company(realm_id={realm!r}, name='Bench Co'))\n"
            "    db.session.commit()\n"
        )
        subprocess.run(
            [sys.executable, "-c", script], env=self.env(), cwd=REPO, check=True, timeout=60
        )
        self.realm = realm
        self.import_mapping()

    # -- processes -----------------------------------------------------------------------------

    def start_web(self, name: str, app: str, port: int, **extra: str) -> None:
        env = self.env(
            HOST="127.0.0.1",
            PORT=str(port),
            WEB_CONCURRENCY=str(self.options.web_concurrency),
            WEB_THREADS=str(self.options.web_threads),
            # An empty value is not "off" for gunicorn (it tries to open a file named "").
            GUNICORN_ACCESS_LOG="off",
            **extra,
        )
        argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app]
        self.processes.start(name, argv, env, REPO)
        wait_until(http_ok(f"http://127.0.0.1:{port}/healthz"), 60, f"{name} on port {port}")

    def start_workers(self, count: int | None = None) -> list[int]:
        pids = []
        for n in range(count or self.options.workers):
            process = self.processes.start(
                f"worker{n}", [sys.executable, "worker.py"], self.env(), REPO
            )
            pids.append(process.pid)
        return pids

    def stop_workers(self) -> None:
        for name in [name for name in self.processes.running if name.startswith("worker")]:
            self.processes.stop(name)

    def pid(self, name: str) -> int:
        return self.processes.running[name].pid

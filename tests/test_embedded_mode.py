"""Embedded mode (SQLite, no Redis) under the servers people start it with: the gateway runs
its jobs and sweeper itself under `flask run` as under gunicorn, recovers what a crash left
pending or processing as it starts, and a second embedded process refuses to start."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade

from gateway import embedded
from gateway.extensions import db
from gateway.models import Event, EventStatus, utcnow
from gateway.sync_key import FROM_QUICKBOOKS, SyncKey
from tests.conftest import gateway_settings
from tests.support.processes import Process, environment
from tests.support.scenario import Scenario, connect
from tests.support.services import free_port

CLAIMED_BY_A_DEAD_RUN = "run-that-crashed"
REFUSAL = "Another process already runs the gateway in embedded mode"


@pytest.fixture
def sqlite_gateway(app, make_app, fakes, tmp_path) -> Scenario:
    """A migrated, connected embedded gateway's database that no process serves yet."""
    gateway = make_app(f"sqlite:///{tmp_path / 'gateway.sqlite3'}", None)
    with gateway.app_context():
        upgrade()
        scenario = connect(gateway, gateway.test_cli_runner(), fakes)
        db.session.remove()
    return scenario


def serve(server: str, scenario: Scenario, fakes, log: Path, **extra: str) -> tuple[Process, int]:
    port = free_port()
    settings = gateway_settings(fakes, scenario.app.config["SQLALCHEMY_DATABASE_URI"], None)
    # The real sweeper period: what is recovered here is recovered by the sweep at start-up.
    settings["SWEEPER_INTERVAL_SECONDS"] = 30
    env = environment(
        settings,
        REQUESTS_CA_BUNDLE=fakes.ca_bundle,
        HOST="127.0.0.1",
        PORT=str(port),
        PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
        **extra,
    )
    if server.startswith("flask run"):  # "flask run --debug": with the reloader
        argv = [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(port)]
        argv += server.split()[2:]
    else:
        argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    return Process(argv, env, log), port


def wait_until_serving(process: Process, port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.alive(), process.output()[-3000:]
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                return
        except requests.RequestException:  # not listening yet, or still starting
            time.sleep(0.1)
    raise AssertionError(process.output()[-3000:])


def leave_event(scenario: Scenario, record_id: str, status: str) -> None:
    """An event as a crash leaves it: pending, or processing under a run that is gone."""
    company = scenario.company()
    claimed = status == EventStatus.PROCESSING
    db.session.add(
        Event(
            source="quickbooks",
            dedupe_key=f"left-{record_id}",
            company_id=company.id,
            account_id=company.realm_id,
            entity="Customer",
            record_id=record_id,
            operation="create",
            sync_key=str(SyncKey(FROM_QUICKBOOKS, company.id, "Customer")),
            status=status,
            claimed_at=utcnow() - timedelta(seconds=10) if claimed else None,
            claim_token=CLAIMED_BY_A_DEAD_RUN if claimed else None,
            attempts=1 if claimed else 0,
        )
    )
    db.session.commit()


@pytest.mark.parametrize("server", ["flask run", "gunicorn"])
def test_the_gateway_recovers_what_a_crash_left_as_it_starts(
    server, sqlite_gateway, fakes, tmp_path
):
    gw = sqlite_gateway
    with gw.app.app_context():
        processing = gw.customer(DisplayName="Was Processing Co")
        pending = gw.customer(DisplayName="Was Pending Co")
        leave_event(gw, processing["Id"], EventStatus.PROCESSING)
        leave_event(gw, pending["Id"], EventStatus.PENDING)
        db.session.remove()

    process, _ = serve(server, gw, fakes, tmp_path / "gateway.log")
    try:
        # No request reaches it: recovery must not wait for traffic.
        process.wait_for_output("Running on" if server == "flask run" else "Booting worker", 30)
        with gw.app.app_context():
            deadline = time.monotonic() + 20  # well inside the sweeper's 30 s period
            while {e.status for e in gw.events()} != {EventStatus.SYNCED}:
                assert time.monotonic() < deadline, (
                    [(e.status, e.reason) for e in gw.events()],
                    process.output()[-3000:],
                )
                time.sleep(0.2)
            db.session.remove()
    finally:
        process.stop()
    assert gw.account(processing["Id"])["Name"] == "Was Processing Co"
    assert gw.account(pending["Id"])["Name"] == "Was Pending Co"
    assert "Traceback" not in process.output()
    if server == "gunicorn":  # embedded mode defaults to the one worker it can have
        assert process.output().count("Booting worker") == 1


@pytest.mark.parametrize(
    ("first_server", "second_server"),
    [("flask run", "flask run"), ("gunicorn", "gunicorn"), ("gunicorn", "flask run --debug")],
)
def test_a_second_embedded_process_refuses_to_start_and_says_why(
    first_server, second_server, sqlite_gateway, fakes, tmp_path
):
    first, port = serve(first_server, sqlite_gateway, fakes, tmp_path / "first.log")
    try:
        wait_until_serving(first, port)
        started = time.monotonic()
        second, _ = serve(second_server, sqlite_gateway, fakes, tmp_path / "second.log")
        try:
            assert second.wait(30) != 0
        finally:
            second.stop()
        took = time.monotonic() - started
        output = second.output()
        # The reason in one line, at once: no traceback, no worker booted to fail after 10 s.
        assert took < 8, (took, output)
        assert "Traceback" not in output and "Booting worker" not in output, output
        [refusal] = [line for line in output.splitlines() if REFUSAL in line]
        assert refusal.startswith(f"Error: {REFUSAL}") and "REDIS_URL" in refusal
        if second_server == "gunicorn":
            assert len(output.splitlines()) == 2, output  # gunicorn's "Starting" line, and this
        elif second_server == "flask run":
            assert output.splitlines() == [refusal]

        # A CLI command is no second gateway: migrating while the gateway serves is fine.
        env = environment(
            gateway_settings(fakes, sqlite_gateway.app.config["SQLALCHEMY_DATABASE_URI"], None)
        )
        migrate = Process(
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
            env,
            tmp_path / "migrate.log",
        )
        assert migrate.wait(60) == 0, migrate.output()
        assert "embedded mode: jobs" not in migrate.output()
        migrate.stop()
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
    finally:
        first.stop()
    assert "Traceback" not in first.output()


def test_gunicorn_asked_for_two_embedded_workers_runs_one_and_says_why(
    sqlite_gateway, fakes, tmp_path
):
    server, port = serve(
        "gunicorn", sqlite_gateway, fakes, tmp_path / "gunicorn.log", WEB_CONCURRENCY="2"
    )
    try:
        wait_until_serving(server, port)
        server.wait_for_output("embedded mode: jobs and the sweeper run in this process", 30)
    finally:
        server.stop()
    assert "WEB_CONCURRENCY=2 ignored: without REDIS_URL" in server.output()
    assert server.output().count("Booting worker") == 1
    assert "Traceback" not in server.output()


def test_a_gunicorn_reload_hands_the_runtime_to_the_new_worker(sqlite_gateway, fakes, tmp_path):
    server, port = serve("gunicorn", sqlite_gateway, fakes, tmp_path / "gunicorn.log")
    started = "embedded mode: jobs and the sweeper run in this process"
    try:
        server.wait_for_output(started, 30)
        # A reload starts the new worker before it stops the old one, which holds the lock and
        # finishes its requests first: here one whose body is still arriving.
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(
            b"POST /webhooks/quickbooks HTTP/1.1\r\nHost: gateway\r\nContent-Length: 10\r\n"
            b"Connection: close\r\n\r\n[{"
        )
        time.sleep(0.5)
        os.kill(server.popen.pid, signal.SIGHUP)
        time.sleep(4)  # the new worker is up and waits for the lock
        slow.sendall(b'"a": 1}]')
        assert slow.recv(100).startswith(b"HTTP/1.1 401")  # answered; the old worker leaves
        slow.close()
        deadline = time.monotonic() + 30
        while server.output().count(started) < 2:
            assert time.monotonic() < deadline, server.output()[-3000:]
            assert server.alive(), server.output()[-3000:]
            time.sleep(0.2)
        wait_until_serving(server, port)
    finally:
        server.stop()
    assert "Traceback" not in server.output()


def test_a_reload_whose_old_worker_keeps_the_lock_stops_with_the_reason(
    sqlite_gateway, fakes, tmp_path
):
    server, port = serve("gunicorn", sqlite_gateway, fakes, tmp_path / "gunicorn.log")
    try:
        server.wait_for_output("embedded mode: jobs and the sweeper run in this process", 30)
        # A request whose body never comes keeps the old worker (and its lock) past the 10 s
        # the new worker waits: after on_starting's check, the worker is the last to refuse.
        stuck = socket.create_connection(("127.0.0.1", port))
        stuck.sendall(b"POST /webhooks/quickbooks HTTP/1.1\r\nHost: g\r\nContent-Length: 9\r\n\r\n")
        time.sleep(0.5)
        os.kill(server.popen.pid, signal.SIGHUP)
        assert server.wait(40) != 0
        stuck.close()
    finally:
        server.stop()
    output = server.output()
    assert output.count(REFUSAL) == 1 and "Traceback" not in output, output[-3000:]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_one_embedded_runtime_per_database(database, make_app, database_url, app, tmp_path):
    url = f"sqlite:///{tmp_path / 'one.sqlite3'}" if database == "sqlite" else database_url
    first, second = make_app(url, None), make_app(url, None)
    embedded.check_free(first)  # what gunicorn's master asks: it takes the lock and lets go
    embedded.start(first)
    with pytest.raises(embedded.AnotherEmbeddedProcess, match="REDIS_URL"):
        embedded.check_free(second)
    with pytest.raises(embedded.AnotherEmbeddedProcess, match="REDIS_URL"):
        embedded.start(second)
    with second.app_context():
        assert db.engine.pool.checkedout() == 0  # nothing left open to cross a fork
    embedded.stop(first)
    embedded.start(second)  # the lock went with the first runtime
    embedded.stop(second)


def test_under_any_other_server_the_first_request_starts_it(make_app, app, tmp_path):
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    owner, latecomer = make_app(url, None), make_app(url, None)
    assert embedded.EXTENSION not in owner.extensions  # not on creation, outside `flask run`
    assert owner.test_client().get("/healthz").status_code == 200
    assert embedded.EXTENSION in owner.extensions
    # Too late to refuse: the latecomer keeps answering (and storing) but runs no jobs.
    assert latecomer.test_client().get("/healthz").status_code == 200
    assert latecomer.extensions[embedded.EXTENSION] is False

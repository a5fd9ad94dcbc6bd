"""The Heroku-style deployment: Procfile and app.json are valid, every Procfile process boots
on the local PostgreSQL and Redis under honcho (as Heroku would run them), and stops cleanly."""

from __future__ import annotations

import json
import shlex
import signal
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from alembic.script import ScriptDirectory
from flask_migrate import Migrate

from tests.conftest import VERIFIER_TOKEN, gateway_settings
from tests.support.factories import cloudevent, signed
from tests.support.processes import REPO, Process, environment
from tests.support.services import free_port

CONTRACT_VARIABLES = {
    "SECRET_KEY", "PUBLIC_URL", "ADMIN_USERNAME", "ADMIN_PASSWORD", "QBO_CLIENT_ID",
    "QBO_CLIENT_SECRET", "QBO_ENVIRONMENT", "QBO_WEBHOOK_VERIFIER_TOKENS", "QBO_API_BASE",
    "QBO_AUTH_URL", "QBO_TOKEN_URL", "QBO_REVOKE_URL", "SF_CLIENT_ID", "SF_CLIENT_SECRET",
    "SF_LOGIN_URL", "SF_API_VERSION", "SF_CALLOUT_SECRETS", "MAX_WEBHOOK_BYTES",
    "TOKEN_ENCRYPTION_KEYS",
}  # fmt: skip


def procfile() -> dict[str, str]:
    entries = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def test_procfile_has_web_worker_and_release():
    entries = procfile()
    assert set(entries) == {"web", "worker", "release"}
    assert shlex.split(entries["web"])[:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert entries["worker"] == "python worker.py"
    assert "db upgrade" in entries["release"]


def test_app_json_describes_a_one_click_deploy():
    manifest = json.loads((REPO / "app.json").read_text())
    addons = {addon["plan"].split(":")[0] for addon in manifest["addons"]}
    assert addons == {"heroku-postgresql", "heroku-redis"}
    env = manifest["env"]
    assert set(env) >= CONTRACT_VARIABLES
    assert all(spec.get("description") for spec in env.values())
    assert env["SECRET_KEY"]["generator"] == "secret"
    assert set(manifest["formation"]) == {"web", "worker"}
    assert (REPO / "requirements.txt").exists()  # what the Python buildpack installs


def test_migrations_have_one_head(app):
    directory = app.extensions["migrate"].directory
    config = Migrate().get_config(directory)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.fixture
def deploy_database(database_url):
    # Named after the test database, so suites run side by side never share it.
    base, name = database_url.rsplit("/", 1)
    deploy_name = f"{name}_deploy"
    admin = base + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{deploy_name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{deploy_name}"')
    yield f"{base}/{deploy_name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{deploy_name}" WITH (FORCE)')


def test_every_procfile_process_boots_and_stops_cleanly(
    fakes, deploy_database, redis_url, tmp_path: Path
):
    # The suite's own Redis DB (flushed by every test), never a fixed number another suite uses.
    settings = gateway_settings(fakes, deploy_database, redis_url)
    redis.Redis.from_url(settings["REDIS_URL"]).flushdb()
    port = free_port()
    env = environment(
        settings,
        REQUESTS_CA_BUNDLE=fakes.ca_bundle,
        PORT=str(port),
        WEB_CONCURRENCY="1",
        PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
    )
    honcho = [sys.executable, "-m", "honcho", "-f", "Procfile"]

    release = Process([*honcho, "start", "release"], env, tmp_path / "release.log")
    assert release.wait(120) == 0, release.output()
    assert "Running upgrade" in release.output()
    release.stop()

    stack = Process(
        [*honcho, "start", "-p", str(port), "web", "worker"], env, tmp_path / "stack.log"
    )
    try:
        stack.wait_for_output("Listening on", 60)  # the RQ worker is up
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, stack.output()[-3000:]
                time.sleep(0.2)
        assert health.json() == {"database": "ok", "redis": "ok"}
        body, headers = signed(
            [cloudevent("123", "Customer", "1", "created", "boot")], VERIFIER_TOKEN
        )
        webhook = requests.post(
            f"http://127.0.0.1:{port}/webhooks/quickbooks", data=body, headers=headers, timeout=5
        )
        assert webhook.status_code == 200
        assert "scheduler" in stack.output().lower()
        stack.signal(signal.SIGTERM)  # what Heroku sends every process of a dyno
        stack.wait(40)
        output = stack.output()
        assert "Warm shut down requested" in output, output[-3000:]  # the worker, gracefully
        assert "Shutting down: Master" in output, output[-3000:]  # gunicorn, gracefully
        assert "Traceback" not in output
    finally:
        stack.stop()

"""Token encryption keys: embedded mode's own random key file, a changed key surfacing as
"reconnect needed" with the setting to restore (nothing lost), and `flask keys rotate`."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from admin.auth import SESSION_SIGNED_IN_AT, SESSION_USER
from gateway import create_app, inbox, queue
from gateway.config import DEVELOPMENT_SECRET_KEY, ConfigError, finish_config, load_config
from gateway.connectors.quickbooks import QuickBooksClient
from gateway.crypto import (
    FROM_KEY_FILE,
    FROM_SECRET_KEY,
    TokenKeyMismatch,
    _fernet_key,
    derived_key,
    load_or_create_key_file,
)
from gateway.extensions import db
from gateway.models import Company, ConnectionStatus, EventStatus, SalesforceOrg
from tests.conftest import gateway_settings
from tests.support.scenario import Scenario, connect

DEV_SECRET_KEY = DEVELOPMENT_SECRET_KEY  # embedded mode's old, public default


def _embedded_app(tmp_path, **overrides):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gateway.sqlite3'}",
            "TOKEN_ENCRYPTION_KEY_FILE": str(tmp_path / "instance" / "token-encryption.key"),
            "SECRET_KEY_FILE": str(tmp_path / "instance" / "secret-key"),
            "TESTING": True,
            **overrides,
        }
    )


def _opens(key: str, ciphertext: str) -> bool:
    try:
        Fernet(_fernet_key(key)).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def test_the_key_file_defaults_to_the_instance_folder(tmp_path):
    config = load_config({}, instance_path=tmp_path)
    assert config["TOKEN_ENCRYPTION_KEY_FILE"] == str(tmp_path / "token-encryption.key")


def test_embedded_mode_makes_a_random_private_key_file_on_first_start(tmp_path):
    first = _embedded_app(tmp_path)
    key_file = tmp_path / "instance" / "token-encryption.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    Fernet(key.encode())  # a real Fernet key
    assert first.config["TOKEN_KEYS"][0] == key
    assert first.config["TOKEN_KEYS_SOURCE"] == FROM_KEY_FILE
    with first.app_context():
        company = Company(realm_id="1")
        company.access_token = "an-access-token"  # noqa: S105
        ciphertext = company.access_token_encrypted
    # Not derivable from the public development SECRET_KEY, nor from any other constant.
    assert not _opens(derived_key(DEV_SECRET_KEY), ciphertext)
    assert _opens(key, ciphertext)
    # The next start reuses the file; another installation gets another key.
    assert _embedded_app(tmp_path).config["TOKEN_KEYS"][0] == key
    assert _embedded_app(tmp_path / "elsewhere").config["TOKEN_KEYS"][0] != key


def _session_cookie(secret_key: str) -> str:
    """An admin session cookie as Flask would sign it with this key."""
    signer = Flask("forger")
    signer.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    return serializer.dumps({SESSION_USER: "admin", SESSION_SIGNED_IN_AT: time.time()})


def _sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and response.location.startswith("/admin/login")


def test_embedded_mode_signs_sessions_with_its_own_random_secret_key(tmp_path):
    embedded = _embedded_app(tmp_path)
    secret_file = tmp_path / "instance" / "secret-key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret_key = embedded.config["SECRET_KEY"]
    assert secret_key == secret_file.read_text().strip() != DEVELOPMENT_SECRET_KEY
    assert _embedded_app(tmp_path).config["SECRET_KEY"] == secret_key  # sessions survive restarts
    with embedded.app_context():
        db.create_all()
        client = embedded.test_client()
        # Anyone could sign a cookie with the old public default: it no longer gets in ...
        client.set_cookie("session", _session_cookie(DEVELOPMENT_SECRET_KEY))
        assert _sent_to_sign_in(client.get("/admin/"))
        # ... while one signed with the instance's own key does (the forgery above was sound).
        client.set_cookie("session", _session_cookie(secret_key))
        assert not _sent_to_sign_in(client.get("/admin/"))
        db.session.remove()
        db.engine.dispose()


def test_a_set_secret_key_is_used_as_it_is(tmp_path):
    assert _embedded_app(tmp_path, SECRET_KEY="mine").config["SECRET_KEY"] == "mine"
    assert not (tmp_path / "instance" / "secret-key").exists()


def test_processes_starting_at_once_share_one_key(tmp_path):
    key_file = tmp_path / "instance" / "token-encryption.key"
    script = (
        "import sys; from pathlib import Path; from gateway.crypto import load_or_create_key_file;"
        " print(load_or_create_key_file(Path(sys.argv[1])))"
    )
    starting = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", script, str(key_file)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in starting}
    assert keys == {key_file.read_text().strip()}
    assert [p.name for p in key_file.parent.iterdir()] == [key_file.name]  # no leftovers


def test_threads_starting_at_once_share_one_key(tmp_path):
    key_file = tmp_path / "instance" / "token-encryption.key"
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: load_or_create_key_file(key_file), range(8)))
    assert keys == {key_file.read_text().strip()}
    assert [p.name for p in key_file.parent.iterdir()] == [key_file.name]


def test_a_damaged_key_file_stops_start_up_naming_the_file(tmp_path):
    key_file = tmp_path / "instance" / "token-encryption.key"
    key_file.parent.mkdir()
    key_file.write_text("not a key\n")
    with pytest.raises(ConfigError, match="token-encryption.key does not hold a Fernet key"):
        _embedded_app(tmp_path)


def test_production_derives_the_key_from_secret_key_and_writes_no_file(tmp_path):
    config = load_config(
        {"DATABASE_URL": "postgresql://h/d", "SECRET_KEY": "s3cret"}, instance_path=tmp_path
    )
    config["TESTING"] = True
    finish_config(config)
    assert config["TOKEN_KEYS"] == [derived_key("s3cret")]
    assert config["TOKEN_KEYS_SOURCE"] == FROM_SECRET_KEY
    assert not (tmp_path / "token-encryption.key").exists()


def test_tokens_stored_before_the_key_file_existed_still_open_and_rotate_onto_it(tmp_path):
    embedded = _embedded_app(tmp_path)
    # What an embedded gateway stored before it had a key file: the development SECRET_KEY's.
    old_cipher = Fernet(_fernet_key(derived_key(DEV_SECRET_KEY)))
    with embedded.app_context():
        db.create_all()
        db.session.add(
            Company(
                realm_id="1",
                access_token_encrypted=old_cipher.encrypt(b"old-access").decode(),
                refresh_token_encrypted=old_cipher.encrypt(b"old-refresh").decode(),
            )
        )
        db.session.commit()
        company = db.session.execute(select(Company)).scalar_one()
        assert (company.access_token, company.refresh_token) == ("old-access", "old-refresh")
        result = embedded.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 2 tokens of 1 connections" in result.output
        db.session.expire_all()
        company = db.session.execute(select(Company)).scalar_one()
        file_key = embedded.config["TOKEN_KEYS"][0]
        assert _opens(file_key, company.access_token_encrypted)
        assert not _opens(derived_key(DEV_SECRET_KEY), company.refresh_token_encrypted)
        assert company.refresh_token == "old-refresh"  # noqa: S105
        db.session.remove()
        db.engine.dispose()


@contextmanager
def _serving(live_gateway, fakes, database_url, redis_url, **overrides):
    """Another app on the same database and Redis (a restart with changed settings)."""
    other = create_app({**gateway_settings(fakes, database_url, redis_url), **overrides})
    previous = live_gateway.app
    with other.app_context():
        live_gateway.app = other
        try:
            yield other
        finally:
            live_gateway.app = previous
            db.session.remove()
            db.engine.dispose()
            other.extensions["gateway_backend"].redis.close()


def _ciphertexts() -> list[tuple[str | None, str | None]]:
    db.session.rollback()
    return [
        (row.access_token_encrypted, row.refresh_token_encrypted)
        for model in (Company, SalesforceOrg)
        for row in db.session.execute(select(model)).scalars()
    ]


def test_a_changed_secret_key_fails_events_as_reconnect_needed_and_loses_nothing(
    app, runner, fakes, database_url, redis_url, live_gateway
):
    gw = connect(app, runner, fakes)
    stored = _ciphertexts()
    with _serving(live_gateway, fakes, database_url, redis_url, SECRET_KEY="a-new-one") as other:
        moved = Scenario(other, gw.platforms, gw.realm)
        customer = moved.customer(DisplayName="Acme Ltd")
        moved.settle()
        [event] = moved.events()
        event_id = event.id
        assert event.status == EventStatus.FAILED
        assert event.retryable is False
        assert event.reason.startswith("reconnect needed: a stored token cannot be decrypted")
        assert "restore the previous SECRET_KEY" in event.reason
        rotated = other.test_cli_runner().invoke(args=["keys", "rotate"])
        assert rotated.exit_code == 1
        assert f"QuickBooks company {gw.realm}: a stored token cannot be decrypted" in (
            rotated.output
        )
        assert "restore the previous SECRET_KEY" in rotated.output
        assert "2 connections could not be decrypted" in rotated.output
    # Nothing was overwritten or marked: the old SECRET_KEY brings everything back.
    assert _ciphertexts() == stored
    assert gw.company().status == ConnectionStatus.CONNECTED
    for key in inbox.retry([event_id]):
        queue.schedule_sync(key)
    gw.settle()
    assert gw.events()[0].status == EventStatus.SYNCED
    assert gw.account(customer["Id"])["Name"] == "Acme Ltd"


def test_keys_rotate_moves_every_token_to_the_newest_key(
    app, runner, fakes, database_url, redis_url, live_gateway
):
    gw = connect(app, runner, fakes)  # tokens under the key derived from SECRET_KEY
    before = {
        model.__name__: (row.access_token, row.refresh_token)
        for model in (Company, SalesforceOrg)
        for row in db.session.execute(select(model)).scalars()
    }
    new_key = Fernet.generate_key().decode()
    keys = [new_key]
    with _serving(live_gateway, fakes, database_url, redis_url, TOKEN_ENCRYPTION_KEYS=keys) as new:
        company = db.session.execute(select(Company)).scalar_one()
        assert company.access_token == before["Company"][0]  # the old key still opens them
        rotated = new.test_cli_runner().invoke(args=["keys", "rotate"])
        assert rotated.exit_code == 0, rotated.output
        assert "Re-encrypted 4 tokens of 2 connections under the newest key" in rotated.output
    for access, refresh in _ciphertexts():
        assert _opens(new_key, access) and _opens(new_key, refresh)
    # SECRET_KEY can now change: the tokens open with the configured key alone.
    with _serving(
        live_gateway,
        fakes,
        database_url,
        redis_url,
        SECRET_KEY="a-new-one",
        TOKEN_ENCRYPTION_KEYS=[new_key],
    ) as other:
        moved = Scenario(other, gw.platforms, gw.realm)
        after = {
            model.__name__: (row.access_token, row.refresh_token)
            for model in (Company, SalesforceOrg)
            for row in db.session.execute(select(model)).scalars()
        }
        assert after == before
        customer = moved.customer(DisplayName="Acme Ltd")
        moved.settle()
        assert moved.account(customer["Id"])["Name"] == "Acme Ltd"


def test_a_refresh_token_no_key_opens_does_not_mark_the_connection_for_reconnecting(
    app, runner, fakes
):
    gw = connect(app, runner, fakes)
    company = gw.company()
    stranger = Fernet(Fernet.generate_key())
    # No access token: the next call refreshes, which needs the refresh token.
    company.access_token_encrypted = company.access_token_expires_at = None
    company.refresh_token_encrypted = stranger.encrypt(b"from-another-key").decode()
    db.session.commit()
    with pytest.raises(TokenKeyMismatch, match="restore the previous SECRET_KEY"):
        QuickBooksClient(gw.company()).refresh()
    # A refused token would mean "reconnect"; this one only needs its key back.
    assert gw.company().status == ConnectionStatus.CONNECTED
    assert gw.platforms.calls("qbo", "auth") == []

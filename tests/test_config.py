"""Settings from the environment, checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import create_app
from gateway.config import ConfigError, finish_config, load_config


def test_embedded_defaults(tmp_path: Path):
    config = load_config({}, instance_path=tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    assert config["REDIS_URL"] is None
    assert config["QBO_API_BASE"] == "https://sandbox-quickbooks.api.intuit.com"
    assert config["SF_API_VERSION"] == "59.0"
    assert config["MAX_WEBHOOK_BYTES"] == 10 * 1024 * 1024
    assert config["QBO_THROTTLE_PAUSE_SECONDS"] == 60.0
    assert config["SWEEPER_INTERVAL_SECONDS"] == 30.0


def test_heroku_postgres_url_is_rewritten_and_lists_are_split(tmp_path: Path):
    config = load_config(
        {
            "DATABASE_URL": "postgres://u:p@h:5432/d",
            "QBO_WEBHOOK_VERIFIER_TOKENS": "a, b,",
            "QBO_ENVIRONMENT": "production",
            "SWEEPER_INTERVAL_SECONDS": "2.5",
        },
        instance_path=tmp_path,
    )
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@h:5432/d"
    assert config["QBO_WEBHOOK_VERIFIER_TOKENS"] == ["a", "b"]
    assert config["QBO_API_BASE"] == "https://quickbooks.api.intuit.com"
    assert config["SWEEPER_INTERVAL_SECONDS"] == 2.5


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"QBO_ENVIRONMENT": "staging"}, "QBO_ENVIRONMENT"),
        ({"SF_API_VERSION": "v59.0"}, "leading 'v'"),
        ({"QBO_API_BASE": "https://host/v3"}, "no path"),
        ({"QBO_MAX_PER_MINUTE": "lots"}, "QBO_MAX_PER_MINUTE must be a int"),
    ],
)
def test_bad_settings_stop_start_up_with_a_message(tmp_path, environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ, instance_path=tmp_path)


def test_production_requires_its_secrets(tmp_path):
    config = load_config({"DATABASE_URL": "postgresql://h/d"}, instance_path=tmp_path)
    with pytest.raises(ConfigError) as error:
        finish_config(config)
    for name in ("SECRET_KEY", "QBO_WEBHOOK_VERIFIER_TOKENS", "ADMIN_PASSWORD"):
        assert name in str(error.value)


def test_oauth_over_http_only_on_loopback(tmp_path):
    local = load_config({"PUBLIC_URL": "http://127.0.0.1:5000"}, instance_path=tmp_path)
    finish_config(local)
    assert local["OAUTH_ALLOW_HTTP"] is True
    public = load_config({"PUBLIC_URL": "http://gateway.example.com"}, instance_path=tmp_path)
    finish_config(public)
    assert public["OAUTH_ALLOW_HTTP"] is False


def test_create_app_takes_overrides_without_touching_the_environment(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db", "TESTING": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("x.db")
    assert app.extensions["gateway_backend"].health() == "not configured"


def test_one_config_error_for_settings_and_the_sync_config_file(tmp_path):
    from gateway import sync_config

    assert sync_config.ConfigError is ConfigError
    with pytest.raises(ConfigError) as setting:
        load_config({"QBO_ENVIRONMENT": "staging"}, instance_path=tmp_path)
    assert setting.value.errors == [str(setting.value)]
    with pytest.raises(ConfigError) as file:
        sync_config.parse_config("mappings: [{name: x}, {name: y}]")
    assert len(file.value.errors) > 1
    assert str(file.value) == "\n".join(file.value.errors)

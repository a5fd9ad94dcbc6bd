"""Every setting of the gateway, read from the environment in one place and checked at start-up.

`load_config()` returns a plain dict that `create_app()` puts into `app.config`; tests pass
overrides to `create_app()` instead of touching `os.environ`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import crypto

QBO_API_BASES = {
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
    "production": "https://quickbooks.api.intuit.com",
}
QBO_AUTH_URL = "https://appcenter.intuit.com/connect/oauth2"
QBO_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"  # noqa: S105 (a URL)
QBO_REVOKE_URL = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
# What an unset SECRET_KEY used to mean in embedded mode; kept only to open tokens stored then.
DEVELOPMENT_SECRET_KEY = "dev-only-not-secret"  # noqa: S105

# Waits, windows and limits. Defaults are the platform's documented values; tests shorten them.
TUNABLES: dict[str, tuple[type, Any]] = {
    "QBO_THROTTLE_PAUSE_SECONDS": (float, 60.0),  # Intuit: after a 429 wait 60 s
    "QBO_MAX_CONCURRENT": (int, 10),
    "QBO_MAX_PER_SECOND": (int, 10),
    "QBO_MAX_PER_MINUTE": (int, 500),
    "QBO_MINOR_VERSION": (int, 75),
    "QBO_TIMEOUT_SECONDS": (float, 120.0),  # Intuit times requests out after 120 s
    "SF_TIMEOUT_SECONDS": (float, 120.0),
    "SWEEPER_INTERVAL_SECONDS": (float, 30.0),
    "COALESCE_WINDOW_MS": (int, 100),
    # How long the webhook edge trusts its cached view of companies and real-time mappings.
    "LOOKUP_CACHE_SECONDS": (float, 2.0),
    "JOB_TIMEOUT_SECONDS": (int, 600),
    # How long a web request waits on Redis to enqueue; what it cannot enqueue, the sweeper does.
    "REDIS_REQUEST_TIMEOUT_SECONDS": (float, 0.5),
    # A sync lock is kept alive by a heartbeat and lapses this soon after its job dies.
    "SYNC_LOCK_SECONDS": (float, 30.0),
    "EVENT_MAX_ATTEMPTS": (int, 8),
    "RETRY_BASE_SECONDS": (float, 30.0),  # backoff: base * 2**(attempt-1), capped at an hour
    "CLAIM_BATCH_SIZE": (int, 1000),
    # Retention (gateway.retention): payloads, then whole rows; failed events are kept.
    "EVENT_PAYLOAD_RETENTION_DAYS": (int, 30),
    "EVENT_RETENTION_DAYS": (int, 90),
    "RETENTION_INTERVAL_SECONDS": (float, 3600.0),
    "RETENTION_BATCH_SIZE": (int, 500),
    "CALLOUT_MAX_SKEW_SECONDS": (int, 300),
    # Batch runs read QuickBooks a page at a time (its query maximum) and commit each page.
    "BATCH_PAGE_SIZE": (int, 1000),
    # The reconciler: how often it runs, and how far each catch-up reaches back before the
    # watermark, for clocks that disagree (changes seen twice are deduplicated).
    "RECONCILE_INTERVAL_SECONDS": (float, 300.0),
    "RECONCILE_OVERLAP_SECONDS": (float, 120.0),
    "MAX_WEBHOOK_BYTES": (int, 10 * 1024 * 1024),
    # Admin sign-in: a session lasts this long (idle or not); failed sign-ins per client address
    # within the window beyond the limit are refused until the window passes.
    "ADMIN_SESSION_MINUTES": (int, 480),
    "LOGIN_MAX_FAILURES": (int, 5),
    "LOGIN_WINDOW_SECONDS": (int, 900),
}


class ConfigError(ValueError):
    """A setting, or the sync-config file, is missing or wrong; the message says where and what
    to do. ``errors`` holds one problem a line, because a file is reported whole (fix in one pass).
    """

    def __init__(self, errors: str | Iterable[str]) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


def _list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _count(name: str, value: str | None) -> int:
    try:
        count = int(value or 0)
    except ValueError:
        count = -1
    if count < 0:
        raise ConfigError(f"{name} must be a whole number (0 or more), got {value!r}")
    return count


def _database_url(value: str | None, instance_path: Path) -> str:
    if not value:
        return f"sqlite:///{instance_path / 'gateway.sqlite3'}"
    return _normalise_database_url(value)


def _normalise_database_url(value: str) -> str:
    # Heroku still hands out postgres://, which SQLAlchemy 2 no longer accepts.
    if value.startswith("postgres://"):
        value = "postgresql://" + value[len("postgres://") :]
    if value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    return value


def _is_loopback_url(url: str | None) -> bool:
    host = urlsplit(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(f"{name} must be scheme://host[:port] with no path, got {value!r}")
    return value.rstrip("/")


def load_config(
    environ: Mapping[str, str] | None = None, instance_path: Path | None = None
) -> dict:
    env = os.environ if environ is None else environ
    instance_path = instance_path or Path.cwd() / "instance"
    qbo_environment = env.get("QBO_ENVIRONMENT", "sandbox")
    if qbo_environment not in QBO_API_BASES:
        raise ConfigError(f"QBO_ENVIRONMENT must be sandbox or production, got {qbo_environment!r}")
    sf_api_version = env.get("SF_API_VERSION", "59.0")
    if sf_api_version.startswith("v"):
        raise ConfigError("SF_API_VERSION is a number like 59.0, without a leading 'v'")
    config: dict[str, Any] = {
        "SECRET_KEY": env.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": _database_url(env.get("DATABASE_URL"), instance_path),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "PUBLIC_URL": (env.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/"),
        "ADMIN_USERNAME": env.get("ADMIN_USERNAME", "admin"),
        "ADMIN_PASSWORD": env.get("ADMIN_PASSWORD"),
        "QBO_CLIENT_ID": env.get("QBO_CLIENT_ID", ""),
        "QBO_CLIENT_SECRET": env.get("QBO_CLIENT_SECRET", ""),
        "QBO_ENVIRONMENT": qbo_environment,
        "QBO_WEBHOOK_VERIFIER_TOKENS": _list(env.get("QBO_WEBHOOK_VERIFIER_TOKENS")),
        "QBO_API_BASE": _base_url(
            "QBO_API_BASE", env.get("QBO_API_BASE") or QBO_API_BASES[qbo_environment]
        ),
        "QBO_AUTH_URL": env.get("QBO_AUTH_URL", QBO_AUTH_URL),
        "QBO_TOKEN_URL": env.get("QBO_TOKEN_URL", QBO_TOKEN_URL),
        "QBO_REVOKE_URL": env.get("QBO_REVOKE_URL", QBO_REVOKE_URL),
        "SF_CLIENT_ID": env.get("SF_CLIENT_ID", ""),
        "SF_CLIENT_SECRET": env.get("SF_CLIENT_SECRET", ""),
        "SF_LOGIN_URL": _base_url(
            "SF_LOGIN_URL", env.get("SF_LOGIN_URL", "https://login.salesforce.com")
        ),
        "SF_API_VERSION": sf_api_version,
        "SF_CALLOUT_SECRETS": _list(env.get("SF_CALLOUT_SECRETS")),
        "TOKEN_ENCRYPTION_KEYS": _list(env.get("TOKEN_ENCRYPTION_KEYS")),
        # Embedded mode's own random keys, made on first start when the settings are unset.
        "TOKEN_ENCRYPTION_KEY_FILE": str(instance_path / "token-encryption.key"),
        "SECRET_KEY_FILE": str(instance_path / "secret-key"),
        # How many proxies in front of the gateway set X-Forwarded-For/-Proto (Heroku's router:
        # 1). Without it every client has the router's address, so sign-in attempts would be
        # limited for everyone at once; with 0 those headers are ignored (they can be forged).
        "PROXY_HOPS": _count("PROXY_HOPS", env.get("PROXY_HOPS")),
        # No pre-ping: it costs every webhook a round trip. After a database restart the pool
        # is invalidated by the first failing statement (that webhook gets 503 and Intuit
        # resends it); connections are also recycled every 30 minutes.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_recycle": 1800},
    }
    for name, (kind, default) in TUNABLES.items():
        raw = env.get(name)
        try:
            config[name] = default if raw in (None, "") else kind(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from exc
    config["MAX_CONTENT_LENGTH"] = config["MAX_WEBHOOK_BYTES"]
    return config


def _key_file(config: dict, name: str) -> str:
    try:
        return crypto.load_or_create_key_file(Path(config[name]))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from exc


def _token_keys(config: dict, embedded: bool) -> tuple[list[str], str]:
    """The token keys, newest first, and where the newest comes from.

    Keys derived from SECRET_KEY come last, to decrypt only: tokens stored before a key was
    configured (or, in embedded mode, under the old public development SECRET_KEY) still open,
    and `flask keys rotate` moves them to the newest key.
    """
    derived = [crypto.derived_key(config["SECRET_KEY"])]
    configured = config["TOKEN_ENCRYPTION_KEYS"]
    if not embedded:
        source = crypto.FROM_SETTING if configured else crypto.FROM_SECRET_KEY
        return [*configured, *derived], source
    if config["SECRET_KEY"] != DEVELOPMENT_SECRET_KEY:
        derived.append(crypto.derived_key(DEVELOPMENT_SECRET_KEY))
    # Never encrypt under a key derived from SECRET_KEY here: it may be the public default.
    # A key file made earlier keeps opening what it encrypted.
    if configured and not Path(config["TOKEN_ENCRYPTION_KEY_FILE"]).exists():
        return [*configured, *derived], crypto.FROM_SETTING
    file_key = _key_file(config, "TOKEN_ENCRYPTION_KEY_FILE")
    if configured:
        return [*configured, file_key, *derived], crypto.FROM_SETTING
    return [file_key, *derived], crypto.FROM_KEY_FILE


def finish_config(config: dict) -> None:
    """Derive and check what depends on overrides too; called once the app config is complete."""
    config["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(config["SQLALCHEMY_DATABASE_URI"])
    production = config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    embedded = config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    if production and not config.get("TESTING"):
        missing = [
            name
            for name in ("SECRET_KEY", "QBO_WEBHOOK_VERIFIER_TOKENS", "ADMIN_PASSWORD")
            if not config.get(name)
        ]
        if missing:
            raise ConfigError(
                "With DATABASE_URL on PostgreSQL (production) these must be set: "
                + ", ".join(missing)
            )
    if not config.get("SECRET_KEY") and embedded:
        # A public default would let anyone sign an admin session cookie: embedded mode makes
        # its own random key on first start (kept, so sessions survive a restart).
        config["SECRET_KEY"] = _key_file(config, "SECRET_KEY_FILE")
    elif not config.get("SECRET_KEY"):
        # Only a TESTING app on PostgreSQL gets here: production refuses to start without one.
        config["SECRET_KEY"] = DEVELOPMENT_SECRET_KEY
    config["TOKEN_KEYS"], config["TOKEN_KEYS_SOURCE"] = _token_keys(config, embedded)
    config["MAX_CONTENT_LENGTH"] = config["MAX_WEBHOOK_BYTES"]
    # OAuth over plain http is allowed only for a gateway on this machine (make run).
    loopback = _is_loopback_url(config["PUBLIC_URL"])
    config["OAUTH_ALLOW_HTTP"] = loopback and config["PUBLIC_URL"].startswith("http://")
    # Admin session cookie: Secure everywhere but a gateway on this machine served over http.
    config["SESSION_COOKIE_SECURE"] = not loopback
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=config["ADMIN_SESSION_MINUTES"])
    # An admin console left open all day must keep working: the token lives as long as the
    # session (which itself expires).
    config["WTF_CSRF_TIME_LIMIT"] = None

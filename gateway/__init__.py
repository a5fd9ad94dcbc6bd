"""The gateway's application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import finish_config, load_config


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(instance_path=Path(app.instance_path)))
    app.config.update(overrides or {})
    finish_config(app.config)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _configure_logging(app)
    if app.config.get("PROXY_HOPS"):
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    from . import cli, errors, health, oauth, queue
    from .extensions import db, migrate
    from .inbound import quickbooks as quickbooks_webhooks
    from .inbound import salesforce as salesforce_callouts

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    errors.init_app(app)
    health.init_app(app)
    quickbooks_webhooks.init_app(app)
    salesforce_callouts.init_app(app)
    cli.init_app(app)
    oauth.init_app(app)
    queue.init_app(app)

    import admin

    admin.init_app(app)

    from . import embedded

    embedded.init_app(app)  # last: in embedded mode this may start jobs on the finished app
    return app


def _configure_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )

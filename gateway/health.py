"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from sqlalchemy import text

from . import queue
from .extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # any failure to answer means not ready
        db.session.rollback()
        database = "down"
    # Redis down is degraded, not unready: webhooks are still stored and swept later.
    redis_state = queue.backend().health()
    status = 200 if database == "ok" else 503
    return jsonify(database=database, redis=redis_state), status


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

"""The admin pages (HTMX). Connections, mappings, the sync log and batch runs come in later
issues; for now the blueprint only answers that it is not built yet."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
def index():
    return (
        "<!doctype html><title>Gateway admin</title>"
        "<p>The admin pages are not built yet. Use <code>flask connect</code> and "
        "<code>flask sync-config</code> meanwhile.</p>",
        501,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

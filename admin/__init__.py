"""The admin pages: server-rendered HTML with HTMX, behind a sign-in.

Every page renders in full; an HTMX request gets only the block it swaps (see rendering.py).
Modules: auth (sign-in, the guard on /admin and /oauth), csrf (tokens on every unsafe request),
pages (setup), dashboard (home), log (the sync log), connections, mappings, realtime.
"""

from __future__ import annotations

from flask import Blueprint, Flask
from htmx_flask import Htmx

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def init_app(app: Flask) -> None:
    from . import (  # noqa: F401  (they add their routes to bp)
        auth,
        connections,
        csrf,
        dashboard,
        log,
        mappings,
        pages,
        realtime,
        rendering,
        runs,
    )

    Htmx(app)
    auth.init_app(app)  # first: an anonymous request is turned away before anything else
    csrf.init_app(app)
    rendering.init_app(app)
    app.register_blueprint(bp)

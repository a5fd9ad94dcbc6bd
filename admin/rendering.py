"""One template per page; an HTMX request gets just the block it swaps.

Pages extend admin/base.html and put their body in `{% block content %}`. A full request renders
the page; an HTMX request (not a history restore, which needs the whole page) renders only the
named block, so the same URL serves both and every pushed URL still works on a cold load.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, make_response, render_template, request
from htmx_flask import request as htmx_request
from jinja2_fragments.flask import render_block

from gateway.errors import error_response

NAV = (
    ("Home", "/admin/"),
    ("Setup", "/admin/setup"),
    ("Connections", "/admin/connections"),
    ("Mappings", "/admin/mappings"),
    ("Real-Time Configuration", "/admin/realtime"),
    ("Sync log", "/admin/log"),
    ("Batch runs", "/admin/runs"),
)


def wants_fragment() -> bool:
    htmx = htmx_request.htmx
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


def render_page(template: str, block: str = "content", **context) -> Response:
    if wants_fragment():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body)
    # One URL, two representations: caches must keep them apart.
    response.vary.add("HX-Request")
    return response


def bad_request(code: str, message: str, page: Callable[[], Response | str]) -> Response:
    """A JSON error for HTMX (admin.js shows its message; htmx swaps no 4xx) and for scripts
    that ask for JSON; for a person's browser, the page `page` renders showing the message."""
    if wants_fragment() or request.accept_mimetypes.best == "application/json":
        return error_response(400, code, message)
    response = make_response(page())
    response.status_code = 400
    return response


def _nav_items(app: Flask) -> list[tuple[str, str]]:
    """Links to the admin pages that exist in this build (others land in later issues)."""
    if "admin_nav" not in app.extensions:
        paths = {rule.rule for rule in app.url_map.iter_rules()}
        app.extensions["admin_nav"] = [(label, path) for label, path in NAV if path in paths]
    return app.extensions["admin_nav"]


def init_app(app: Flask) -> None:
    @app.context_processor
    def admin_navigation() -> dict:
        if not request.path.startswith("/admin"):
            return {}
        items = _nav_items(app)
        # A page below a section (an event of the sync log, a mapping) marks its section.
        within = [p for _, p in items if request.path == p or request.path.startswith(p + "/")]
        return {
            "nav_items": items,
            "current_path": request.path,
            "current_section": max(within, key=len, default=None),
        }

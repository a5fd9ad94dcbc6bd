"""CSRF tokens on every unsafe request, default-deny.

Flask-WTF's CSRFProtect checks every POST/PUT/PATCH/DELETE unless a view is exempted. The two
machine edges are exempt because their callers cannot hold a session: they prove themselves with
signatures instead. They are exempted by blueprint name and path, so the callout edge is covered
whichever module registers it.
"""

from __future__ import annotations

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from gateway.errors import error_response

csrf = CSRFProtect()

SIGNED_EDGE_BLUEPRINTS = frozenset({"quickbooks_webhooks", "salesforce_callouts"})
SIGNED_EDGE_PATHS = frozenset({"/webhooks/quickbooks", "/callouts/salesforce"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_signed_edge() -> bool:
    return (
        request.blueprint in SIGNED_EDGE_BLUEPRINTS or request.path.rstrip("/") in SIGNED_EDGE_PATHS
    )


def init_app(app: Flask) -> None:
    # CSRFProtect's own before_request cannot exempt by path, so it checks nothing by default
    # and this hook decides; everything unsafe that is not a signed edge is checked.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)

    @app.before_request
    def check_csrf_token() -> None:
        if request.method in UNSAFE_METHODS and not is_signed_edge():
            csrf.protect()

    @app.teardown_request
    def forget_request_token(_exc: BaseException | None) -> None:
        # Flask-WTF caches the token on `g`. Where an app context outlives one request (tests,
        # or a sign-in that starts a new session) that cache would hand one session's token
        # to the next.
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)

    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError):
        message = (
            "The form's security token is missing or stale (sessions end after a while). "
            "Reload the page and try again."
        )
        if request.path.startswith("/admin") and not request.headers.get("HX-Request"):
            return render_template("admin/error.html", title="Form expired", message=message), 400
        return error_response(400, "csrf_failed", message)

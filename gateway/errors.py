"""Every error answer is JSON: {"error": "<short code>", "message": "<what to do>"}."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str):
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response


def _wants_json() -> bool:
    return not request.path.startswith("/admin")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if not _wants_json():
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        if exc.code == 413:
            message = (
                f"The body is larger than {app.config['MAX_WEBHOOK_BYTES']} bytes "
                "(MAX_WEBHOOK_BYTES)."
            )
        else:
            message = exc.description or exc.name
        response = error_response(exc.code or 500, code, message)
        # A 405 must name the allowed methods (RFC 9110); the HTML error page carried them.
        for name, value in exc.get_headers():
            if name.lower() == "allow":
                response.headers[name] = value
        return response

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError):
        # The sender retries on 503; nothing was stored, so nothing is lost.
        log.error("database unavailable: %s", exc.orig)
        return error_response(
            503, "database_unavailable", "The gateway's database is unavailable; retry later."
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            500, "internal_error", "The gateway failed unexpectedly; the error is in its log."
        )

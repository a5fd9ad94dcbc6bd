"""What both fakes share: settings, the calls log, fault injection and the request hooks."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from .oauth import TokenStore
    from .outbox import Outbox


class ControlError(Exception):
    """Bad input to a control endpoint: answered 400 {"error", "message"}."""

    def __init__(
        self, message: str, error: str = "bad_request", status: int = 400, **extra: Any
    ) -> None:
        super().__init__(message)
        self.error, self.message, self.status, self.extra = error, message, status, extra


def control_error_response(exc: ControlError) -> Response:
    resp = jsonify({"error": exc.error, "message": exc.message, **exc.extra})
    resp.status_code = exc.status
    return resp


def json_response(payload: Any, status: int = 200) -> Response:
    """JSON exactly as built (Flask's jsonify would be fine too, but not for lists at 300)."""
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def json_body(required: bool = True) -> Any:
    data = request.get_json(silent=True, force=True)
    if data is None and (required or request.get_data()):
        raise ControlError("the body must be JSON")
    return data


# --- calls log ------------------------------------------------------------------------------


@dataclass
class CallInfo:
    kind: str  # read | write | auth
    company: str | None = None
    started: float = field(default_factory=time.time)


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict] = []

    def add(self, info: CallInfo, status: int) -> None:
        entry = {
            "time": datetime.fromtimestamp(info.started, UTC).isoformat(timespec="milliseconds"),
            "method": request.method,
            "path": request.path,
            "query": request.args.to_dict(),
            "company": info.company,
            "status": status,
            "kind": info.kind,
            "elapsed_ms": round((time.time() - info.started) * 1000, 1),
        }
        with self._lock:
            self._calls.append(entry)

    def list(self) -> list[dict]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


# --- hooks ----------------------------------------------------------------------------------


class FakeBase:
    """What a fake provides to the shared hooks; each fake overrides the hook methods."""

    lock: threading.RLock
    settings: Settings
    calls: CallLog
    tokens: TokenStore
    outbox: Outbox
    deliveries_path: str  # where the control API lists the outbox

    def classify(self) -> CallInfo | None:
        """CallInfo for API and OAuth requests; None for control and unknown paths."""
        raise NotImplementedError

    def fault_response(self, rule: dict) -> Response:
        raise NotImplementedError

    def admit(self, info: CallInfo) -> Response | None:
        return None

    def release(self, info: CallInfo) -> None:
        pass

    def decorate(self, response: Response, info: CallInfo | None) -> None:
        pass

    def clear_state(self) -> None:
        """Forget the platform's data (companies or org); called under the lock."""
        raise NotImplementedError

    def reset(self) -> None:
        with self.lock:
            self.clear_state()
            self.tokens.clear()
            self.calls.clear()
            self.settings.reset()
            self.outbox.reset()


def make_app(name: str, fake: FakeBase, *modules: Any) -> Flask:
    """A Flask app with the shared hooks, then each module's `register(app, fake)` routes."""
    app = Flask(name)
    install_hooks(app, fake)
    for module in modules:
        module.register(app, fake)
    return app


def install_hooks(app: Flask, fake: FakeBase) -> None:
    app.json.sort_keys = False  # keep the platforms' key order
    app.register_error_handler(ControlError, control_error_response)

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        # A bug in a fake should still answer in the platform's error shape, and loudly.
        if isinstance(exc, HTTPException):
            return exc
        app.logger.exception("fake %s crashed on %s %s", app.name, request.method, request.path)
        return fake.fault_response({"status": 500, "detail": f"the fake crashed: {exc!r}"})

    @app.before_request
    def _before() -> Response | None:
        info = g.call = fake.classify()
        if info is None:
            return None
        rule = fake.settings.take_fault(request.method, request.path)
        if rule is not None:
            # A platform that fails is no faster than one that answers.
            _wait_latency()
            return fake.fault_response(rule)
        refused = fake.admit(info)
        if refused is not None:
            return refused
        g.admitted = True
        _wait_latency()
        return None

    def _wait_latency() -> None:
        latency = fake.settings["latency_ms"]
        if latency:
            time.sleep(latency / 1000)

    @app.after_request
    def _after(response: Response) -> Response:
        info = g.get("call")
        if info is not None:
            fake.calls.add(info, response.status_code)
        fake.decorate(response, info)
        return response

    @app.teardown_request
    def _teardown(_exc: BaseException | None) -> None:
        if g.get("admitted"):
            fake.release(g.call)

    @app.post("/_fake/reset")
    def _reset() -> Response:
        fake.reset()
        return jsonify({"reset": True})

    @app.get("/_fake/calls")
    def _calls() -> Response:
        return jsonify(fake.calls.list())

    @app.delete("/_fake/calls")
    def _clear_calls() -> Response:
        fake.calls.clear()
        return jsonify({"cleared": True})

    @app.get(fake.deliveries_path)
    def _deliveries() -> Response:
        return jsonify(fake.outbox.snapshot())

    @app.get("/_fake/settings")
    def _get_settings() -> Response:
        return jsonify(fake.settings.as_dict())

    @app.post("/_fake/settings")
    def _post_settings() -> Response:
        try:
            return jsonify(fake.settings.update(json_body()))
        except SettingsError as exc:
            raise ControlError(exc.message, error=exc.error) from None

"""What both fakes share: settings, the calls log, fault injection and the request hooks."""

from __future__ import annotations

import copy
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from .oauth import TokenStore
    from .outbox import Outbox


class ControlError(Exception):
    """Bad input to a control endpoint: answered 400 {"error", "message"}."""

    def __init__(self, message: str, error: str = "bad_request", status: int = 400,
                 **extra: Any) -> None:
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


# --- settings -------------------------------------------------------------------------------

def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def number(minimum: float = 0) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ValueError(f"must be a number >= {minimum}")
        return value
    return check


def integer(minimum: int = 0) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"must be an integer >= {minimum}")
        return value
    return check


def choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value
    return check


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def optional_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("must be a string or null")
    return value


def delays(value: Any) -> list[float]:
    if not isinstance(value, list):
        raise ValueError("must be a list of seconds")
    return [number()(v) for v in value]


def str_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings")
    return list(value)


def fail_rules(value: Any) -> list[dict]:
    if not isinstance(value, list):
        raise ValueError("must be a list of rules")
    rules = []
    for raw in value:
        if not isinstance(raw, dict) or not isinstance(raw.get("match", ""), str):
            raise ValueError('each rule is {"match": "<regex>", "status": 429, ...}')
        rule = {"match": ".*", "status": 500, "times": 1, **raw}
        try:
            re.compile(rule["match"])
        except re.error as exc:
            raise ValueError(f"bad regex {rule['match']!r}: {exc}") from None
        integer(100)(rule["status"])
        integer(1)(rule["times"])
        rules.append(rule)
    return rules


COMMON_SETTINGS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "latency_ms": (0, number()),
    "error_rate": (0.0, number()),
    "seed": (None, lambda v: v),
    "fail_next": ([], fail_rules),
    "rotate_refresh_tokens": (True, boolean),
    "gateway_url": (None, optional_str),
    "webhooks_enabled": (True, boolean),
    "webhook_batch_ms": (200, number()),
    "webhook_retry_delays": ([0.1, 0.2, 0.3, 1, 2, 4], delays),
}


class Settings:
    """Current values; `reset()` goes back to the start-up values (gateway URL, secrets)."""

    def __init__(self, spec: dict[str, tuple[Any, Callable[[Any], Any]]], **base: Any) -> None:
        self._spec = {**COMMON_SETTINGS, **spec}
        self._base = {name: default for name, (default, _check) in self._spec.items()}
        self._base.update(base)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._values = copy.deepcopy(self._base)
            self._random = random.Random(self._values["seed"])

    def set_base(self, name: str, value: Any) -> None:
        with self._lock:
            self._base[name] = value
            self._values[name] = value

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def as_dict(self) -> dict:
        with self._lock:
            return copy.deepcopy(self._values)

    def update(self, changes: Any) -> dict:
        if not isinstance(changes, dict):
            raise ControlError("settings are a JSON object")
        checked = {}
        for name, value in changes.items():
            if name not in self._spec:
                raise ControlError(f"unknown setting {name!r}; known: {', '.join(self._spec)}",
                                   error="unknown_setting")
            try:
                checked[name] = self._spec[name][1](value)
            except ValueError as exc:
                raise ControlError(f"setting {name!r} {exc}", error="bad_setting") from None
        with self._lock:
            self._values.update(checked)
            if "seed" in checked:
                self._random = random.Random(checked["seed"])
        return self.as_dict()

    def take_fault(self, method: str, path: str) -> dict | None:
        """Consume one use of the first fail_next rule matching this request."""
        with self._lock:
            for rule in self._values["fail_next"]:
                if rule.get("method", method).upper() != method:
                    continue
                if re.search(rule["match"], path):
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self._values["fail_next"].remove(rule)
                    return dict(rule)
            rate = self._values["error_rate"]
            if rate and self._random.random() < rate:
                return {"status": 500, "random": True}
        return None


# --- calls log ------------------------------------------------------------------------------

@dataclass
class CallInfo:
    kind: str                      # read | write | auth
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
    deliveries_path: str      # where the control API lists the outbox

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
            return fake.fault_response(rule)
        refused = fake.admit(info)
        if refused is not None:
            return refused
        g.admitted = True
        latency = fake.settings["latency_ms"]
        if latency:
            time.sleep(latency / 1000)
        return None

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
        return jsonify(fake.settings.update(json_body()))

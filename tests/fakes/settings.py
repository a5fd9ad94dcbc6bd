"""Settings of a fake: validated on the way in, back to start-up values on reset."""

from __future__ import annotations

import copy
import random
import re
import threading
from collections.abc import Callable
from typing import Any


class SettingsError(Exception):
    def __init__(self, message: str, error: str = "bad_setting") -> None:
        super().__init__(message)
        self.error, self.message = error, message


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
            raise SettingsError("settings are a JSON object", error="bad_request")
        checked = {}
        for name, value in changes.items():
            if name not in self._spec:
                raise SettingsError(
                    f"unknown setting {name!r}; known: {', '.join(self._spec)}",
                    error="unknown_setting",
                )
            try:
                checked[name] = self._spec[name][1](value)
            except ValueError as exc:
                raise SettingsError(f"setting {name!r} {exc}") from None
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

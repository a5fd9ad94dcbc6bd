"""Asynchronous, signed, retried deliveries to the gateway (QBO webhooks, Salesforce callouts).

Events are aggregated for `webhook_batch_ms`, packed into bodies whose bytes never change
afterwards (a retry resends the same event ids, as Intuit does), and sent strictly in order:
a failing delivery holds back the later ones until it succeeds or its retries run out.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from .settings import Settings

MAX_KEPT = 1000  # deliveries listed by the control API; older ones are forgotten


@dataclass
class Delivery:
    body: bytes
    content_type: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: float = field(default_factory=time.time)
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False
    given_up: bool = False
    next_at: float = 0.0

    def as_dict(self) -> dict:
        text = self.body.decode()
        return {
            "id": self.id,
            "body": json.loads(text),
            "raw": text,
            "content_type": self.content_type,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "delivered": self.delivered,
            "given_up": self.given_up,
        }


class Outbox:
    def __init__(
        self,
        settings: Settings,
        path: str,
        pack: Callable[[list[Any]], list[tuple[bytes, str]]],
        sign: Callable[[bytes], dict[str, str]],
        accept: Callable[[int], bool],
    ) -> None:
        self._settings, self._path = settings, path
        self._pack, self._sign, self._accept = pack, sign, accept
        self._cond = threading.Condition()
        self._events: list[Any] = []
        self._first_event_at = 0.0
        self._deliveries: list[Delivery] = []
        self._generation = 0
        self._stopped = False
        self._http = requests.Session()
        self._thread = threading.Thread(target=self._run, name=f"outbox{path}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=15)
        self._http.close()

    def add(self, events: list[Any]) -> None:
        if not events or not self._settings["webhooks_enabled"]:
            return
        with self._cond:
            if not self._events:
                self._first_event_at = time.monotonic()
            self._events.extend(events)
            self._cond.notify_all()

    def reset(self) -> None:
        with self._cond:
            self._generation += 1
            self._events.clear()
            self._deliveries.clear()
            self._cond.notify_all()

    def snapshot(self) -> dict:
        with self._cond:
            pending = len(self._events) + sum(
                1 for d in self._deliveries if not (d.delivered or d.given_up)
            )
            return {"pending": pending, "deliveries": [d.as_dict() for d in self._deliveries]}

    # --- the sender thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                self._package_due_events()
                delivery, wait = self._next_due()
                url = self._url()
                if delivery is None or url is None:
                    self._cond.wait(timeout=wait if delivery is None else 0.2)
                    continue
                generation = self._generation
            outcome = self._attempt(delivery, url)
            with self._cond:
                if generation == self._generation:
                    self._record(delivery, *outcome)

    def _url(self) -> str | None:
        base = self._settings["gateway_url"]
        return base.rstrip("/") + self._path if base else None

    def _package_due_events(self) -> None:
        if not self._events:
            return
        window = self._settings["webhook_batch_ms"] / 1000
        if time.monotonic() - self._first_event_at < window:
            return
        events, self._events = self._events, []
        for body, content_type in self._pack(events):
            self._deliveries.append(Delivery(body=body, content_type=content_type))
        del self._deliveries[:-MAX_KEPT]

    def _next_due(self) -> tuple[Delivery | None, float]:
        """The head of the queue if it is due, else how long to sleep."""
        wait = 1.0
        if self._events:
            window = self._settings["webhook_batch_ms"] / 1000
            wait = max(0.0, self._first_event_at + window - time.monotonic())
        for delivery in self._deliveries:
            if delivery.delivered or delivery.given_up:
                continue
            delay = delivery.next_at - time.monotonic()
            if delay <= 0:
                return delivery, 0.0
            return None, min(wait, delay)
        return None, wait

    def _attempt(self, delivery: Delivery, url: str) -> tuple[int | None, str | None]:
        headers = {"Content-Type": delivery.content_type, **self._sign(delivery.body)}
        try:
            resp = self._http.post(url, data=delivery.body, headers=headers, timeout=10)
        except requests.RequestException as exc:
            return None, f"{type(exc).__name__}: {exc}"
        resp.close()
        return resp.status_code, None

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        delivery.attempts += 1
        delivery.status, delivery.error = status, error
        if status is not None and self._accept(status):
            delivery.delivered = True
            return
        delays = self._settings["webhook_retry_delays"]
        if delivery.attempts > len(delays):
            delivery.given_up = True
        else:
            delivery.next_at = time.monotonic() + delays[delivery.attempts - 1]

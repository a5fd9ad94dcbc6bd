"""What became of one record in a run; the run turns these into its events' states."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    status: str  # synced | skipped | failed
    reason: str | None = None
    retryable: bool = False

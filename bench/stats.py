"""Percentiles and the median-of-runs summaries the reports quote."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation): a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def distribution(values: Sequence[float], digits: int = 2) -> dict:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": round(percentile(values, 50), digits),
        "p90": round(percentile(values, 90), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits),
        "mean": round(statistics.fmean(values), digits),
    }


def runs(values: Sequence[float | None], digits: int = 2) -> dict:
    """The median of repeated runs, with every run and the spread (max - min, and relative)."""
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "runs": list(values)}
    median = statistics.median(present)
    spread = max(present) - min(present)
    return {
        "median": round(median, digits),
        "min": round(min(present), digits),
        "max": round(max(present), digits),
        "spread": round(spread, digits),
        "spread_pct": round(100 * spread / median, 1) if median else None,
        "runs": [None if v is None else round(v, digits) for v in values],
    }

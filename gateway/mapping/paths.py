"""Dotted paths into nested records: "BillAddr.City", "Line.0.Amount" (numeric segments index
lists). SF field names contain no dots, so the same functions serve both sides."""

from collections.abc import Mapping
from typing import Any


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any step along it is absent."""
    current: Any = record
    for segment in path.split("."):
        current = _child(current, segment)
        if current is None:
            return None
    return current


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Store ``value`` at a dotted path, creating dicts (or lists, before a numeric segment)."""
    segments = path.split(".")
    current: Any = target
    for segment, following in zip(segments, segments[1:], strict=False):
        child = _child(current, segment)
        if not isinstance(child, dict | list):
            child = [] if _is_index(following) else {}
            _put(current, segment, child)
        current = child
    _put(current, segments[-1], value)


def _is_index(segment: str) -> bool:
    return segment.isascii() and segment.isdigit()


def _child(container: Any, segment: str) -> Any:
    if isinstance(container, Mapping):
        return container.get(segment)
    if isinstance(container, list) and _is_index(segment) and int(segment) < len(container):
        return container[int(segment)]
    return None


def _put(container: Any, segment: str, value: Any) -> None:
    if isinstance(container, list):
        if not _is_index(segment):
            raise ValueError(f"cannot set {segment!r} on a list")
        index = int(segment)
        container.extend([None] * (index + 1 - len(container)))
        container[index] = value
    else:
        container[segment] = value

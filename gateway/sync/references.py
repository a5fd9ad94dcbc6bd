"""Parents first for Salesforce -> QuickBooks (and a mapping's line items): the Salesforce ids
a batch refers to through lookups, translated to QuickBooks ids through the links, writing in
the same run any parent that is not linked yet (as far as its own mapping allows, which the
caller's `sync_missing` decides). QuickBooks -> Salesforce has its own rules in `parents`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from sqlalchemy import select

from .. import mapping
from ..extensions import db
from ..models import ObjectMapping
from .parents import MAX_PARENT_DEPTH


def needed_references(sources: Iterable[dict], spec: dict, direction: str) -> dict[str, set[str]]:
    """Mapping name -> the source-side ids the records' lookups need translated."""
    needed: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        for reference in mapping.references(source, spec, direction):
            needed[reference.mapping_name].add(str(reference.source_id))
    return needed


def resolve(
    needed: dict[str, set[str]],
    depth: int,
    linked: Callable[[ObjectMapping, set[str]], dict[str, str]],
    sync_missing: Callable[[ObjectMapping, list[str], int], bool],
) -> dict[tuple[str, str], str]:
    """{(mapping name, source id): target id}. `linked` looks ids up in the links;
    `sync_missing(parent, ids, depth)` writes parents that are not linked yet (False when it
    cannot). Anything still missing is left for the mapping to report as unresolved."""
    resolved: dict[tuple[str, str], str] = {}
    for name, ids in needed.items():
        parent = db.session.execute(
            select(ObjectMapping).where(ObjectMapping.name == name)
        ).scalar_one_or_none()
        if parent is None:
            continue
        found = linked(parent, ids)
        missing = ids - found.keys()
        if (
            missing
            and depth < MAX_PARENT_DEPTH
            and sync_missing(parent, sorted(missing), depth + 1)
        ):
            found.update(linked(parent, missing))
        resolved.update({(name, source_id): target for source_id, target in found.items()})
    return resolved

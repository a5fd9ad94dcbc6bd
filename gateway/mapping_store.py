"""The stored object mappings, edited whole: the sync-config file's import and export (the CLI and
the admin's download/upload share them) and the admin editor's save and delete.

Every way in goes through ``gateway.sync_config.parse_config``, so a mapping saved from a page is
validated and normalized exactly as the same mapping in a file would be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import select

from . import sync_config
from .extensions import db
from .models import ObjectMapping
from .sync_config import ConfigError

_FILE_PREFIX = re.compile(r"^line \d+: (mappings\[0\]\.)?")


@dataclass(frozen=True)
class ImportResult:
    created: list[str]
    replaced: list[str]
    unchanged: list[str]
    removed: list[str]

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.replaced)} replaced, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed."
        )


def _rows() -> dict[str, ObjectMapping]:
    return {row.name: row for row in db.session.execute(select(ObjectMapping)).scalars()}


def export_text() -> str:
    """Every mapping as a sync-config file (deterministic)."""
    return sync_config.dump_config(row.spec for row in _rows().values())


def import_text(text: str, prune: bool = False) -> ImportResult:
    """Create or replace each named mapping in ``text`` (and with ``prune`` remove the others),
    then commit. Raises ConfigError, changing nothing, when the file is not valid."""
    rows = _rows()
    imported = sync_config.parse_config(text, known_mapping_names=rows.keys())
    created, replaced, unchanged, removed = sync_config.merge_mappings(
        [row.spec for row in rows.values()], imported, prune
    )
    for spec in created + replaced:
        row = rows.get(spec["name"]) or ObjectMapping()
        row.apply_spec(spec)
        db.session.add(row)
    for name in removed:
        db.session.delete(rows[name])
    db.session.commit()
    return ImportResult(
        [spec["name"] for spec in created], [spec["name"] for spec in replaced], unchanged, removed
    )


def normalize(draft: dict[str, Any], other_names: list[str]) -> dict[str, Any]:
    """One mapping as the file would hold it (the keys of the sync-config sketch), validated and
    normalized by the file's own validator. ConfigError messages name the key at fault relative
    to the mapping (``fields[2].salesforce: ...``), without the file's line numbers."""
    text = yaml.safe_dump({"mappings": [draft]}, sort_keys=False, allow_unicode=True)
    try:
        (spec,) = sync_config.parse_config(text, known_mapping_names=other_names)
    except ConfigError as exc:
        raise ConfigError(_FILE_PREFIX.sub("", error) for error in exc.errors) from None
    return spec


def referrers(name: str) -> list[str]:
    """Names of the other mappings whose lookups point at mapping ``name``."""
    return sorted(
        row.name
        for row in _rows().values()
        if row.name != name
        and any(
            field.get("lookup") == name
            for field in [
                *row.spec.get("fields", ()),
                *(row.spec.get("lines") or {}).get("fields", ()),
            ]
        )
    )


def save(row: ObjectMapping | None, spec: dict[str, Any]) -> ObjectMapping:
    """Store a normalized spec as a new mapping (``row`` None) or over ``row``; commits.
    Raises ConfigError when the name is taken or a renamed mapping is still looked up."""
    clash = db.session.execute(
        select(ObjectMapping).where(ObjectMapping.name == spec["name"])
    ).scalar_one_or_none()
    if clash is not None and clash is not row:
        raise ConfigError([f"name: '{spec['name']}' is already the name of another mapping"])
    if row is not None and row.name != spec["name"]:
        if users := referrers(row.name):
            raise ConfigError(
                [f"name: {', '.join(users)} look up '{row.name}' by name; change them first"]
            )
    row = row or ObjectMapping()
    row.apply_spec(spec)
    db.session.add(row)
    db.session.commit()
    return row


def delete(row: ObjectMapping) -> None:
    """Remove a mapping (its record links go with it); refused while another looks it up."""
    if users := referrers(row.name):
        raise ConfigError([f"{', '.join(users)} look up '{row.name}'; change them first"])
    db.session.delete(row)
    db.session.commit()

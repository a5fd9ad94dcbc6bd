"""The sync-config file: object and field mappings as YAML (JSON is accepted: it is YAML too).

``parse_config`` validates a file and returns normalized mapping dicts (every default filled in,
see ``gateway.mapping``); ``dump_config`` writes them back deterministically, so export → import
→ export is byte-identical; ``merge_mappings`` works out what an import changes.

Validation walks the composed YAML node tree instead of loaded Python objects, because only the
nodes remember their line: every message says where the mistake is, and all of them are reported
together so a file can be fixed in one pass.
"""

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.mapping import (
    BOTH,
    COERCIONS,
    DIRECTIONS,
    QUICKBOOKS_TO_SALESFORCE,
    SALESFORCE_TO_QUICKBOOKS,
    value_key,
)
from gateway.qbo_entities import WEBHOOK_ENTITIES, canonical_entity

MAPPING_KEYS = (
    "name", "quickbooks", "salesforce", "direction", "realtime", "companies", "external_id",
    "on_delete", "match", "fields", "lines",
)  # fmt: skip
LINE_KEYS = ("salesforce", "parent_field", "external_id", "default_item", "fields")
FIELD_KEYS = (
    "quickbooks", "salesforce", "direction", "required", "type", "lookup", "values", "default",
)  # fmt: skip
MATCH_KEYS = ("quickbooks", "salesforce")
DEFAULT_EXTERNAL_ID = "QBO_Id__c"
ON_DELETE_CHOICES = ("ignore", "delete", "flag:<checkbox field>")

_NAME = re.compile(r"[a-z0-9_-]+")
_SF_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_REALM = re.compile(r"[A-Za-z0-9_-]{1,32}")
_LINE_DETAIL = re.compile(r"[A-Za-z]+LineDetail")
DEFAULT_LINE_DETAIL = "SalesItemLineDetail"
_QBO_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*")
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INVALID = object()  # a value already reported as an error


class ConfigError(ValueError):
    """The file is not a valid sync config; ``errors`` holds one "line N: path: problem" each."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _compose(text: str) -> tuple[yaml.SafeLoader, Node]:
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise ConfigError(
            [f"line {_error_line(text, exc)}: invalid YAML: {_yaml_problem(exc)}"]
        ) from None
    if root is None:
        raise ConfigError(["line 1: the file is empty; expected 'mappings:' and a list"])
    return loader, root


def _error_line(text: str, exc: yaml.YAMLError) -> int:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return mark.line + 1 if mark else 1
    # A ReaderError (a control character, say) has a position instead of a mark.
    return text.count("\n", 0, getattr(exc, "position", 0)) + 1


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return str(exc).replace("\n ", "")
    if exc.context and exc.problem and exc.problem.startswith("but "):
        return f"{exc.context}, {exc.problem}"
    if exc.context and exc.context_mark and exc.problem_mark:
        return f"{exc.problem} ({exc.context} at line {exc.context_mark.line + 1})"
    return str(exc.problem)


class _Checker:
    """Walks the node tree, collecting errors and building normalized mappings."""

    def __init__(self, loader: yaml.SafeLoader, known_names: Iterable[str]) -> None:
        self.loader = loader
        self.known_names = set(known_names)
        self.errors: list[tuple[int, str]] = []
        self.lookups: list[tuple[Node, str, str]] = []

    def error(self, node: Node, path: str, message: str) -> None:
        self.errors.append((node.start_mark.line + 1, f"{path}: {message}"))

    # -- generic node checks --------------------------------------------------------------------

    def scalar(self, node: Node, path: str, what: str = "a single value") -> Any:
        """The node's plain value (str, int, float, bool or None), or _INVALID."""
        if not isinstance(node, ScalarNode):
            self.error(node, path, f"expected {what}, got {_describe(node)}")
            return _INVALID
        if node.tag == _TIMESTAMP_TAG:
            return node.value  # dates stay text: the database stores JSON
        try:
            value = self.loader.construct_object(node)
        except yaml.YAMLError as exc:
            self.error(node, path, f"cannot read this value: {getattr(exc, 'problem', exc)}")
            return _INVALID
        if isinstance(value, float) and not math.isfinite(value):
            self.error(node, path, f"{node.value} is not a finite number")
            return _INVALID
        if value is not None and not isinstance(value, str | int | float | bool):
            self.error(node, path, f"expected text, a number or true/false, got {node.value!r}")
            return _INVALID
        return value

    def keys(
        self, node: Node, path: str, allowed: tuple[str, ...], required: tuple[str, ...]
    ) -> dict[str, Node] | None:
        """The value nodes of a YAML mapping by key, reporting unknown, repeated, missing keys."""
        if not isinstance(node, MappingNode):
            self.error(node, path, f"expected a mapping, got {_describe(node)}")
            return None
        own_count = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
        try:
            # Resolves "<<: *anchor" merge keys; the merged pairs go in front of the node's own.
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.error(node, path, f"cannot merge: {getattr(exc, 'problem', exc)}")
            return None
        split = len(node.value) - own_count
        found: dict[str, Node] = {}
        kept = []
        # Own keys override merged ones; among merged ones the later pair wins, as in PyYAML.
        pairs = list(enumerate(node.value))
        for position, (key_node, value_node) in pairs[split:] + pairs[:split][::-1]:
            key = self.scalar(key_node, path)
            if key is _INVALID:
                continue
            if not isinstance(key, str):
                self.error(key_node, path, f"unknown key {key_node.value!r}")
            elif key not in allowed:
                self.error(key_node, path, f"unknown key '{key}'{_suggest(key, allowed)}")
            elif key not in found:
                found[key] = value_node
                kept.append((key_node, value_node))
            elif position >= split:
                self.error(key_node, path, f"key '{key}' appears twice")
        # Seen again through an alias, the node must not look as if it repeated its keys.
        node.value = kept
        for key in required:
            if key not in found:
                self.error(node, path, f"missing required key '{key}'")
        return found

    def items(self, node: Node, path: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.error(node, path, f"expected a list, got {_describe(node)}")
            return []
        return node.value

    def typed(self, node: Node, path: str, kind: type, what: str) -> Any:
        value = self.scalar(node, path, what)
        # type(), not isinstance(): bool is an int subclass, and 1 is no answer to true/false
        if value is _INVALID or type(value) is kind:
            return value
        self.error(node, path, f"expected {what}, got {_describe(node)}")
        return _INVALID

    def pattern(self, node: Node, path: str, regex: re.Pattern[str], what: str) -> Any:
        value = self.typed(node, path, str, "text")
        if value is _INVALID or regex.fullmatch(value):
            return value
        self.error(node, path, f"{value!r} is not {what}")
        return _INVALID

    def choice(self, node: Node, path: str, choices: tuple[str, ...]) -> Any:
        value = self.typed(node, path, str, "text")
        if value is _INVALID or value in choices:
            return value
        listed = ", ".join(choices)
        self.error(node, path, f"{value!r} is not one of {listed}{_suggest(value, choices)}")
        return _INVALID

    def json_scalar(self, node: Node, path: str) -> Any:
        value = self.scalar(node, path)
        if value is None:
            self.error(node, path, "expected text, a number or true/false, got null")
            return _INVALID
        return value

    # -- the config -----------------------------------------------------------------------------

    def document(self, root: Node) -> list[dict[str, Any]]:
        keys = self.keys(root, "top level", ("mappings",), ("mappings",))
        if not keys:
            return []
        mappings = []
        first_index: dict[str, int] = {}
        for index, node in enumerate(self.items(keys["mappings"], "mappings")):
            path = f"mappings[{index}]"
            mapping, name_node = self.mapping(node, path)
            if mapping is None:
                continue
            name = mapping["name"]
            if name is not _INVALID and name_node is not None:
                if name in first_index:
                    self.error(
                        name_node,
                        f"{path}.name",
                        f"'{name}' is already the name of mappings[{first_index[name]}]",
                    )
                else:
                    first_index[name] = index
            mappings.append(mapping)
        names = set(first_index) | self.known_names
        for node, path, name in self.lookups:
            if name not in names:
                self.error(
                    node,
                    path,
                    f"'{name}' is not the name of a mapping in this file or the database"
                    f"{_suggest(name, sorted(names))}",
                )
        return mappings

    def mapping(self, node: Node, path: str) -> tuple[dict[str, Any] | None, Node | None]:
        keys = self.keys(node, path, MAPPING_KEYS, ("name", "quickbooks", "salesforce"))
        if keys is None:
            return None, None

        def check(key: str, default: Any, validate: Any, *args: Any) -> Any:
            if key not in keys:
                return default
            return validate(keys[key], f"{path}.{key}", *args)

        direction = check("direction", BOTH, self.choice, DIRECTIONS)
        mapping = {
            "name": check("name", _INVALID, self.pattern, _NAME, "a name of a-z, 0-9, _ and -"),
            "quickbooks": check("quickbooks", _INVALID, self.entity),
            "salesforce": check(
                "salesforce", _INVALID, self.pattern, _SF_NAME, "a Salesforce object API name"
            ),
            "direction": direction,
            "realtime": check("realtime", False, self.realtime),
            "external_id": check(
                "external_id",
                DEFAULT_EXTERNAL_ID,
                self.pattern,
                _SF_NAME,
                "a Salesforce field API name",
            ),
            "on_delete": check("on_delete", "ignore", self.on_delete),
            "match": [
                self.match_rule(rule, f"{path}.match[{index}]")
                for index, rule in enumerate(check("match", [], self.items))
            ],
        }
        fields = self.fields(keys, path, direction)
        mapping["fields"] = [field for _, field, _ in fields]
        self.check_targets(fields, mapping["external_id"])
        if "companies" in keys:
            mapping["companies"] = self.realms(keys["companies"], f"{path}.companies")
        if "lines" in keys:
            mapping["lines"] = self.lines(keys["lines"], f"{path}.lines", direction)
        return mapping, keys.get("name")

    def fields(
        self, keys: dict[str, Node], path: str, direction: Any
    ) -> list[tuple[str, dict[str, Any], dict[str, Node]]]:
        """The valid field rules under `fields` (of a mapping or its lines), with where each is."""
        nodes = self.items(keys["fields"], f"{path}.fields") if "fields" in keys else []
        found = []
        for index, field_node in enumerate(nodes):
            field_path = f"{path}.fields[{index}]"
            field, field_keys = self.field(field_node, field_path, direction)
            if field is not None:
                found.append((field_path, field, field_keys))
        return found

    def realms(self, node: Node, path: str) -> Any:
        """A list of realm ids (YAML may read 9130357766 as a number: it is an id, kept as text)."""
        realms = []
        for index, item in enumerate(self.items(node, path)):
            value = self.scalar(item, f"{path}[{index}]", "a realm id")
            if value is _INVALID:
                continue
            text = (
                str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
            )
            if not _REALM.fullmatch(text):
                self.error(item, f"{path}[{index}]", f"{item.value!r} is not a realm id")
            elif text not in realms:
                realms.append(text)
        return sorted(realms)

    def realtime(self, node: Node, path: str) -> Any:
        """true, false, or the realm ids real time is on for (the Real-Time Configuration page
        writes a list when it is on for some companies only)."""
        if isinstance(node, SequenceNode):
            return self.realms(node, path) or False
        return self.typed(node, path, bool, "true, false or a list of realm ids")

    def lines(self, node: Node, path: str, direction: Any) -> dict[str, Any] | None:
        keys = self.keys(node, path, LINE_KEYS, ("salesforce", "parent_field", "fields"))
        if keys is None:
            return None

        def name(key: str, default: Any, what: str) -> Any:
            if key not in keys:
                return default
            return self.pattern(keys[key], f"{path}.{key}", _SF_NAME, what)

        lines: dict[str, Any] = {
            "salesforce": name("salesforce", _INVALID, "a Salesforce object API name"),
            "parent_field": name("parent_field", _INVALID, "a Salesforce field API name"),
            "external_id": name("external_id", DEFAULT_EXTERNAL_ID, "a Salesforce field API name"),
        }
        if "default_item" in keys:
            lines["default_item"] = self.typed(
                keys["default_item"], f"{path}.default_item", str, "an Item name"
            )
        fields = self.fields(keys, path, direction)
        lines["fields"] = [field for _, field, _ in fields]
        self.check_targets(fields, lines["external_id"])
        lines["detail_type"] = self.detail_type(fields, path, node)
        return lines

    def detail_type(self, fields: list, path: str, node: Node) -> str:
        """The QuickBooks line detail type the line fields read (SalesItemLineDetail.Qty):
        only lines of that type are synced; subtotal and discount lines are left alone."""
        found: dict[str, str] = {}
        for field_path, field, _ in fields:
            head = str(field.get("quickbooks", "")).split(".", 1)[0]
            if _LINE_DETAIL.fullmatch(head):
                found.setdefault(head, field_path)
        if len(found) > 1:
            listed = ", ".join(f"{kind} ({where})" for kind, where in sorted(found.items()))
            self.error(node, path, f"line fields read more than one line detail type: {listed}")
        return next(iter(sorted(found)), DEFAULT_LINE_DETAIL)

    def entity(self, node: Node, path: str) -> Any:
        value = self.typed(node, path, str, "text")
        if value is _INVALID or value in WEBHOOK_ENTITIES:
            return value
        suggestion = canonical_entity(value)
        hint = (
            f" (did you mean '{suggestion}'?)" if suggestion else _suggest(value, WEBHOOK_ENTITIES)
        )
        self.error(node, path, f"{value!r} is not a QuickBooks entity{hint}")
        return _INVALID

    def on_delete(self, node: Node, path: str) -> Any:
        value = self.typed(node, path, str, "text")
        if value is _INVALID or value in ("ignore", "delete"):
            return value
        if value.startswith("flag:") and _SF_NAME.fullmatch(value.removeprefix("flag:")):
            return value
        self.error(node, path, f"{value!r} is not one of {', '.join(ON_DELETE_CHOICES)}")
        return _INVALID

    def match_rule(self, node: Node, path: str) -> dict[str, Any]:
        keys = self.keys(node, path, MATCH_KEYS, MATCH_KEYS) or {}
        return self.sides(keys, path)

    def sides(self, keys: dict[str, Node], path: str) -> dict[str, Any]:
        """The quickbooks path and salesforce field every field and match rule has."""
        sides = {}
        if "quickbooks" in keys:
            sides["quickbooks"] = self.pattern(
                keys["quickbooks"],
                f"{path}.quickbooks",
                _QBO_PATH,
                "a QuickBooks field path like BillAddr.City",
            )
        if "salesforce" in keys:
            sides["salesforce"] = self.pattern(
                keys["salesforce"], f"{path}.salesforce", _SF_NAME, "a Salesforce field API name"
            )
        return sides

    def field(
        self, node: Node, path: str, mapping_direction: Any
    ) -> tuple[dict[str, Any] | None, dict[str, Node]]:
        keys = self.keys(node, path, FIELD_KEYS, ())
        if keys is None:
            return None, {}
        field = self.sides(keys, path)
        field["direction"] = mapping_direction
        constant_to = self.constant_direction(node, keys, path)
        if constant_to is not None:
            field["direction"] = constant_to
            if mapping_direction not in (BOTH, constant_to, _INVALID):
                self.error(
                    node,
                    path,
                    f"a constant written {constant_to} cannot be in a mapping whose direction is "
                    f"{mapping_direction}",
                )
        elif "direction" in keys:
            field["direction"] = self.choice(keys["direction"], f"{path}.direction", DIRECTIONS)
            # A field cannot flow where its mapping does not: the sync never runs that way.
            allowed = mapping_direction in (BOTH, field["direction"])
            if not allowed and _INVALID not in (mapping_direction, field["direction"]):
                self.error(
                    keys["direction"],
                    f"{path}.direction",
                    f"'{field['direction']}' is not allowed in a mapping whose direction is "
                    f"{mapping_direction}",
                )
        if "required" in keys:
            if self.typed(keys["required"], f"{path}.required", bool, "true or false") is True:
                field["required"] = True
        if "type" in keys:
            field["type"] = self.choice(keys["type"], f"{path}.type", COERCIONS)
        if "lookup" in keys:
            field["lookup"] = self.typed(keys["lookup"], f"{path}.lookup", str, "a mapping name")
            if field["lookup"] is not _INVALID:
                self.lookups.append((keys["lookup"], f"{path}.lookup", field["lookup"]))
            if "values" in keys:
                self.error(
                    keys["values"],
                    f"{path}.values",
                    "a lookup field carries record ids; it cannot also have values",
                )
        if "values" in keys:
            field["values"] = self.values(keys["values"], f"{path}.values", field["direction"])
        if "default" in keys:
            field["default"] = self.json_scalar(keys["default"], f"{path}.default")
        return field, keys

    def constant_direction(self, node: Node, keys: dict[str, Node], path: str) -> str | None:
        """A field with one side and a default is a constant written to that side; returns the
        direction it flows, or None for an ordinary two-sided field."""
        has_qbo, has_sf = "quickbooks" in keys, "salesforce" in keys
        if has_qbo and has_sf:
            return None
        if not (has_qbo or has_sf):
            self.error(node, path, "missing required key 'quickbooks' or 'salesforce'")
            return None
        if "default" not in keys:
            missing = "salesforce" if has_qbo else "quickbooks"
            self.error(
                node,
                path,
                f"missing required key '{missing}' (a field with one side is a constant and "
                "needs a 'default')",
            )
            return None
        flows = SALESFORCE_TO_QUICKBOOKS if has_qbo else QUICKBOOKS_TO_SALESFORCE
        if "direction" in keys:
            given = self.choice(keys["direction"], f"{path}.direction", DIRECTIONS)
            if given not in (flows, _INVALID):
                self.error(
                    keys["direction"],
                    f"{path}.direction",
                    f"a constant for the {'QuickBooks' if has_qbo else 'Salesforce'} side flows "
                    f"{flows}",
                )
        for key in ("lookup", "values"):
            if key in keys:
                self.error(keys[key], f"{path}.{key}", f"a constant cannot have {key}")
        return flows

    def values(self, node: Node, path: str, direction: Any) -> Any:
        """A value map, its keys as strings (YAML reads `1:` as a number and `yes:` as true)."""
        if not isinstance(node, MappingNode):
            self.error(node, path, f"expected a mapping, got {_describe(node)}")
            return _INVALID
        values: dict[str, Any] = {}
        first_key: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self.json_scalar(key_node, path)
            if key is _INVALID:
                continue
            key = value_key(key)
            value = self.json_scalar(value_node, f"{path}.{key}")
            if key in values:
                self.error(key_node, path, f"key '{key}' appears twice")
            if key in values or value is _INVALID:
                continue
            values[key] = value
            # Towards QuickBooks the map is read backwards, so each SF value needs one QBO value.
            target = value_key(value)
            if direction in (BOTH, SALESFORCE_TO_QUICKBOOKS) and target in first_key:
                self.error(
                    value_node,
                    f"{path}.{key}",
                    f"'{target}' is also the value of '{first_key[target]}', so "
                    f"{SALESFORCE_TO_QUICKBOOKS} cannot tell them apart (make the field "
                    f"{QUICKBOOKS_TO_SALESFORCE})",
                )
            first_key.setdefault(target, key)
        return values

    def check_targets(
        self, fields: list[tuple[str, dict[str, Any], dict[str, Node]]], external_id: Any
    ) -> None:
        """Two fields writing one target field in the same direction would fight over it."""
        sides = ((QUICKBOOKS_TO_SALESFORCE, "salesforce"), (SALESFORCE_TO_QUICKBOOKS, "quickbooks"))
        for direction, side in sides:
            writer: dict[str, str] = {}
            if side == "salesforce" and external_id is not _INVALID:
                writer[external_id] = "the gateway, as the external_id"
            for path, field, keys in fields:
                target = field.get(side, _INVALID)
                if field["direction"] not in (direction, BOTH) or target is _INVALID:
                    continue
                if target in writer:
                    message = f"'{target}' is already written by {writer[target]} ({direction})"
                    self.error(keys[side], f"{path}.{side}", message)
                else:
                    writer[target] = path.rpartition(".")[2]


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "null"
    return repr(node.value) if node.tag.endswith(":str") else node.value


def parse_config(text: str, known_mapping_names: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Validate a sync-config file and return its mappings, normalized.

    ``known_mapping_names`` are mappings that already exist elsewhere (the database), which
    lookups may name besides the file's own. Raises ConfigError listing every problem found.
    """
    loader, root = _compose(text)
    try:
        checker = _Checker(loader, known_mapping_names)
        mappings = checker.document(root)
    finally:
        loader.dispose()
    if checker.errors:
        ordered = sorted(checker.errors, key=lambda error: error[0])
        raise ConfigError(f"line {line}: {message}" for line, message in ordered)
    return mappings


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as the design's sketch and most YAML in the wild do.
        return super().increase_indent(flow, False)


class _Inline(dict[str, Any]):
    """A mapping written on one line: a field or match rule reads best as one row."""


_Dumper.add_representer(
    _Inline,
    lambda dumper, data: dumper.represent_mapping(
        "tag:yaml.org,2002:map", list(data.items()), flow_style=True
    ),
)


def _dumpable_field(field: dict[str, Any], mapping_direction: str) -> _Inline:
    row = _Inline({side: field[side] for side in ("quickbooks", "salesforce") if side in field})
    constant = len(row) == 1  # its direction follows from its one side
    if not constant and field.get("direction", mapping_direction) != mapping_direction:
        row["direction"] = field["direction"]
    if field.get("required"):
        row["required"] = True
    for key in ("type", "lookup"):
        if key in field:
            row[key] = field[key]
    if "values" in field:
        row["values"] = {key: field["values"][key] for key in sorted(field["values"])}
    if "default" in field:
        row["default"] = field["default"]
    return row


def _dumpable(mapping: dict[str, Any]) -> dict[str, Any]:
    direction = mapping.get("direction", BOTH)
    dumped = {
        "name": mapping["name"],
        "quickbooks": mapping["quickbooks"],
        "salesforce": mapping["salesforce"],
        "direction": direction,
        "realtime": mapping.get("realtime", False),
        **({"companies": list(mapping["companies"])} if mapping.get("companies") else {}),
        "external_id": mapping.get("external_id", DEFAULT_EXTERNAL_ID),
        "on_delete": mapping.get("on_delete", "ignore"),
        "match": [
            _Inline(quickbooks=rule["quickbooks"], salesforce=rule["salesforce"])
            for rule in mapping.get("match", ())
        ],
        "fields": [_dumpable_field(field, direction) for field in mapping.get("fields", ())],
    }
    if mapping.get("lines"):
        lines = mapping["lines"]
        dumped["lines"] = {
            "salesforce": lines["salesforce"],
            "parent_field": lines["parent_field"],
            "external_id": lines.get("external_id", DEFAULT_EXTERNAL_ID),
            **({"default_item": lines["default_item"]} if "default_item" in lines else {}),
            "fields": [_dumpable_field(field, direction) for field in lines.get("fields", ())],
        }
    return dumped


def dump_config(mappings: Iterable[dict[str, Any]]) -> str:
    """The mappings as a sync-config file: sorted by name, keys in a fixed order, every mapping
    key written out, field keys only where they differ from the defaults."""
    chunks = []
    for mapping in sorted(mappings, key=lambda mapping: mapping["name"]):
        text = yaml.dump(
            [_dumpable(mapping)],
            Dumper=_Dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=1_000_000,  # never fold a long row
        )
        # Dumped one at a time so that a blank line can separate them; every line moves under
        # "mappings:" (blank lines inside a quoted value stay blank, which YAML reads the same).
        chunks.append(
            "".join(f"  {line}" if line.strip() else line for line in text.splitlines(True))
        )
    if not chunks:
        return "mappings: []\n"
    return "mappings:\n" + "\n".join(chunks)


def merge_mappings(
    existing: Iterable[dict[str, Any]], imported: Iterable[dict[str, Any]], prune: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str], list[str]]:
    """What importing ``imported`` over ``existing`` does, keyed by name:
    (created, replaced, unchanged names, removed names), each sorted by name.

    A named mapping is created or replaced whole; the others stay unless ``prune``. Raises
    ConfigError when pruning would leave a kept mapping's lookup pointing at a removed one.
    """
    current = {mapping["name"]: mapping for mapping in existing}
    incoming = {mapping["name"]: mapping for mapping in imported}
    created, replaced, unchanged = [], [], []
    for name in sorted(incoming):
        if name not in current:
            created.append(incoming[name])
        elif current[name] != incoming[name]:
            replaced.append(incoming[name])
        else:
            unchanged.append(name)
    removed = sorted(set(current) - set(incoming)) if prune else []
    dangling = [
        f"mapping '{mapping['name']}': field {field['quickbooks']} looks up '{field['lookup']}', "
        f"which pruning would remove"
        for mapping in sorted(incoming.values(), key=lambda mapping: mapping["name"])
        for field in mapping.get("fields", ())
        if field.get("lookup") in removed
    ]
    if dangling:
        raise ConfigError(dangling)
    return created, replaced, unchanged, removed

"""The SOQL subset:

SELECT f1, Parent.f2 | COUNT() FROM Obj [WHERE cond (AND|OR|NOT|parentheses)...]
[ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .salesforce_schema import SfError, SObjectType
from .salesforce_store import Org, normalize_id
from .sqlish import (
    BoolOp,
    Cond,
    QuerySyntaxError,
    TokenStream,
    evaluate,
    fields_of,
    order_records,
    parse_comparison,
)


@dataclass
class Soql:
    obj: SObjectType
    count: bool
    fields: list[str]  # canonical paths, e.g. "Name", "Account.QBO_Id__c"
    where: Cond | BoolOp | None
    order: list[tuple[str, bool, bool]]  # path, descending, nulls first
    limit: int | None
    offset: int


def malformed(text: str, exc: QuerySyntaxError) -> SfError:
    return SfError(
        "MALFORMED_QUERY", f"\n{text}\n{' ' * exc.pos}^\nERROR at Row:1:Column:{exc.pos + 1}\n{exc}"
    )


def parse(text: str, org: Org) -> Soql:
    try:
        return _Parser(TokenStream(text), org).query()
    except QuerySyntaxError as exc:
        raise malformed(text, exc) from None


class _Parser:
    def __init__(self, ts: TokenStream, org: Org) -> None:
        self.ts, self.org = ts, org

    def query(self) -> Soql:
        ts = self.ts
        ts.expect_keyword("SELECT")
        count, raw_fields = False, []
        if ts.at_keyword("COUNT"):
            ts.next()
            ts.expect_punct("(")
            ts.expect_punct(")")
            count = True
        else:
            raw_fields.append(ts.name())
            while ts.accept_punct(","):
                raw_fields.append(ts.name())
        ts.expect_keyword("FROM")
        obj_tok = ts.name("an object name")
        obj = self.org.object(obj_tok.value)
        if obj is None:
            raise SfError(
                "INVALID_TYPE",
                f"\n{ts.text}\n{' ' * obj_tok.pos}^\nERROR at Row:1:"
                f"Column:{obj_tok.pos + 1}\nsObject type '{obj_tok.value}' is not "
                "supported.",
            )
        self.obj = obj
        fields = [self.resolve(tok.value, tok.pos) for tok in raw_fields]
        where = self.expression() if ts.accept_keyword("WHERE") else None
        order = []
        if ts.accept_keyword("ORDER"):
            ts.expect_keyword("BY")
            order.append(self.order_item())
            while ts.accept_punct(","):
                order.append(self.order_item())
        limit, offset = None, 0
        if ts.accept_keyword("LIMIT"):
            limit = ts.integer()
        if ts.accept_keyword("OFFSET"):
            offset = ts.integer()
        if not ts.done():
            raise ts.fail("end of query")
        return Soql(obj, count, list(dict.fromkeys(fields)), where, order, limit, offset)

    def resolve(self, path: str, pos: int) -> str:
        """The canonical spelling of a field path, or INVALID_FIELD."""
        parts = path.split(".")
        obj, out = self.obj, []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            fld = obj.field(part) if last else None
            rel = None if last else obj.relationship(part)
            if last and fld is not None:
                out.append(fld.name)
                return ".".join(out)
            target = self.org.object(rel.referenceTo[0]) if rel and rel.referenceTo else None
            if target is None:
                raise SfError(
                    "INVALID_FIELD",
                    f"\n{self.ts.text}\n{' ' * pos}^\nERROR at Row:1:"
                    f"Column:{pos + 1}\nNo such column '{part}' on entity "
                    f"'{obj.name}'. If you are attempting to use a custom field, be "
                    "sure to append the '__c' after the custom field name. Please "
                    "reference your WSDL or the describe call for the appropriate "
                    "names.",
                )
            out.append(rel.relationshipName)
            obj = target
        raise AssertionError("unreachable")

    def expression(self) -> Cond | BoolOp:
        parts = [self.term()]
        while self.ts.accept_keyword("OR"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def term(self) -> Cond | BoolOp:
        parts = [self.factor()]
        while self.ts.accept_keyword("AND"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def factor(self) -> Cond | BoolOp:
        ts = self.ts
        if ts.accept_keyword("NOT"):
            return BoolOp("NOT", (self.factor(),))
        if ts.accept_punct("("):
            inner = self.expression()
            ts.expect_punct(")")
            return inner
        tok = ts.name()
        return parse_comparison(ts, self.resolve(tok.value, tok.pos))

    def order_item(self) -> tuple[str, bool, bool]:
        tok = self.ts.name()
        path = self.resolve(tok.value, tok.pos)
        descending = False
        if self.ts.at_keyword("ASC", "DESC"):
            descending = self.ts.next().value.upper() == "DESC"
        nulls_first = True  # Salesforce's default, whatever the direction
        if self.ts.accept_keyword("NULLS"):
            if not self.ts.at_keyword("FIRST", "LAST"):
                raise self.ts.fail("FIRST or LAST")
            nulls_first = self.ts.next().value.upper() == "FIRST"
        return path, descending, nulls_first


def run(query: Soql, org: Org, version: str, include_deleted: bool = False) -> list[dict]:
    """Matching records, shaped like the REST API returns them."""
    records = list(org.records[query.obj.name].values())
    if include_deleted:
        records += list(org.deleted[query.obj.name].values())
    ids_in_where = any(_is_id_path(query.obj, f) for f in fields_of(query.where))

    def getter(rec: dict):
        def get(path: str) -> Any:
            value = _value(org, query.obj, rec, path)
            if ids_in_where and isinstance(value, str):
                return normalize_id(value) or value
            return value

        return get

    where = _normalize_ids(query.where) if ids_in_where else query.where
    matched = [r for r in records if evaluate(where, getter(r))]
    keys = [(lambda r, p=p: _value(org, query.obj, r, p), d, n) for p, d, n in query.order]
    matched = order_records(matched, keys)
    matched = matched[query.offset :]
    if query.limit is not None:
        matched = matched[: query.limit]
    if query.count:
        return matched
    return [_shape(org, query.obj, r, query.fields, version) for r in matched]


def _is_id_path(obj: SObjectType, path: str) -> bool:
    fld = obj.field(path) if "." not in path else None
    return fld is not None and fld.type in ("id", "reference")


def _normalize_ids(node: Cond | BoolOp | None) -> Cond | BoolOp | None:
    """15-character ids in a WHERE clause match their 18-character forms."""
    if node is None:
        return None
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(_normalize_ids(p) for p in node.parts))

    def norm(v: Any) -> Any:
        return (normalize_id(v) or v) if isinstance(v, str) else v

    value = [norm(v) for v in node.value] if isinstance(node.value, list) else norm(node.value)
    return Cond(node.field, node.op, value)


def _parent(
    org: Org, obj: SObjectType, rec: dict, rel_name: str
) -> tuple[SObjectType, dict] | None:
    rel = obj.relationship(rel_name)
    parent_id = rec.get(rel.name) if rel else None
    found = org.find(parent_id) if parent_id else None
    if found is None:
        return None
    return org.objects[found[0]], found[1]


def _value(org: Org, obj: SObjectType, rec: dict, path: str) -> Any:
    head, _, rest = path.partition(".")
    if not rest:
        return rec.get(head)
    parent = _parent(org, obj, rec, head)
    return _value(org, parent[0], parent[1], rest) if parent else None


def attributes(obj: SObjectType, rec: dict, version: str) -> dict:
    return {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}"}


def _shape(org: Org, obj: SObjectType, rec: dict, fields: list[str], version: str) -> dict:
    out: dict[str, Any] = {"attributes": attributes(obj, rec, version)}
    nested: dict[str, list[str]] = {}
    for path in fields:
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, []).append(rest)
            out.setdefault(head, None)
        else:
            out[head] = rec.get(head)
    for rel_name, sub_fields in nested.items():
        parent = _parent(org, obj, rec, rel_name)
        if parent is not None:
            out[rel_name] = _shape(org, parent[0], parent[1], sub_fields, version)
    return out

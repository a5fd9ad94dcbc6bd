"""The QuickBooks query language:

SELECT * | count(*) | f1, f2 FROM Entity [WHERE c AND c ...] [ORDERBY f [ASC|DESC], ...]
[STARTPOSITION n] [MAXRESULTS n]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .quickbooks_entities import KINDS, EntityKind
from .quickbooks_faults import QboError
from .sqlish import (
    BoolOp,
    Cond,
    QuerySyntaxError,
    TokenStream,
    evaluate,
    fields_of,
    get_path,
    order_records,
    parse_comparison,
)

DEFAULT_MAX, LIMIT_MAX = 100, 1000


@dataclass
class QboQuery:
    kind: EntityKind
    count: bool
    fields: list[str] | None
    where: BoolOp | None
    order: list[tuple[str, bool]]
    start: int
    max_results: int


def parse_error(text: str, exc: QuerySyntaxError) -> QboError:
    return QboError(
        400,
        "4000",
        "Error parsing query",
        f"QueryParserError: {exc} at line 1, column {exc.pos + 1} in: {text}",
    )


def validation_error(detail: str) -> QboError:
    return QboError(400, "4001", "Invalid query", f"QueryValidationError: {detail}")


def parse(text: str) -> QboQuery:
    try:
        return _parse(TokenStream(text))
    except QuerySyntaxError as exc:
        raise parse_error(text, exc) from None


def _parse(ts: TokenStream) -> QboQuery:
    ts.expect_keyword("SELECT")
    count, fields = False, None
    if ts.accept_punct("*"):
        pass
    elif ts.at_keyword("COUNT"):
        ts.next()
        ts.expect_punct("(")
        ts.expect_punct("*")
        ts.expect_punct(")")
        count = True
    else:
        fields = [ts.name().value]
        while ts.accept_punct(","):
            fields.append(ts.name().value)
    ts.expect_keyword("FROM")
    entity = ts.name("an entity name").value
    kind = KINDS.get(entity)  # entity names are case sensitive
    if kind is None:
        raise validation_error(f"Invalid table name {entity}")
    where = None
    if ts.accept_keyword("WHERE"):
        conds = [_condition(ts)]
        while ts.accept_keyword("AND"):
            conds.append(_condition(ts))
        if ts.at_keyword("OR"):
            raise QuerySyntaxError(
                "OR is not supported; combine conditions with AND", ts.peek().pos
            )
        where = BoolOp("AND", tuple(conds))
    order = []
    if ts.accept_keyword("ORDERBY") or (ts.accept_keyword("ORDER") and ts.accept_keyword("BY")):
        order.append(_order_item(ts))
        while ts.accept_punct(","):
            order.append(_order_item(ts))
    start, max_results = 1, DEFAULT_MAX
    while ts.at_keyword("STARTPOSITION", "MAXRESULTS"):
        if ts.next().value.upper() == "STARTPOSITION":
            start = max(1, ts.integer())
        else:
            max_results = min(ts.integer(), LIMIT_MAX)
    if not ts.done():
        raise ts.fail("end of query")
    query = QboQuery(kind, count, fields, where, order, start, max_results)
    _check_properties(query)
    return query


def _condition(ts: TokenStream) -> Cond:
    field = ts.name().value
    cond = parse_comparison(ts, field)
    if cond.op == "NOT IN":
        raise QuerySyntaxError("NOT IN is not supported", ts.peek().pos if ts.peek() else 0)
    return cond


def _order_item(ts: TokenStream) -> tuple[str, bool]:
    field = ts.name().value
    descending = False
    if ts.at_keyword("ASC", "DESC"):
        descending = ts.next().value.upper() == "DESC"
    return field, descending


def _check_properties(query: QboQuery) -> None:
    known = query.kind.properties
    if known is None:
        return
    named = fields_of(query.where) + [f for f, _ in query.order] + (query.fields or [])
    for path in named:
        if path.split(".")[0] not in known:
            raise validation_error(f"property '{path}' is not queryable")


def mentions(query: QboQuery) -> set[str]:
    """The top-level properties the query filters or sorts by."""
    return {path.split(".")[0] for path in [*fields_of(query.where), *(f for f, _ in query.order)]}


def _getter(record: dict):
    def get(path: str):
        value = get_path(record, path)
        # "CustomerRef = '1'" compares the reference's value, "PrimaryEmailAddr = 'x'" the
        # address inside the aggregate.
        if isinstance(value, dict) and "value" in value:
            value = value["value"]
        elif isinstance(value, dict) and len(value) == 1:
            value = next(iter(value.values()))
        return value

    return get


def run(
    query: QboQuery, records: list[dict], render: Callable[[list[dict]], list[dict]] | None = None
) -> dict:
    """The QueryResponse object for records already rendered, or for stored records that
    `render` turns into what the API shows once the page is picked."""
    where = query.where
    if query.kind.namelist and "Active" not in fields_of(where):
        # Name lists show active records only unless the query asks about Active.
        where = BoolOp("AND", (*(where.parts if where else ()), Cond("Active", "=", True)))
    matched = [r for r in records if evaluate(where, _getter(r), single_char_wildcard=False)]
    if query.count:
        return {"totalCount": len(matched)}
    keys = [(lambda r, f=f: _getter(r)(f), desc, False) for f, desc in query.order] or [
        (lambda r: r.get("Id"), False, False)
    ]
    matched = order_records(matched, keys)
    page = matched[query.start - 1 : query.start - 1 + query.max_results]
    if not page:
        return {}
    if render is not None:
        page = render(page)
    if query.fields:
        keep = set(query.fields) | {"Id", "SyncToken", "MetaData", "domain"}
        page = [{k: v for k, v in r.items() if k in keep} | {"sparse": True} for r in page]
    return {query.kind.name: page, "startPosition": query.start, "maxResults": len(page)}

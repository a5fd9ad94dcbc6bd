"""The lexer, WHERE-clause evaluation and sorting shared by the QBO query and SOQL subsets."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class QuerySyntaxError(Exception):
    def __init__(self, message: str, pos: int = 0) -> None:
        super().__init__(message)
        self.pos = pos


@dataclass(frozen=True)
class Token:
    kind: str  # string | datetime | number | op | punct | name
    value: Any
    pos: int
    text: str


_TOKEN_RE = re.compile(
    r"""
    (?P<string>'(?:\\.|[^'\\])*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))?(?![\w.]))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w]))
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),*])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""",
    re.X,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return tokens
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise QuerySyntaxError(f"unexpected character {text[pos]!r}", pos)
        kind, raw = m.lastgroup, m.group()
        value: Any = raw
        if kind == "string":
            value = _unquote(raw)
        elif kind == "number":
            value = float(raw) if "." in raw else int(raw)
        tokens.append(Token(kind, value, pos, raw))
        pos = m.end()


class TokenStream:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def done(self) -> bool:
        return self.i >= len(self.tokens)

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError("unexpected end of query", len(self.text))
        self.i += 1
        return tok

    def fail(self, expected: str) -> QuerySyntaxError:
        tok = self.peek()
        if tok is None:
            return QuerySyntaxError(f"expected {expected} at the end of the query", len(self.text))
        return QuerySyntaxError(f"unexpected token: {tok.text!r}, expected {expected}", tok.pos)

    def at_keyword(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "name" and tok.value.upper() in words

    def accept_keyword(self, *words: str) -> bool:
        if self.at_keyword(*words):
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.accept_keyword(word):
            raise self.fail(word)

    def accept_punct(self, char: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.value == char:
            self.i += 1
            return True
        return False

    def expect_punct(self, char: str) -> None:
        if not self.accept_punct(char):
            raise self.fail(repr(char))

    def name(self, what: str = "a field name") -> Token:
        tok = self.peek()
        if tok is None or tok.kind != "name":
            raise self.fail(what)
        self.i += 1
        return tok

    def integer(self) -> int:
        tok = self.peek()
        if tok is None or tok.kind != "number" or not isinstance(tok.value, int):
            raise self.fail("a number")
        self.i += 1
        return tok.value

    def literal(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.fail("a value")
        if tok.kind in ("string", "number", "datetime"):
            self.i += 1
            return tok.value
        if tok.kind == "name" and tok.value.lower() in ("true", "false", "null"):
            self.i += 1
            return {"true": True, "false": False, "null": None}[tok.value.lower()]
        raise self.fail("a value")

    def literal_list(self) -> list[Any]:
        self.expect_punct("(")
        values = InList([self.literal()])
        while self.accept_punct(","):
            values.append(self.literal())
        self.expect_punct(")")
        return values


class InList(list):
    """The values of an IN list, with a set of them for the common case, so that a query
    naming a thousand values over fifty thousand records stays quick."""

    _texts: frozenset | None = None

    def texts(self) -> frozenset | None:
        """The values casefolded, when all are text; else None (compared one by one)."""
        if self._texts is None and all(isinstance(v, str) for v in self):
            self._texts = frozenset(v.casefold() for v in self)
        return self._texts


# --- conditions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cond:
    field: str
    op: str  # = != < > <= >= IN NOT IN LIKE
    value: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR | NOT
    parts: tuple


def parse_comparison(ts: TokenStream, field: str, like_escape: bool = True) -> Cond:
    """The operator and value after a field name."""
    if ts.accept_keyword("IN"):
        return Cond(field, "IN", ts.literal_list())
    if ts.accept_keyword("NOT"):
        ts.expect_keyword("IN")
        return Cond(field, "NOT IN", ts.literal_list())
    if ts.accept_keyword("LIKE"):
        return Cond(field, "LIKE", ts.literal())
    tok = ts.peek()
    if tok is None or tok.kind != "op":
        raise ts.fail("an operator")
    ts.i += 1
    return Cond(field, "!=" if tok.value == "<>" else tok.value, ts.literal())


def _as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value or len(value) < 19:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _norm(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.casefold()
    return value


def _like(actual: Any, pattern: Any, single_char_wildcard: bool) -> bool:
    if actual is None or pattern is None:
        return False
    parts = []
    for ch in str(pattern):
        if ch == "%":
            parts.append(".*")
        elif ch == "_" and single_char_wildcard:
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.fullmatch("".join(parts), str(actual), re.S | re.I) is not None


def compare(actual: Any, op: str, expected: Any, single_char_wildcard: bool = True) -> bool:
    if op == "IN":
        # Text that is not a date-time equals text case-insensitively, whatever that text is:
        # the same answer as comparing with each value, from a set.
        texts = expected.texts() if isinstance(expected, InList) else None
        if texts is not None and isinstance(actual, str) and _as_datetime(actual) is None:
            return actual.casefold() in texts
        return any(compare(actual, "=", v) for v in expected)
    if op == "NOT IN":
        return not compare(actual, "IN", expected)
    if op == "LIKE":
        return _like(actual, expected, single_char_wildcard)
    if expected is None or actual is None:
        same = actual is None and expected is None
        return same if op == "=" else (not same if op == "!=" else False)
    a, e = actual, expected
    da, de = _as_datetime(a), _as_datetime(e)
    if da and de:
        a, e = da, de
    elif isinstance(e, bool) or isinstance(a, bool):
        a, e = str(a).lower(), str(e).lower()
    elif isinstance(e, int | float) and not isinstance(a, int | float):
        try:
            a = float(a)
        except (TypeError, ValueError):
            return op == "!="
    elif isinstance(a, int | float) and isinstance(e, str):
        try:
            e = float(e)
        except ValueError:
            a = str(a)
    a, e = _norm(a), _norm(e)
    try:
        return {"=": a == e, "!=": a != e, "<": a < e, ">": a > e, "<=": a <= e, ">=": a >= e}[op]
    except TypeError:
        return op == "!="


def evaluate(
    node: Cond | BoolOp | None, get: Callable[[str], Any], single_char_wildcard: bool = True
) -> bool:
    if node is None:
        return True
    if isinstance(node, Cond):
        return compare(get(node.field), node.op, node.value, single_char_wildcard)
    results = (evaluate(p, get, single_char_wildcard) for p in node.parts)
    if node.op == "AND":
        return all(results)
    if node.op == "OR":
        return any(results)
    return not next(results)


def fields_of(node: Cond | BoolOp | None) -> list[str]:
    if node is None:
        return []
    if isinstance(node, Cond):
        return [node.field]
    return [f for part in node.parts for f in fields_of(part)]


def sort_key(value: Any) -> tuple:
    """Orders mixed values: numbers (and digit strings such as QBO ids), then text."""
    dt = _as_datetime(value)
    if dt is not None:
        value = dt.timestamp()
    elif isinstance(value, str):
        value = int(value) if value.isdigit() else value.casefold()
    if isinstance(value, bool):
        value = int(value)
    return (0 if isinstance(value, int | float) else 1, value)


def order_records(records: list, keys: list[tuple[Callable[[Any], Any], bool, bool]]) -> list:
    """Sort by several (getter, descending, nulls_first) keys, with stable sorts from the last
    key to the first."""
    for getter, descending, nulls_first in reversed(keys):
        present = [r for r in records if getter(r) is not None]
        nulls = [r for r in records if getter(r) is None]
        present.sort(key=lambda r, g=getter: sort_key(g(r)), reverse=descending)
        records = nulls + present if nulls_first else present + nulls
    return records


def get_path(record: dict, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value

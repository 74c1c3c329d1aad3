"""SOQL text to a syntax tree, with the ``lark`` grammar in ``soql.lark``.

Parsing layer; imports ``lark`` and the sandbox errors. Syntax errors become MALFORMED_QUERY
with Salesforce's caret message (``\\nSELECT ...\\n       ^\\nERROR at Row:1:Column:8\\n...``).
Names are not resolved here; ``engine.py`` binds them to the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ledgerbridge_sandbox.salesforce.errors import QueryError

MAX_QUERY_LENGTH = 100_000  # SOQL text limit (reference §4)


@dataclass(frozen=True)
class Pos:
    """Row and column (1-based) of a token in the query text."""

    row: int
    column: int


@dataclass
class FieldRef:
    """A field path such as ``Account.Owner.Email``."""

    path: list[str]
    pos: Pos

    @property
    def text(self) -> str:
        """The path as written."""
        return ".".join(self.path)


@dataclass
class FuncCall:
    """A function call such as ``COUNT(Id)``, ``CALENDAR_YEAR(CloseDate)`` or ``FIELDS(ALL)``."""

    name: str
    args: list[FieldRef | FuncCall]
    pos: Pos

    @property
    def upper(self) -> str:
        """The function name in upper case."""
        return self.name.upper()


@dataclass
class Literal:
    """A value in a condition: ``kind`` is string, number, date, datetime, null, boolean or date_literal."""

    kind: str
    value: Any
    pos: Pos
    n: int | None = None


@dataclass
class Compare:
    """``operand <op> value`` (also LIKE)."""

    operand: FieldRef | FuncCall
    op: str
    value: Literal


@dataclass
class InList:
    """``operand [NOT] IN (values)`` and ``INCLUDES``/``EXCLUDES``."""

    operand: FieldRef | FuncCall
    values: list[Literal]
    op: str  # IN, NOT IN, INCLUDES, EXCLUDES


@dataclass
class InQuery:
    """Semi-join ``operand [NOT] IN (SELECT ...)``."""

    operand: FieldRef | FuncCall
    query: Query
    negate: bool


@dataclass
class BoolOp:
    """AND / OR of conditions, or NOT of one."""

    op: str  # AND, OR, NOT
    items: list[Condition]


Condition = Compare | InList | InQuery | BoolOp


@dataclass
class SelectItem:
    """One entry of the SELECT list: a field, a function or a subquery."""

    expr: FieldRef | FuncCall | Query
    alias: str | None = None


@dataclass
class OrderItem:
    """One ORDER BY key."""

    expr: FieldRef | FuncCall
    descending: bool = False
    nulls_last: bool | None = None


@dataclass
class Query:
    """A parsed SELECT statement."""

    select: list[SelectItem]
    object_name: str
    object_pos: Pos
    object_alias: str | None = None
    where: Condition | None = None
    group_by: list[FieldRef | FuncCall] = field(default_factory=list)
    having: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    text: str = ""


def _pos(meta_or_token: Any) -> Pos:
    return Pos(int(getattr(meta_or_token, "line", 1) or 1), int(getattr(meta_or_token, "column", 1) or 1))


def caret_message(text: str, pos: Pos, detail: str) -> str:
    """Salesforce's query error message: the query row, a caret, the position and the detail."""
    lines = text.split("\n")
    line = lines[pos.row - 1] if 0 < pos.row <= len(lines) else text
    return f"\n{line}\n{' ' * (pos.column - 1)}^\nERROR at Row:{pos.row}:Column:{pos.column}\n{detail}"


def _unescape(raw: str) -> str:
    out = []
    i = 0
    body = raw[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(
                {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "%": "\\%", "_": "\\_"}.get(nxt, nxt)
            )
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def start(self, meta: Any, items: list[Any]) -> Query:
        query: Query = items[0]
        return query

    def query(self, meta: Any, items: list[Any]) -> Query:
        (select, (obj_name, obj_pos, obj_alias), _using, where, _with, group, order, limit, offset, _for) = (
            items
        )
        q = Query(
            select=select,
            object_name=obj_name,
            object_pos=obj_pos,
            object_alias=obj_alias,
            where=where,
            text=self.text,
        )
        if group is not None:
            q.group_by, q.having = group
        if order is not None:
            q.order_by = order
        q.limit = limit
        q.offset = offset
        return q

    def select_list(self, meta: Any, items: list[SelectItem]) -> list[SelectItem]:
        return items

    def sel_field(self, meta: Any, items: list[Any]) -> SelectItem:
        return SelectItem(items[0], items[1])

    def sel_func(self, meta: Any, items: list[Any]) -> SelectItem:
        return SelectItem(items[0], items[1])

    def sel_subquery(self, meta: Any, items: list[Any]) -> SelectItem:
        return SelectItem(items[0])

    def alias(self, meta: Any, items: list[Token]) -> str:
        return str(items[0])

    def object_ref(self, meta: Any, items: list[Any]) -> tuple[str, Pos, str | None]:
        return str(items[0]), _pos(items[0]), items[1]

    def field_path(self, meta: Any, items: list[Token]) -> FieldRef:
        return FieldRef([str(t) for t in items], _pos(items[0]))

    def func_call(self, meta: Any, items: list[Any]) -> FuncCall:
        args = [a for a in items[1:] if a is not None]
        return FuncCall(str(items[0]), args, _pos(items[0]))

    def using(self, meta: Any, items: list[Any]) -> None:
        return None

    def with_clause(self, meta: Any, items: list[Any]) -> None:
        return None

    def for_clause(self, meta: Any, items: list[Any]) -> None:
        return None

    def where(self, meta: Any, items: list[Any]) -> Condition:
        cond: Condition = items[0]
        return cond

    def group_by(self, meta: Any, items: list[Any]) -> tuple[list[Any], Condition | None]:
        keys = [i for i in items[:-1] if isinstance(i, FieldRef | FuncCall)]
        return keys, items[-1]

    def having(self, meta: Any, items: list[Any]) -> Condition:
        cond: Condition = items[0]
        return cond

    def order_by(self, meta: Any, items: list[OrderItem]) -> list[OrderItem]:
        return items

    def order_item(self, meta: Any, items: list[Any]) -> OrderItem:
        expr, direction, nulls = items
        return OrderItem(expr, direction == "DESC", nulls)

    def direction(self, meta: Any, items: list[Token]) -> str:
        return str(items[0]).upper()

    def nulls(self, meta: Any, items: list[Token]) -> bool:
        word = str(items[0]).upper()
        if word not in {"FIRST", "LAST"}:
            raise QueryError(
                "MALFORMED_QUERY", caret_message(self.text, _pos(items[0]), f"unexpected token: {items[0]}")
            )
        return word == "LAST"

    def limit(self, meta: Any, items: list[Token]) -> int:
        return self._int(items[0])

    def offset(self, meta: Any, items: list[Token]) -> int:
        return self._int(items[0])

    def _int(self, tok: Token) -> int:
        text = str(tok)
        if not text.isdigit():
            raise QueryError(
                "MALFORMED_QUERY", caret_message(self.text, _pos(tok), f"unexpected token: {text}")
            )
        return int(text)

    def and_condition(self, meta: Any, items: list[Condition]) -> BoolOp:
        return BoolOp("AND", items)

    def or_condition(self, meta: Any, items: list[Condition]) -> BoolOp:
        return BoolOp("OR", items)

    def not_condition(self, meta: Any, items: list[Condition]) -> BoolOp:
        return BoolOp("NOT", items)

    def compare(self, meta: Any, items: list[Any]) -> Compare:
        op = str(items[1])
        return Compare(items[0], "!=" if op == "<>" else op, items[2])

    def like(self, meta: Any, items: list[Any]) -> Compare:
        return Compare(items[0], "LIKE", items[1])

    def in_list(self, meta: Any, items: list[Any]) -> InList:
        return InList(items[0], items[1], "IN")

    def not_in_list(self, meta: Any, items: list[Any]) -> InList:
        return InList(items[0], items[1], "NOT IN")

    def includes(self, meta: Any, items: list[Any]) -> InList:
        return InList(items[0], items[1], "INCLUDES")

    def excludes(self, meta: Any, items: list[Any]) -> InList:
        return InList(items[0], items[1], "EXCLUDES")

    def in_query(self, meta: Any, items: list[Any]) -> InQuery:
        return InQuery(items[0], items[1], False)

    def not_in_query(self, meta: Any, items: list[Any]) -> InQuery:
        return InQuery(items[0], items[1], True)

    def value_list(self, meta: Any, items: list[Literal]) -> list[Literal]:
        return items

    def string(self, meta: Any, items: list[Token]) -> Literal:
        return Literal("string", _unescape(str(items[0])), _pos(items[0]))

    def number(self, meta: Any, items: list[Token]) -> Literal:
        text = str(items[0])
        value: float | int = float(text) if any(c in text for c in ".eE") else int(text)
        return Literal("number", value, _pos(items[0]))

    def datetime(self, meta: Any, items: list[Token]) -> Literal:
        return Literal("datetime", str(items[0]), _pos(items[0]))

    def date(self, meta: Any, items: list[Token]) -> Literal:
        return Literal("date", str(items[0]), _pos(items[0]))

    def null(self, meta: Any, items: list[Any]) -> Literal:
        return Literal("null", None, _pos(meta))

    def true(self, meta: Any, items: list[Any]) -> Literal:
        return Literal("boolean", True, _pos(meta))

    def false(self, meta: Any, items: list[Any]) -> Literal:
        return Literal("boolean", False, _pos(meta))

    def date_literal(self, meta: Any, items: list[Any]) -> Literal:
        name, n = items
        return Literal("date_literal", str(name).upper(), _pos(name), None if n is None else self._int(n))


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = Path(__file__).with_name("soql.lark").read_text(encoding="utf-8")
    return Lark(
        grammar, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True, cache=False
    )


def _syntax_error(text: str, exc: UnexpectedInput) -> QueryError:
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            lines = text.split("\n")
            pos = Pos(len(lines), len(lines[-1]) + 1)
            return QueryError("MALFORMED_QUERY", caret_message(text, pos, "unexpected token: <EOF>"))
        return QueryError("MALFORMED_QUERY", caret_message(text, _pos(tok), f"unexpected token: {tok}"))
    if isinstance(exc, UnexpectedCharacters):
        pos = Pos(exc.line, exc.column)
        at = exc.pos_in_stream or 0
        ch = text[at] if at < len(text) else ""
        detail = f"line {exc.line}:{exc.column - 1} no viable alternative at character '{ch}'"
        if ch == "'":
            detail = "unexpected token: '" + text[at:].split("\n")[0]
        return QueryError("MALFORMED_QUERY", caret_message(text, pos, detail))
    if isinstance(exc, UnexpectedEOF):
        return QueryError(
            "MALFORMED_QUERY", caret_message(text, Pos(1, len(text) + 1), "unexpected token: <EOF>")
        )
    return QueryError("MALFORMED_QUERY", str(exc))


@lru_cache(maxsize=512)
def _parse_cached(text: str) -> Query:
    try:
        tree: Tree[Token] = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    try:
        query: Query = _ToAst(text).transform(tree)
    except Exception as exc:  # lark wraps errors raised in callbacks
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, QueryError):
            raise inner from None
        raise
    return query


def parse(text: str) -> Query:
    """Parse a SOQL statement.

    Args:
        text: the query.

    Returns:
        Its syntax tree (shared between calls with the same text: do not mutate).

    Raises:
        QueryError: MALFORMED_QUERY with Salesforce's caret message.
    """
    if not text or not text.strip():
        raise QueryError("MALFORMED_QUERY", "SOQL statements cannot be empty or null")
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(
            "MALFORMED_QUERY", f"SOQL statements cannot be longer than {MAX_QUERY_LENGTH} characters"
        )
    return _parse_cached(text)

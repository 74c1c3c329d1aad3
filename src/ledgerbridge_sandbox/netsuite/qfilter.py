"""The ``q=`` filter of record collection GETs (``email START_WITH barbara AND isinactive IS false``).

Layer: pure parsing and evaluation; imports ``schema`` and ``errors``.

Grammar (Oracle help centre, "Record Collection Filtering"; reference §3.6)::

    expr   := term ("OR" term)*            AND binds tighter than OR
    term   := factor ("AND" factor)*
    factor := "(" expr ")" | FIELD OPERATOR [value | "[" value ("," value)* "]"]
    value  := "quoted string" | bare-token

Field names are case-insensitive body fields. Dates use the user's date format preference
(default ``M/D/YYYY``, optionally followed by a time); anything else is refused with
``Unparseable date: "..."`` as NetSuite does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from ledgerbridge_sandbox.netsuite.errors import NetSuiteError
from ledgerbridge_sandbox.netsuite.schema import FieldDef, Shape

_ARITY0 = {"EMPTY", "EMPTY_NOT"}
_ARITY2 = {"BETWEEN", "BETWEEN_NOT", "WITHIN", "WITHIN_NOT"}
_OPS_BY_KIND = {
    "bool": {"IS", "IS_NOT"},
    "num": {
        "ANY_OF",
        "ANY_OF_NOT",
        "BETWEEN",
        "BETWEEN_NOT",
        "EQUAL",
        "EQUAL_NOT",
        "GREATER",
        "GREATER_NOT",
        "GREATER_OR_EQUAL",
        "GREATER_OR_EQUAL_NOT",
        "LESS",
        "LESS_NOT",
        "LESS_OR_EQUAL",
        "LESS_OR_EQUAL_NOT",
        "WITHIN",
        "WITHIN_NOT",
    },
    "str": {
        "CONTAIN",
        "CONTAIN_NOT",
        "IS",
        "IS_NOT",
        "START_WITH",
        "START_WITH_NOT",
        "END_WITH",
        "END_WITH_NOT",
    },
    "date": {
        "AFTER",
        "AFTER_NOT",
        "BEFORE",
        "BEFORE_NOT",
        "ON",
        "ON_NOT",
        "ON_OR_AFTER",
        "ON_OR_AFTER_NOT",
        "ON_OR_BEFORE",
        "ON_OR_BEFORE_NOT",
        "WITHIN",
        "WITHIN_NOT",
    },
    "select": {"ANY_OF", "ANY_OF_NOT", "IS", "IS_NOT", "EQUAL", "EQUAL_NOT"},
}
_KIND_CLASS = {
    "bool": "bool",
    "int": "num",
    "num": "num",
    "numstr": "num",
    "str": "str",
    "date": "date",
    "datetime": "date",
    "ref": "select",
    "xref": "select",
    "enum": "select",
}

_TOKEN = re.compile(r'\s*(?:(?P<q>"(?:[^"\\]|\\.)*")|(?P<p>[()\[\],])|(?P<w>[^\s()\[\],"]+))')


@dataclass(frozen=True)
class Condition:
    """One ``FIELD OPERATOR values`` condition."""

    field: FieldDef
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class BoolOp:
    """``AND``/``OR`` over sub-filters."""

    op: str
    parts: tuple[Filter, ...]


Filter = Condition | BoolOp


def _error(detail: str) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_PARAMETER", detail, query_param="q")


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split a filter into ``(kind, text)`` tokens: ``q`` quoted, ``p`` punctuation, ``w`` word."""
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _error(f"Invalid query. Unexpected character at position {pos}.")
        pos = m.end()
        if m.group("q") is not None:
            out.append(("q", m.group("q")[1:-1].replace('\\"', '"')))
        elif m.group("p") is not None:
            out.append(("p", m.group("p")))
        elif m.group("w") is not None:
            out.append(("w", m.group("w")))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], shape: Shape, record: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.shape = shape
        self.record = record

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise _error("Invalid query. The query ended unexpectedly.")
        self.pos += 1
        return tok

    def expr(self) -> Filter:
        parts = [self.term()]
        while (tok := self.peek()) is not None and tok[0] == "w" and tok[1].upper() == "OR":
            self.pos += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def term(self) -> Filter:
        parts = [self.factor()]
        while (tok := self.peek()) is not None and tok[0] == "w" and tok[1].upper() == "AND":
            self.pos += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def factor(self) -> Filter:
        tok = self.take()
        if tok == ("p", "("):
            inner = self.expr()
            if self.take() != ("p", ")"):
                raise _error("Invalid query. Missing closing parenthesis.")
            return inner
        if tok[0] != "w":
            raise _error(f"Invalid query. Expected a field name, found '{tok[1]}'.")
        canon = self.shape.canonical(tok[1])
        if canon is None or self.shape.fields[canon].kind in {"sublist", "subrecord", "multi", "qty"}:
            raise NetSuiteError(
                400,
                "NONEXISTENT_FIELD",
                f"Invalid query. Field '{tok[1]}' does not exist on record '{self.record}' "
                f"or cannot be used in a filter.",
                query_param="q",
            )
        fdef = self.shape.fields[canon]
        op_tok = self.take()
        op = op_tok[1].upper()
        if op == "ENDWITH":
            op = "END_WITH"
        allowed = _OPS_BY_KIND[_KIND_CLASS.get(fdef.kind, "str")] | _ARITY0
        if op_tok[0] != "w" or op not in allowed:
            raise _error(f"Invalid query. Operator '{op_tok[1]}' cannot be used with field '{tok[1]}'.")
        if op in _ARITY0:
            return Condition(fdef, op, ())
        nxt = self.peek()
        values: list[str] = []
        if nxt == ("p", "["):
            self.pos += 1
            while True:
                kind, text = self.take()
                if kind == "p":
                    raise _error("Invalid query. Expected a value in the list.")
                values.append(text)
                sep = self.take()
                if sep == ("p", "]"):
                    break
                if sep != ("p", ","):
                    raise _error("Invalid query. Expected ',' or ']' in the list.")
        else:
            kind, text = self.take()
            if kind == "p":
                raise _error(f"Invalid query. Expected a value after '{op}'.")
            values.append(text)
        if op in _ARITY2 and len(values) != 2:
            raise _error(f"Invalid query. Operator '{op}' takes two values.")
        if op not in _ARITY2 and not op.startswith("ANY_OF") and len(values) != 1:
            raise _error(f"Invalid query. Operator '{op}' takes one value.")
        return Condition(fdef, op, tuple(values))


def parse(text: str, shape: Shape, record: str) -> Filter:
    """Parse a ``q`` filter for a record shape.

    Args:
        text: the filter.
        shape: the record's fields.
        record: record type (for messages).

    Returns:
        The parsed filter.

    Raises:
        NetSuiteError: malformed filter, unknown field or operator.
    """
    parser = _Parser(tokenize(text), shape, record)
    result = parser.expr()
    if parser.peek() is not None:
        raise _error(f"Invalid query. Unexpected '{parser.peek()[1]}'.")  # type: ignore[index]
    return result


_FORMAT_PARTS = {
    "M": r"(?P<m>\d{1,2})",
    "MM": r"(?P<m>\d{2})",
    "D": r"(?P<d>\d{1,2})",
    "DD": r"(?P<d>\d{2})",
    "YYYY": r"(?P<y>\d{4})",
}


def date_parser(fmt: str, tz: tzinfo) -> Callable[[str], tuple[datetime, bool]]:
    """Build a parser for the user's date format (``M/D/YYYY``, ``D.M.YYYY``, ``YYYY-MM-DD`` ...).

    Args:
        fmt: the date format preference.
        tz: the user's time zone.

    Returns:
        A function giving ``(UTC instant, has_time)``; it raises ``Unparseable date`` errors.
    """
    pattern = re.sub(
        r"YYYY|MM|M|DD|D", lambda m: _FORMAT_PARTS[m.group(0)], re.escape(fmt).replace("\\-", "-")
    )
    rx = re.compile(
        rf"^{pattern}(?:\s+(?P<H>\d{{1,2}}):(?P<I>\d{{2}})(?::(?P<S>\d{{2}}))?\s*(?P<ap>[aApP][mM])?)?$"
    )

    def parse_value(text: str) -> tuple[datetime, bool]:
        m = rx.match(text.strip())
        if m is None:
            raise NetSuiteError(400, "INVALID_PARAMETER", f'Unparseable date: "{text}"', query_param="q")
        try:
            hour = int(m.group("H") or 0)
            if m.group("ap"):
                hour = hour % 12 + (12 if m.group("ap").lower() == "pm" else 0)
            local = datetime(
                int(m.group("y")),
                int(m.group("m")),
                int(m.group("d")),
                hour,
                int(m.group("I") or 0),
                int(m.group("S") or 0),
                tzinfo=tz,
            )
        except ValueError:
            raise NetSuiteError(
                400, "INVALID_PARAMETER", f'Unparseable date: "{text}"', query_param="q"
            ) from None
        return local.astimezone(UTC), m.group("H") is not None

    return parse_value


class Evaluator:
    """Evaluates a parsed filter against stored records."""

    def __init__(self, parse_date: Callable[[str], tuple[datetime, bool]], tz: tzinfo) -> None:
        self.parse_date = parse_date
        self.tz = tz
        self._dates: dict[str, tuple[datetime, bool]] = {}

    def matches(self, flt: Filter, data: Mapping[str, Any]) -> bool:
        """Whether a stored record passes the filter."""
        if isinstance(flt, BoolOp):
            if flt.op == "AND":
                return all(self.matches(p, data) for p in flt.parts)
            return any(self.matches(p, data) for p in flt.parts)
        return self._condition(flt, data.get(flt.field.name))

    def _date(self, text: str) -> tuple[datetime, bool]:
        if text not in self._dates:
            self._dates[text] = self.parse_date(text)
        return self._dates[text]

    def _condition(self, cond: Condition, value: Any) -> bool:
        op = cond.op
        negate = op.endswith("_NOT")
        base = op[:-4] if negate else op
        result = self._test(cond, base, value)
        return not result if negate else result

    def _test(self, cond: Condition, op: str, value: Any) -> bool:
        if op == "EMPTY":
            return value is None or value == "" or value == []
        kind = _KIND_CLASS.get(cond.field.kind, "str")
        vals = cond.values
        if kind == "bool":
            want = vals[0].lower() in {"true", "t", "yes", "1"}
            return bool(value) == want
        if kind == "str":
            text = "" if value is None else str(value).lower()
            needle = vals[0].lower()
            return {
                "IS": text == needle,
                "CONTAIN": needle in text,
                "START_WITH": text.startswith(needle),
                "END_WITH": text.endswith(needle),
            }[op]
        if kind == "select":
            text = "" if value is None else str(value)
            return text.lower() in {v.lower() for v in vals}
        if kind == "num":
            num = _num(value)
            targets = [_num(v) for v in vals]
            if any(t is None for t in targets):
                raise _error(f"Invalid query. '{vals[0]}' is not a number.")
            if num is None:
                return False
            t = [float(x) for x in targets if x is not None]
            return {
                "ANY_OF": num in t,
                "EQUAL": num == t[0],
                "GREATER": num > t[0],
                "GREATER_OR_EQUAL": num >= t[0],
                "LESS": num < t[0],
                "LESS_OR_EQUAL": num <= t[0],
                "BETWEEN": len(t) == 2 and t[0] <= num <= t[1],
                "WITHIN": len(t) == 2 and t[0] <= num <= t[1],
            }[op]
        # dates and datetimes
        if value is None:
            return False
        if cond.field.kind == "date":
            stamp = datetime.fromisoformat(str(value)).replace(tzinfo=self.tz).astimezone(UTC)
        else:
            stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if op in {"WITHIN", "BETWEEN"}:
            lo, _ = self._date(vals[0])
            hi, hi_time = self._date(vals[1])
            return lo <= stamp < (hi if hi_time else hi + timedelta(days=1))
        point, has_time = self._date(vals[0])
        end = point if has_time else point + timedelta(days=1)
        if op == "AFTER":
            return stamp > point if has_time else stamp >= end
        if op == "BEFORE":
            return stamp < point
        if op == "ON":
            return point <= stamp < end if not has_time else stamp == point
        if op == "ON_OR_AFTER":
            return stamp >= point
        if op == "ON_OR_BEFORE":
            return stamp <= point if has_time else stamp < end
        return False


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None

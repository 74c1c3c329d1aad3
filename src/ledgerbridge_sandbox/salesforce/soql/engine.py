"""SOQL execution: bind a parsed query to the org schema, then filter, sort, group and project.

Query layer of the Salesforce sandbox; imports the parser, the org (records and schema) and
value helpers. Binding reports INVALID_FIELD / INVALID_TYPE / MALFORMED_QUERY with Salesforce's
caret messages; execution compiles conditions into closures once per query, scans the type's
cached records (or uses the key index for ``Id``/external-id equality), and renders records as
``/query`` returns them (reference §4): ``attributes`` first, parent paths as nested objects,
child subqueries as ``{totalSize, done, records}`` or ``null``, aggregates as
``AggregateResult`` rows with ``expr0``... names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ledgerbridge_sandbox.salesforce import ids
from ledgerbridge_sandbox.salesforce.errors import QueryError
from ledgerbridge_sandbox.salesforce.schema import NUMBER_TYPES, STRING_TYPES, FieldDef, ObjectDef
from ledgerbridge_sandbox.salesforce.soql import dates
from ledgerbridge_sandbox.salesforce.soql.parser import (
    BoolOp,
    Compare,
    Condition,
    FieldRef,
    FuncCall,
    InList,
    InQuery,
    Literal,
    Pos,
    Query,
    SelectItem,
    caret_message,
    parse,
)
from ledgerbridge_sandbox.salesforce.store import Record
from ledgerbridge_sandbox.salesforce.values import format_datetime, parse_datetime

if TYPE_CHECKING:
    from ledgerbridge_sandbox.salesforce.org import Org

Getter = Callable[[Any], Any]
Predicate = Callable[[Any], bool]

AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
DATE_FUNCTIONS = frozenset(
    {
        "CALENDAR_MONTH",
        "CALENDAR_QUARTER",
        "CALENDAR_YEAR",
        "DAY_IN_MONTH",
        "DAY_IN_WEEK",
        "DAY_IN_YEAR",
        "DAY_ONLY",
        "FISCAL_MONTH",
        "FISCAL_QUARTER",
        "FISCAL_YEAR",
        "HOUR_IN_DAY",
        "WEEK_IN_MONTH",
        "WEEK_IN_YEAR",
    }
)
PASS_THROUGH = frozenset({"TOLABEL", "CONVERTCURRENCY", "FORMAT"})
_CUSTOM_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field "
    "name. Please reference your WSDL or the describe call for the appropriate names."
)
_REL_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
)
_TYPE_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
MAX_OFFSET = 2000  # SOQL OFFSET cap
_FIELDS_LIMIT = 200  # FIELDS(ALL)/FIELDS(CUSTOM) need LIMIT <= 200 (reference §4)


def _error(code: str, query: Query, pos: Pos, detail: str) -> QueryError:
    return QueryError(code, caret_message(query.text, pos, detail))


def _type_kind(f: FieldDef) -> str:
    if f.type in {"id", "reference"}:
        return "id"
    if f.type in STRING_TYPES:
        return "string"
    if f.type in NUMBER_TYPES:
        return "number"
    return f.type  # boolean, date, datetime, time, address


@dataclass
class BoundPath:
    """A field path resolved against the schema."""

    relationships: list[FieldDef]
    field: FieldDef
    owner: ObjectDef
    get: Getter
    header: str  # dotted path with canonical names (Bulk CSV column)


@dataclass
class _Node:
    """Projection tree: fields of one object level, nested relationships, subqueries."""

    entries: list[tuple[str, str, Any]] = field(default_factory=list)  # (kind, key, payload)
    children: dict[str, _Node] = field(default_factory=dict)


class Binder:
    """Resolves names of one query against the org schema and compiles closures.

    Args:
        org: the org.
        query: the parsed query.
        obj: the object the query reads (for subqueries: the child object).
        include_deleted: queryAll semantics.
    """

    def __init__(self, org: Org, query: Query, obj: ObjectDef, include_deleted: bool) -> None:
        self.org = org
        self.query = query
        self.obj = obj
        self.include_deleted = include_deleted
        self.alias = (query.object_alias or "").lower()
        self.today = org.now().date()

    # -- paths ------------------------------------------------------------------------------

    def path(self, ref: FieldRef, *, allow_compound: bool = True) -> BoundPath:
        """Resolve ``Account.Owner.Email``-style paths (relationship names, then a field).

        Raises:
            QueryError: INVALID_FIELD for an unknown relationship or field.
        """
        parts = list(ref.path)
        if len(parts) > 1 and self.alias and parts[0].lower() == self.alias:
            parts = parts[1:]
        obj = self.obj
        rels: list[FieldDef] = []
        names: list[str] = []
        targets: list[list[ObjectDef]] = []
        candidates = [obj]
        for name in parts[:-1]:
            rel = None
            for cand in candidates:
                rel = cand.relationship(name)
                if rel is not None:
                    break
            if rel is None:
                raise _error(
                    "INVALID_FIELD",
                    self.query,
                    ref.pos,
                    f"Didn't understand relationship '{name}' in field path. {_REL_HINT}",
                )
            rels.append(rel)
            names.append(rel.relationship_name or rel.name)
            candidates = [o for t in rel.reference_to if (o := self.org.schema.get(t)) is not None]
            targets.append(candidates)
        last = parts[-1]
        final: FieldDef | None = None
        owner = candidates[0] if candidates else obj
        for cand in candidates:
            final = cand.field(last)
            if final is not None:
                owner = cand
                break
        if final is None:
            entity = owner.name
            raise _error(
                "INVALID_FIELD",
                self.query,
                ref.pos,
                f"No such column '{last}' on entity '{entity}'. {_CUSTOM_HINT}",
            )
        if final.type == "address" and not allow_compound:
            raise _error(
                "INVALID_FIELD",
                self.query,
                ref.pos,
                f"field '{final.name}' can not be filtered in a query call",
            )
        getter = self._getter(rels, final)
        return BoundPath(rels, final, owner, getter, ".".join([*names, final.name]))

    def _getter(self, rels: list[FieldDef], final: FieldDef) -> Getter:
        org = self.org
        name = final.name
        if final.type == "address":

            def value_of(rec: Record) -> Any:
                obj = org.schema.type_of_id(rec["Id"])
                return org.field_value(obj, final, rec) if obj else None
        else:

            def value_of(rec: Record) -> Any:
                return rec.get(name)

        if not rels:
            return value_of
        store = org.store
        schema = org.schema
        rel_names = [r.name for r in rels]
        polymorphic = any(len(r.reference_to) > 1 for r in rels)

        def get(rec: Record) -> Any:
            cur: Record | None = rec
            for rel_name in rel_names:
                rid = cur.get(rel_name) if cur is not None else None
                if rid is None:
                    return None
                target = schema.type_of_id(rid)
                cur = store.get(target.name, rid) if target else None
                if cur is None:
                    return None
            if polymorphic and cur is not None:
                target = schema.type_of_id(cur["Id"])
                if target is None or target.field(name) is None:
                    return None
            return value_of(cur) if cur is not None else None

        return get

    def parent_record(self, rels: list[FieldDef], rec: Record) -> Record | None:
        """The record reached by following ``rels`` from ``rec``."""
        cur: Record | None = rec
        for rel in rels:
            rid = cur.get(rel.name) if cur is not None else None
            if rid is None:
                return None
            target = self.org.schema.type_of_id(rid)
            cur = self.org.store.get(target.name, rid) if target else None
        return cur

    # -- operands (WHERE / ORDER BY / GROUP BY) ----------------------------------------------

    def operand(self, node: FieldRef | FuncCall) -> tuple[Getter, str, FieldDef | None]:
        """A value getter for a record, its kind (string/number/...) and the field if any."""
        if isinstance(node, FieldRef):
            bound = self.path(node, allow_compound=False)
            return bound.get, _type_kind(bound.field), bound.field
        fn = node.upper
        if fn in DATE_FUNCTIONS:
            inner, kind, f = self._single_arg(node)
            if kind not in {"date", "datetime"}:
                raise _error(
                    "MALFORMED_QUERY",
                    self.query,
                    node.pos,
                    f"Invalid field type for {fn}: {f.name if f else '?'}",
                )
            convert = _date_function(fn)
            return (lambda rec: _apply(convert, inner(rec))), ("date" if fn == "DAY_ONLY" else "number"), None
        if fn in PASS_THROUGH:
            return self._single_arg(node)
        if fn in AGGREGATES:
            raise _error(
                "MALFORMED_QUERY",
                self.query,
                node.pos,
                "Aggregate functions are not allowed in this part of the query",
            )
        raise _error("MALFORMED_QUERY", self.query, node.pos, f"unexpected token: {node.name}")

    def _single_arg(self, node: FuncCall) -> tuple[Getter, str, FieldDef | None]:
        if len(node.args) != 1:
            raise _error("MALFORMED_QUERY", self.query, node.pos, f"{node.name} takes exactly one argument")
        return self.operand(node.args[0])

    # -- conditions -----------------------------------------------------------------------

    def condition(
        self, cond: Condition, operand: Callable[[Any], tuple[Getter, str, FieldDef | None]] | None = None
    ) -> Predicate:
        """Compile a WHERE (or HAVING, with a group ``operand`` binder) condition."""
        operand = operand or self.operand
        if isinstance(cond, BoolOp):
            parts = [self.condition(c, operand) for c in cond.items]
            if cond.op == "AND":
                return lambda rec: all(p(rec) for p in parts)
            if cond.op == "OR":
                return lambda rec: any(p(rec) for p in parts)
            only = parts[0]
            return lambda rec: not only(rec)
        if isinstance(cond, InQuery):
            return self._semi_join(cond, operand)
        getter, kind, f = operand(cond.operand)
        if f is not None and f.type == "textarea" and f.length > 255:
            raise _error(
                "INVALID_FIELD",
                self.query,
                cond.operand.pos,
                f"field '{f.name}' can not be filtered in a query call",
            )
        label = f.name if f else getattr(cond.operand, "name", "?")
        if isinstance(cond, InList):
            return self._in_list(cond, getter, kind, label)
        assert isinstance(cond, Compare)
        if cond.op == "LIKE":
            return self._like(cond, getter, kind, label)
        return self._compare(cond.op, cond.value, getter, kind, label)

    def _literal(self, lit: Literal, kind: str, label: str) -> Any:
        """Convert a literal to the comparable form of a field kind (or a date range)."""
        q = self.query
        if lit.kind == "null":
            return None
        if lit.kind == "date_literal":
            needs_n = dates.takes_n(lit.value)
            if needs_n is None or needs_n != (lit.n is not None):
                raise _error("MALFORMED_QUERY", q, lit.pos, f"unexpected token: {lit.value}")
            if kind not in {"date", "datetime"}:
                raise _error("INVALID_FIELD", q, lit.pos, _type_message(label, kind))
            first, last = dates.literal_range(lit.value, lit.n, self.today)
            return _DateRange(first, last, kind)
        if kind in {"string", "id"}:
            if lit.kind != "string":
                raise _error("INVALID_FIELD", q, lit.pos, _type_message(label, kind))
            text = str(lit.value).replace("\\%", "%").replace("\\_", "_")
            if kind == "id":
                rid = ids.normalize(text)
                if rid is None:
                    raise _error("INVALID_QUERY_FILTER_OPERATOR", q, lit.pos, f"invalid ID field: {text}")
                return rid
            return text.lower()
        if kind == "number":
            if lit.kind != "number":
                raise _error("INVALID_FIELD", q, lit.pos, _type_message(label, kind))
            return float(lit.value)
        if kind == "boolean":
            if lit.kind != "boolean":
                raise _error("INVALID_FIELD", q, lit.pos, _type_message(label, kind))
            return bool(lit.value)
        if kind == "date":
            if lit.kind != "date":
                raise _error("INVALID_FIELD", q, lit.pos, _type_message(label, kind))
            return str(lit.value)
        if kind == "datetime":
            dt = parse_datetime(str(lit.value)) if lit.kind == "datetime" else None
            if dt is None:
                raise _error("INVALID_FIELD", q, lit.pos, _type_message(label, kind))
            return format_datetime(dt)
        if lit.kind == "string":
            return str(lit.value)
        return lit.value

    def _compare(self, op: str, lit: Literal, getter: Getter, kind: str, label: str) -> Predicate:
        value = self._literal(lit, kind, label)
        if value is None:
            if op == "=":
                return lambda rec: getter(rec) is None
            if op == "!=":
                return lambda rec: getter(rec) is not None
            raise _error(
                "INVALID_QUERY_FILTER_OPERATOR", self.query, lit.pos, f"invalid operator on null: {op}"
            )
        if isinstance(value, _DateRange):
            lo, hi = value.bounds()
            checks: dict[str, Predicate] = {
                "=": lambda v: lo <= v < hi,
                "!=": lambda v: not lo <= v < hi,
                "<": lambda v: v < lo,
                "<=": lambda v: v < hi,
                ">": lambda v: v >= hi,
                ">=": lambda v: v >= lo,
            }
            check = checks[op]
            if op == "!=":
                return lambda rec: (v := getter(rec)) is None or check(v)
            return lambda rec: (v := getter(rec)) is not None and check(v)
        fold = kind == "string"
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }
        fn = ops[op]
        if op == "!=":
            if fold:
                return lambda rec: (v := getter(rec)) is None or str(v).lower() != value
            return lambda rec: (v := getter(rec)) is None or v != value
        if fold:
            return lambda rec: (v := getter(rec)) is not None and fn(str(v).lower(), value)
        return lambda rec: (v := getter(rec)) is not None and fn(v, value)

    def _like(self, cond: Compare, getter: Getter, kind: str, label: str) -> Predicate:
        lit = cond.value
        if kind not in {"string", "id"} or lit.kind != "string":
            raise _error("INVALID_FIELD", self.query, lit.pos, _type_message(label, kind))
        pattern = _like_regex(str(lit.value))
        return lambda rec: (v := getter(rec)) is not None and pattern.match(str(v)) is not None

    def _in_list(self, cond: InList, getter: Getter, kind: str, label: str) -> Predicate:
        if cond.op in {"INCLUDES", "EXCLUDES"}:
            groups = []
            for lit in cond.values:
                if lit.kind != "string":
                    raise _error("INVALID_FIELD", self.query, lit.pos, _type_message(label, "string"))
                groups.append({p.strip().lower() for p in str(lit.value).split(";") if p.strip()})

            def includes(rec: Record) -> bool:
                v = getter(rec)
                have = {p.strip().lower() for p in str(v).split(";")} if v else set()
                return any(g <= have for g in groups)

            if cond.op == "INCLUDES":
                return includes
            return lambda rec: not includes(rec)
        values = [self._literal(lit, kind, label) for lit in cond.values]
        if any(isinstance(v, _DateRange) for v in values):
            ranges = [v.bounds() if isinstance(v, _DateRange) else (v, v + "\uffff") for v in values]

            def in_ranges(rec: Record) -> bool:
                v = getter(rec)
                return v is not None and any(lo <= v < hi for lo, hi in ranges)

            return in_ranges if cond.op == "IN" else (lambda rec: not in_ranges(rec))
        has_null = None in values
        allowed = {v for v in values if v is not None}
        fold = kind == "string"

        def member(rec: Record) -> bool:
            v = getter(rec)
            if v is None:
                return has_null
            return (str(v).lower() if fold else v) in allowed

        return member if cond.op == "IN" else (lambda rec: not member(rec))

    def _semi_join(
        self, cond: InQuery, operand: Callable[[Any], tuple[Getter, str, FieldDef | None]]
    ) -> Predicate:
        getter, kind, _ = operand(cond.operand)
        sub = cond.query
        if kind != "id":
            raise _error(
                "INVALID_FIELD",
                self.query,
                sub.object_pos,
                "Semi join sub-selects are only allowed on Id and reference fields",
            )
        inner_obj = self.org.schema.get(sub.object_name)
        if inner_obj is None:
            raise _error(
                "INVALID_TYPE",
                self.query,
                sub.object_pos,
                f"sObject type '{sub.object_name}' is not supported. {_TYPE_HINT}",
            )
        if len(sub.select) != 1 or not isinstance(sub.select[0].expr, FieldRef):
            raise _error(
                "MALFORMED_QUERY",
                self.query,
                sub.object_pos,
                "Semi join sub-selects can only select one Id or reference field",
            )
        plan = Plan(self.org, sub, inner_obj, False)
        inner_get = plan.binder.path(sub.select[0].expr).get
        cache: dict[str, set[Any]] = {}

        def values() -> set[Any]:
            if "v" not in cache:
                cache["v"] = {inner_get(r) for r in plan.rows()} - {None}
            return cache["v"]

        if cond.negate:
            return lambda rec: (v := getter(rec)) is None or v not in values()
        return lambda rec: (v := getter(rec)) is not None and v in values()


def _type_message(label: str, kind: str) -> str:
    sf_type = {
        "string": "string",
        "id": "string",
        "number": "double",
        "boolean": "boolean",
        "date": "date",
        "datetime": "dateTime",
    }.get(kind, kind)
    quoted = (
        "should be enclosed in quotes" if kind in {"string", "id"} else "should not be enclosed in quotes"
    )
    return f"value of filter criterion for field '{label}' must be of type {sf_type} and {quoted}"


@dataclass
class _DateRange:
    first: date
    last: date
    kind: str

    def bounds(self) -> tuple[str, str]:
        """Half-open ``[lo, hi)`` bounds in the stored text form of the field kind."""
        nxt = self.last + timedelta(days=1)
        if self.kind == "date":
            return self.first.isoformat(), nxt.isoformat()
        start = datetime(self.first.year, self.first.month, self.first.day)
        end = datetime(nxt.year, nxt.month, nxt.day)
        return format_datetime(_utc(start)), format_datetime(_utc(end))


def _utc(dt: datetime) -> datetime:
    from datetime import UTC

    return dt.replace(tzinfo=UTC)


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def _apply(fn: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else fn(value)


def _date_function(name: str) -> Callable[[str], Any]:
    def as_dt(text: str) -> datetime:
        dt = parse_datetime(text)
        assert dt is not None
        return dt

    table: dict[str, Callable[[datetime], Any]] = {
        "CALENDAR_MONTH": lambda d: d.month,
        "FISCAL_MONTH": lambda d: d.month,
        "CALENDAR_QUARTER": lambda d: (d.month - 1) // 3 + 1,
        "FISCAL_QUARTER": lambda d: (d.month - 1) // 3 + 1,
        "CALENDAR_YEAR": lambda d: d.year,
        "FISCAL_YEAR": lambda d: d.year,
        "DAY_IN_MONTH": lambda d: d.day,
        "DAY_IN_WEEK": lambda d: (d.weekday() + 1) % 7 + 1,
        "DAY_IN_YEAR": lambda d: d.timetuple().tm_yday,
        "DAY_ONLY": lambda d: d.date().isoformat(),
        "HOUR_IN_DAY": lambda d: d.hour,
        "WEEK_IN_MONTH": lambda d: (d.day - 1) // 7 + 1,
        "WEEK_IN_YEAR": lambda d: (d.timetuple().tm_yday - 1) // 7 + 1,
    }
    fn = table[name]
    return lambda text: fn(as_dt(text))


def _sort_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class Plan:
    """A bound, executable query.

    Args:
        org: the org.
        query: the parsed query.
        obj: the object read.
        include_deleted: queryAll semantics (deleted rows included).
    """

    def __init__(self, org: Org, query: Query, obj: ObjectDef, include_deleted: bool) -> None:
        self.org = org
        self.query = query
        self.obj = obj
        self.include_deleted = include_deleted
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise QueryError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        self.binder = Binder(org, query, obj, include_deleted)
        self.where = self.binder.condition(query.where) if query.where is not None else None
        self.is_count = (
            len(query.select) == 1
            and isinstance(query.select[0].expr, FuncCall)
            and query.select[0].expr.upper == "COUNT"
            and not query.select[0].expr.args
        )
        self.is_aggregate = not self.is_count and (
            bool(query.group_by)
            or any(isinstance(s.expr, FuncCall) and s.expr.upper in AGGREGATES for s in query.select)
        )
        self.columns: list[tuple[str, Getter]] = []
        if self.is_aggregate:
            self._bind_aggregate()
        elif not self.is_count:
            self.root = self._bind_projection(query.select)
        self.order = self._bind_order()

    # -- projection -------------------------------------------------------------------------

    def _expand(self, items: list[SelectItem]) -> list[SelectItem]:
        out: list[SelectItem] = []
        for item in items:
            expr = item.expr
            if isinstance(expr, FuncCall) and expr.upper == "FIELDS":
                arg = expr.args[0] if len(expr.args) == 1 and isinstance(expr.args[0], FieldRef) else None
                which = arg.text.upper() if arg else ""
                if which not in {"ALL", "STANDARD", "CUSTOM"}:
                    raise _error("MALFORMED_QUERY", self.query, expr.pos, "unexpected token: FIELDS")
                if which != "STANDARD" and (self.query.limit is None or self.query.limit > _FIELDS_LIMIT):
                    raise _error(
                        "MALFORMED_QUERY",
                        self.query,
                        expr.pos,
                        f"The SOQL FIELDS function must have a LIMIT of at most {_FIELDS_LIMIT}",
                    )
                for f in self.obj.fields.values():
                    if which == "ALL" or (which == "CUSTOM") == f.custom:
                        out.append(SelectItem(FieldRef([f.name], expr.pos)))
            else:
                out.append(item)
        return out

    def _bind_projection(self, items: list[SelectItem]) -> _Node:
        root = _Node()
        seen: set[str] = set()
        for item in self._expand(items):
            expr = item.expr
            if isinstance(expr, Query):
                self._bind_subquery(root, expr)
                continue
            if isinstance(expr, FuncCall):
                if (
                    expr.upper not in PASS_THROUGH
                    or len(expr.args) != 1
                    or not isinstance(expr.args[0], FieldRef)
                ):
                    raise _error(
                        "MALFORMED_QUERY",
                        self.query,
                        expr.pos,
                        f"Invalid use of function {expr.name} outside of an aggregate query",
                    )
                expr = expr.args[0]
            bound = self.binder.path(expr)
            key = bound.header.lower()
            if key in seen:
                # Real text; the error code is from memory.
                raise QueryError("MALFORMED_QUERY", f"duplicate field selected: {bound.header}")
            seen.add(key)
            self.columns.append((bound.header, bound.get))
            node = root
            for rel in bound.relationships:
                name = rel.relationship_name or rel.name
                child = node.children.get(name)
                if child is None:
                    child = _Node()
                    node.children[name] = child
                    node.entries.append(("rel", name, rel))
                node = child
            node.entries.append(("field", bound.field.name, bound.field))
        return root

    def _bind_subquery(self, root: _Node, sub: Query) -> None:
        rel = self.obj.child(sub.object_name)
        if rel is None:
            raise _error(
                "INVALID_TYPE",
                self.query,
                sub.object_pos,
                f"Didn't understand relationship '{sub.object_name}' in FROM part of query call. {_REL_HINT}",
            )
        child_obj = self.org.schema.objects[rel.child]
        child_plan = Plan(self.org, sub, child_obj, self.include_deleted)
        if child_plan.is_aggregate or child_plan.is_count:
            raise _error(
                "MALFORMED_QUERY",
                self.query,
                sub.object_pos,
                "Aggregate queries are not supported in a subquery",
            )
        root.entries.append(("sub", rel.name, (child_plan, rel.field)))

    def render(self, rec: Record, version: str) -> dict[str, Any]:
        """One result row as ``/query`` returns it."""
        return self._render_node(self.root, rec, self.org.schema.type_of_id(rec["Id"]) or self.obj, version)

    def _render_node(self, node: _Node, rec: Record, obj: ObjectDef, version: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": obj.name, "url": self.org.url(obj.name, rec["Id"], version)}
        }
        org = self.org
        for kind, key, payload in node.entries:
            if kind == "field":
                f: FieldDef = payload
                if obj.fields.get(f.name) is not f and obj.field(f.name) is None:
                    out[key] = None
                else:
                    out[key] = org.field_value(obj, obj.field(f.name) or f, rec)
            elif kind == "rel":
                rel: FieldDef = payload
                rid = rec.get(rel.name)
                target = org.schema.type_of_id(rid) if rid else None
                parent = org.store.get(target.name, rid) if target and rid else None
                out[key] = (
                    self._render_node(node.children[key], parent, target, version)
                    if parent is not None and target is not None
                    else None
                )
            else:
                child_plan, fk = payload
                rows = child_plan.child_rows(fk, rec["Id"])
                out[key] = (
                    {
                        "totalSize": len(rows),
                        "done": True,
                        "records": [child_plan.render(r, version) for r in rows],
                    }
                    if rows
                    else None
                )
        return out

    # -- aggregates -------------------------------------------------------------------------

    def _bind_aggregate(self) -> None:
        q = self.query
        self.group_getters: list[Getter] = []
        group_keys: list[str] = []
        for g in q.group_by:
            getter, _, _f = self.binder.operand(g)
            self.group_getters.append(getter)
            group_keys.append(_node_key(g))
        self.outputs: list[tuple[str, Callable[[tuple[Any, ...], list[Record]], Any]]] = []
        n_expr = 0
        for item in q.select:
            expr = item.expr
            if isinstance(expr, Query):
                raise _error(
                    "MALFORMED_QUERY", q, q.object_pos, "Subqueries are not supported in aggregate queries"
                )
            key = _node_key(expr)
            if isinstance(expr, FuncCall) and expr.upper in AGGREGATES:
                name = item.alias or f"expr{n_expr}"
                if not item.alias:
                    n_expr += 1
                self.outputs.append((name, self._aggregate(expr)))
                continue
            if key not in group_keys:
                text = expr.text if isinstance(expr, FieldRef) else expr.name
                raise _error("MALFORMED_QUERY", q, expr.pos, f"Field must be grouped or aggregated: {text}")
            index = group_keys.index(key)
            if isinstance(expr, FuncCall):
                name = item.alias or f"expr{n_expr}"
                if not item.alias:
                    n_expr += 1
            else:
                name = item.alias or self.binder.path(expr).field.name
            self.outputs.append((name, _group_value(index)))
        self.having = self.binder.condition(q.having, self._group_operand) if q.having is not None else None

    def _aggregate(self, call: FuncCall) -> Callable[[tuple[Any, ...], list[Record]], Any]:
        fn = call.upper
        if not call.args:
            if fn != "COUNT":
                raise _error("MALFORMED_QUERY", self.query, call.pos, f"{call.name} needs a field")
            return lambda key, rows: len(rows)
        getter, kind, _ = self.binder.operand(call.args[0])
        if fn in {"SUM", "AVG"} and kind != "number":
            raise _error(
                "MALFORMED_QUERY",
                self.query,
                call.pos,
                f"Invalid field type for {fn}: only numeric fields can be summed or averaged",
            )

        def compute(key: tuple[Any, ...], rows: list[Record]) -> Any:
            values = [v for r in rows if (v := getter(r)) is not None]
            if fn == "COUNT":
                return len(values)
            if fn == "COUNT_DISTINCT":
                return len({_sort_key(v) for v in values})
            if not values:
                return None
            if fn == "SUM":
                return float(sum(values))
            if fn == "AVG":
                return float(sum(values)) / len(values)
            return min(values) if fn == "MIN" else max(values)

        return compute

    def _group_operand(self, node: FieldRef | FuncCall) -> tuple[Getter, str, FieldDef | None]:
        if isinstance(node, FuncCall) and node.upper in AGGREGATES:
            compute = self._aggregate(node)
            kind = "number"
            if node.upper in {"MIN", "MAX"} and node.args:
                _, kind, _ = self.binder.operand(node.args[0])
            return (lambda group: compute(group[0], group[1])), kind, None
        key = _node_key(node)
        keys = [_node_key(g) for g in self.query.group_by]
        if key not in keys:
            raise _error(
                "MALFORMED_QUERY",
                self.query,
                node.pos,
                f"Field must be grouped or aggregated: {getattr(node, 'text', getattr(node, 'name', ''))}",
            )
        _, kind, f = self.binder.operand(node)
        i = keys.index(key)
        return (lambda group: group[0][i]), kind, f

    # -- ordering ---------------------------------------------------------------------------

    def _bind_order(self) -> list[tuple[Getter, bool, bool]]:
        out = []
        for item in self.query.order_by:
            if self.is_aggregate:
                getter, _, _ = self._group_operand(item.expr)
            else:
                getter, _kind, f = self.binder.operand(item.expr)
                if f is not None and (f.type == "multipicklist" or (f.type == "textarea" and f.length > 255)):
                    raise _error(
                        "INVALID_FIELD",
                        self.query,
                        item.expr.pos,
                        f"field '{f.name}' can not be sorted in a query call",
                    )
            nulls_last = item.nulls_last if item.nulls_last is not None else item.descending
            out.append((getter, item.descending, nulls_last))
        return out

    def _sort(self, rows: list[Any]) -> None:
        for getter, descending, nulls_last in reversed(self.order):

            def key(row: Any, g: Getter = getter, last: bool = nulls_last, desc: bool = descending) -> Any:
                v = g(row)
                if v is None:
                    return (2,) if last != desc else (0,)
                return (1, _sort_key(v))

            rows.sort(key=key, reverse=descending)

    # -- execution --------------------------------------------------------------------------

    def candidates(self) -> Iterable[Record]:
        """Records that may match (a key-index lookup when WHERE pins Id or an external id)."""
        pinned = self._pinned_ids()
        store = self.org.store
        name = self.obj.name
        if pinned is not None:
            recs = (store.get(name, rid) for rid in pinned)
            rows: Iterable[Record] = (r for r in recs if r is not None)
        else:
            rows = store.records(name).values()
        if self.include_deleted:
            return rows
        return (r for r in rows if not r.get("IsDeleted"))

    def _pinned_ids(self) -> list[str] | None:
        cond = self.query.where
        if cond is None or self.include_deleted:
            return None
        terms = cond.items if isinstance(cond, BoolOp) and cond.op == "AND" else [cond]
        for term in terms:
            if (
                isinstance(term, Compare)
                and term.op == "="
                and isinstance(term.operand, FieldRef)
                and len(term.operand.path) == 1
                and term.value.kind == "string"
            ):
                values = [term.value]
            elif (
                isinstance(term, InList)
                and term.op == "IN"
                and isinstance(term.operand, FieldRef)
                and len(term.operand.path) == 1
                and all(v.kind == "string" for v in term.values)
            ):
                values = term.values
            else:
                continue
            f = self.obj.field(term.operand.path[0])
            if f is None or not (f.name == "Id" or f in self.org._key_fields[self.obj.name]):
                continue
            out: list[str] = []
            for lit in values:
                out.extend(self.org.find(self.obj, f, str(lit.value)))
            return list(dict.fromkeys(out))
        return None

    def rows(self) -> list[Record]:
        """Matching records, ordered, with OFFSET and LIMIT applied (non-aggregate queries)."""
        where = self.where
        rows = [r for r in self.candidates() if where is None or where(r)]
        if self.order:
            self._sort(rows)
        start = self.query.offset or 0
        end = start + self.query.limit if self.query.limit is not None else None
        return rows[start:end] if (start or end is not None) else rows

    def child_rows(self, fk: str, parent_id: str) -> list[Record]:
        """Rows of a child subquery for one parent record."""
        if self.include_deleted:
            source: Iterable[Record] = (
                r for r in self.org.store.records(self.obj.name).values() if r.get(fk) == parent_id
            )
        else:
            source = self.org.children(self.obj.name, fk, parent_id)
        where = self.where
        rows = [r for r in source if where is None or where(r)]
        if self.order:
            self._sort(rows)
        start = self.query.offset or 0
        end = start + self.query.limit if self.query.limit is not None else None
        return rows[start:end] if (start or end is not None) else rows

    def aggregate_rows(self) -> list[dict[str, Any]]:
        """Rows of an aggregate query (``AggregateResult`` records)."""
        where = self.where
        groups: dict[tuple[Any, ...], list[Record]] = {}
        for r in self.candidates():
            if where is None or where(r):
                key = tuple(g(r) for g in self.group_getters)
                groups.setdefault(key, []).append(r)
        if not self.group_getters and not groups:
            groups[()] = []
        items = list(groups.items())
        if self.having is not None:
            items = [g for g in items if self.having(g)]
        if self.order:
            self._sort(items)
        start = self.query.offset or 0
        end = start + self.query.limit if self.query.limit is not None else None
        items = items[start:end] if (start or end is not None) else items
        out = []
        for key, rows in items:
            row: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for name, compute in self.outputs:
                row[name] = compute(key, rows)
            out.append(row)
        return out

    def count(self) -> int:
        """Result of ``SELECT COUNT() ...``."""
        return len(self.rows())


def _group_value(index: int) -> Callable[[tuple[Any, ...], list[Record]], Any]:
    return lambda key_values, rows: key_values[index]


def _node_key(node: Any) -> str:
    if isinstance(node, FieldRef):
        return "f:" + node.text.lower()
    if isinstance(node, FuncCall):
        return "c:" + node.upper + "(" + ",".join(_node_key(a) for a in node.args) + ")"
    return "?"


def bind(org: Org, text: str, include_deleted: bool = False) -> Plan:
    """Parse and bind a query.

    Raises:
        QueryError: the query is malformed or names unknown objects or fields.
    """
    query = parse(text)
    obj = org.schema.get(query.object_name)
    if obj is None:
        raise _error(
            "INVALID_TYPE",
            query,
            query.object_pos,
            f"sObject type '{query.object_name}' is not supported. {_TYPE_HINT}",
        )
    return Plan(org, query, obj, include_deleted)


def compile_condition(org: Org, type_name: str, condition: str) -> Callable[[Record], bool]:
    """Compile a WHERE-clause condition on one object into a predicate on records.

    Used for admin validation rules.

    Raises:
        QueryError: the condition is not valid SOQL for that object.
    """
    plan = bind(org, f"SELECT Id FROM {type_name} WHERE {condition}")
    assert plan.where is not None
    return plan.where

"""SuiteQL: parse with sqlglot (Oracle dialect), check against the SuiteQL schema, run on SQLite.

Layer: query engine; imports ``tables``, ``store`` and ``errors``; sqlglot parses.

How a query runs:

1. ``?`` placeholders are bound from ``params`` (as SQL literals, strings quoted).
2. sqlglot parses the text as Oracle SQL; anything but one SELECT (or a set operation of SELECTs)
   is refused the way NetSuite refuses it (400 ``INVALID_PARAMETER``, "Invalid search query...").
3. Each SELECT is resolved bottom-up: FROM/JOIN tables must be SuiteQL tables (``Record 'x' was
   not found.``), every column must exist (``Field 'x' for record 'y' was not found.``),
   unqualified columns are qualified, ``*`` is expanded, correlated subqueries see outer aliases.
4. Oracle functions are rewritten to SQLite or to Python functions registered on the connection
   (``TO_DATE``, ``TO_CHAR``, ``SYSDATE``, ``TRUNC``, ``ADD_MONTHS``, ``NVL``, ``BUILTIN.DF``,
   ``BUILTIN.CF``, ``||`` with Oracle's NULL-as-empty rule, ...). ``ROWNUM <= n`` in a WHERE becomes
   a LIMIT (applied after ORDER BY, unlike Oracle, which numbers rows before sorting).
5. The page is read with LIMIT/OFFSET; values become strings (numbers without trailing ``.0``),
   dates are shown in the user's date format, booleans stay ``'T'``/``'F'``, NULLs are left out.

Dates are Julian day numbers inside SQLite (see ``tables``), so ``SYSDATE - 30`` and
``duedate - trandate`` behave as in Oracle.
"""

from __future__ import annotations

import calendar
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from ledgerbridge_sandbox.netsuite.errors import QueryError
from ledgerbridge_sandbox.netsuite.tables import (
    ITEM_TYPE_LABELS,
    TYPE_LABEL_BY_CODE,
    Column,
    Table,
    datetime_from_julian,
    julian_from_datetime,
    status_label,
)

_SEARCH = "Search error occurred: "
_SYNTAX = _SEARCH + "Invalid or unsupported search."

_DISPLAY_SQL = {
    "customer": ('"entityid"', "id"),
    "contact": ('"entityid"', "id"),
    "employee": ('"entityid"', "id"),
    "transaction": ('"trandisplayname"', "id"),
    "item": ('"itemid"', "id"),
    "pricelevel": ('"name"', "id"),
    "currency": ('"name"', "id"),
    "subsidiary": ('"fullname"', "id"),
    "term": ('"name"', "id"),
    "entitystatus": ('"stage" || \'-\' || "name"', "id"),
    "entityaddress": ('"addrtext"', "nkey"),
}


@dataclass
class _Source:
    """A table (or derived table) visible in a SELECT under an alias."""

    name: str
    columns: dict[str, Column]
    sql_table: str | None = None


@dataclass
class _Scope:
    sources: dict[str, _Source] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    parent: _Scope | None = None

    def lookup(self, alias: str) -> _Source | None:
        scope: _Scope | None = self
        while scope is not None:
            if alias in scope.sources:
                return scope.sources[alias]
            scope = scope.parent
        return None


@dataclass(frozen=True)
class QueryResult:
    """One page of a SuiteQL result."""

    columns: list[str]
    rows: list[dict[str, str]]
    total: int


class SuiteQLEngine:
    """Runs SuiteQL over the sandbox's SQLite tables."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        tables: dict[str, Table],
        *,
        lock: Any,
        now: Callable[[], datetime],
        tz: Callable[[], tzinfo],
        date_format: Callable[[], str],
    ) -> None:
        """Bind the engine to a connection.

        Args:
            conn: the store's connection.
            tables: the SuiteQL tables.
            lock: the store's lock.
            now: current UTC time.
            tz: the user's time zone.
            date_format: the user's date format preference (``M/D/YYYY``).
        """
        self.conn = conn
        self.tables = tables
        self.lock = lock
        self.now = now
        self.tz = tz
        self.date_format = date_format
        self._register()

    # public -----------------------------------------------------------------------------------

    def run(self, text: str, params: list[Any], *, limit: int, offset: int) -> QueryResult:
        """Run a query and return one page.

        Args:
            text: the SuiteQL text.
            params: values for ``?`` placeholders.
            limit: page size.
            offset: page start.

        Returns:
            The page, with the total row count.

        Raises:
            QueryError: the query is invalid for SuiteQL or refers to unknown tables or fields.
        """
        tree, names, types = self._translate(text, params)
        base = self._sql(tree)
        paged = tree.copy()
        if isinstance(paged, exp.Select) and not any(paged.args.get(k) for k in ("limit", "offset", "fetch")):
            paged.set("limit", exp.Limit(expression=exp.Literal.number(limit)))
            paged.set("offset", exp.Offset(expression=exp.Literal.number(offset)))
            page_sql = self._sql(paged)
        else:
            page_sql = f"SELECT * FROM ({base}) LIMIT {int(limit)} OFFSET {int(offset)}"
        with self.lock:
            try:
                total = int(self.conn.execute(f"SELECT COUNT(*) FROM ({base})").fetchone()[0])
                raw = self.conn.execute(page_sql).fetchall()
            except sqlite3.Error as exc:
                raise QueryError(_SEARCH + _describe_sqlite_error(exc)) from None
        rows = [self._row(names, types, values) for values in raw]
        return QueryResult(names, rows, total)

    @staticmethod
    def _sql(tree: exp.Expression) -> str:
        try:
            return tree.sql(dialect="sqlite", identify=True)
        except Exception:  # sqlglot cannot express the construct in SQLite
            raise QueryError(_SYNTAX) from None

    def translate(self, text: str, params: list[Any]) -> tuple[str, list[str], list[str | None]]:
        """Translate SuiteQL to SQLite.

        Returns:
            ``(sqlite sql, output column names, output column types)``.

        Raises:
            QueryError: invalid query.
        """
        tree, names, types = self._translate(text, params)
        return self._sql(tree), names, types

    def _translate(self, text: str, params: list[Any]) -> tuple[exp.Expression, list[str], list[str | None]]:
        if not isinstance(text, str) or not text.strip():
            raise QueryError(_SYNTAX)
        bound = _protect_to_char(bind_params(text, params))
        try:
            statements = sqlglot.parse(bound, read="oracle")
        except (ParseError, TokenError):
            raise QueryError(_SYNTAX) from None
        statements = [s for s in statements if s is not None]
        if len(statements) != 1 or not isinstance(
            statements[0], exp.Select | exp.Union | exp.Except | exp.Intersect
        ):
            raise QueryError(_SYNTAX)
        tree = statements[0]
        if tree.find(exp.With) is not None:
            raise QueryError(_SYNTAX)
        _lower_identifiers(tree)
        names, types = self._process(tree, None)
        return tree, names, types

    # translation ------------------------------------------------------------------------------

    def _process(self, node: Any, parent: _Scope | None) -> tuple[list[str], list[str | None]]:
        if isinstance(node, exp.Union | exp.Except | exp.Intersect):
            left_names, left_types = self._process(node.left, parent)
            self._process(node.right, parent)
            return left_names, left_types
        if isinstance(node, exp.Subquery):
            return self._process(node.this, parent)
        if not isinstance(node, exp.Select):
            raise QueryError(_SYNTAX)
        return self._select(node, parent)

    def _select(self, select: exp.Select, parent: _Scope | None) -> tuple[list[str], list[str | None]]:
        scope = _Scope(parent=parent)
        from_ = select.args.get("from_")
        sources = []
        if from_ is not None:
            sources.append(from_.this)
        for join in select.args.get("joins") or []:
            sources.append(join.this)
        for src in sources:
            self._add_source(src, scope, parent)
        # nested subqueries in expressions (IN (SELECT ..), scalar, EXISTS) see this scope
        for sub in _nested_selects(select):
            self._process(sub, scope)
        self._expand_stars(select, scope)
        rownum_limit = self._take_rownum(select)
        for col in _own_nodes(select, exp.Column):
            self._resolve_column(col, scope, select)
        for node in list(_own_nodes(select, exp.Expression)):
            if isinstance(node, exp.Column) and node.name == "rownum" and not node.table:
                node.replace(exp.Window(this=exp.RowNumber()))
        self._rewrite(select)
        if rownum_limit is not None:
            existing = select.args.get("limit")
            if existing is None:
                select.set("limit", exp.Limit(expression=exp.Literal.number(rownum_limit)))
        names: list[str] = []
        types: list[str | None] = []
        counter = 0
        for expr in select.expressions:
            if isinstance(expr, exp.Alias):
                names.append(expr.alias.lower())
                types.append(_type_of(expr.this))
            elif isinstance(expr, exp.Column):
                names.append(expr.name.lower())
                types.append(_type_of(expr))
            else:
                counter += 1
                names.append(f"expr{counter}")
                types.append(_type_of(expr))
        return names, types

    def _add_source(self, src: exp.Expression, scope: _Scope, parent: _Scope | None) -> None:
        if isinstance(src, exp.Table):
            name = src.name.lower()
            if src.args.get("db") or src.args.get("catalog"):
                raise QueryError(_SEARCH + f"Record '{src.sql()}' was not found.")
            alias = (src.alias or name).lower()
            if name == "dual":
                sub = exp.Subquery(
                    this=sqlglot.parse_one("SELECT 'X' AS dummy", read="sqlite"),
                    alias=exp.TableAlias(this=exp.to_identifier(alias)),
                )
                src.replace(sub)
                scope.sources[alias] = _Source("dual", {"dummy": Column("dummy", "text")})
                scope.order.append(alias)
                return
            table = self.tables.get(name)
            if table is None:
                raise QueryError(_SEARCH + f"Record '{name}' was not found.")
            src.set("this", exp.to_identifier(table.sql_name))
            src.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
            scope.sources[alias] = _Source(name, table.columns, table.sql_name)
            scope.order.append(alias)
            return
        if isinstance(src, exp.Subquery):
            alias = (src.alias or f"__sub{len(scope.order)}").lower()
            if not src.alias:
                src.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
            names, types = self._process(src.this, parent)
            cols = {n: Column(n, t or "text") for n, t in zip(names, types, strict=True)}
            scope.sources[alias] = _Source(alias, cols)
            scope.order.append(alias)
            return
        raise QueryError(_SYNTAX)

    def _expand_stars(self, select: exp.Select, scope: _Scope) -> None:
        expanded: list[exp.Expression] = []
        changed = False
        for expr in select.expressions:
            if isinstance(expr, exp.Star):
                changed = True
                for alias in scope.order:
                    expanded.extend(self._columns_of(alias, scope.sources[alias]))
            elif isinstance(expr, exp.Column) and isinstance(expr.this, exp.Star):
                changed = True
                alias = expr.table.lower()
                source = scope.sources.get(alias)
                if source is None:
                    raise QueryError(_SEARCH + f"Record '{alias}' was not found.")
                expanded.extend(self._columns_of(alias, source))
            else:
                expanded.append(expr)
        if changed:
            select.set("expressions", expanded)

    @staticmethod
    def _columns_of(alias: str, source: _Source) -> list[exp.Expression]:
        return [exp.column(name, table=alias) for name in source.columns if not name.startswith("_")]

    def _take_rownum(self, select: exp.Select) -> int | None:
        where = select.args.get("where")
        if where is None:
            return None
        conjuncts = list(_flatten_and(where.this))
        limit: int | None = None
        keep = []
        for cond in conjuncts:
            bound = _rownum_bound(cond)
            if bound is not None:
                limit = bound if limit is None else min(limit, bound)
            else:
                keep.append(cond)
        if limit is None:
            return None
        if keep:
            combined = keep[0]
            for cond in keep[1:]:
                combined = exp.And(this=combined, expression=cond)
            select.set("where", exp.Where(this=combined))
        else:
            select.set("where", None)
        return limit

    def _resolve_column(self, col: exp.Column, scope: _Scope, select: exp.Select) -> None:
        name = col.name.lower()
        qualifier = col.table.lower() if col.table else ""
        if qualifier:
            source = scope.lookup(qualifier)
            if source is None:
                raise QueryError(_SEARCH + f"Record '{qualifier}' was not found.")
            column = source.columns.get(name)
            if column is None or name.startswith("_"):
                raise QueryError(_SEARCH + f"Field '{name}' for record '{source.name}' was not found.")
            col.meta["ns_column"] = column
            col.meta["ns_alias"] = qualifier
            col.meta["ns_source"] = source.name
            return
        if name in {"rownum", "sysdate"}:
            if name == "sysdate":
                new = exp.Anonymous(this="ns_sysdate", expressions=[])
                new.meta["ns_type"] = "datetime"
                col.replace(new)
            return
        found: list[tuple[str, _Source, Column]] = []
        current: _Scope | None = scope
        while current is not None and not found:
            for alias in current.order:
                source = current.sources[alias]
                if name in source.columns and not name.startswith("_"):
                    found.append((alias, source, source.columns[name]))
            current = current.parent
        if len(found) > 1:
            raise QueryError(_SEARCH + f"Column '{name}' is ambiguously defined.")
        if found:
            alias, source, column = found[0]
            col.set("table", exp.to_identifier(alias))
            col.meta["ns_column"] = column
            col.meta["ns_alias"] = alias
            col.meta["ns_source"] = source.name
            return
        aliases = {e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias)}
        if name in aliases and col.find_ancestor(exp.Order, exp.Group, exp.Having) is not None:
            return
        first = scope.order[0] if scope.order else None
        record = scope.sources[first].name if first else "dual"
        raise QueryError(_SEARCH + f"Field '{name}' for record '{record}' was not found.")

    def _rewrite(self, select: exp.Select) -> None:
        for node in list(_own_nodes_postorder(select)):
            if node is select:
                continue
            new = self._translate_node(node)
            if new is not None and new is not node:
                node.replace(new)

    def _translate_node(self, node: exp.Expression) -> exp.Expression | None:
        def fn(name: str, *args: exp.Expression | None, typ: str | None = None) -> exp.Expression:
            new = exp.Anonymous(this=name, expressions=[a if a is not None else exp.Null() for a in args])
            if typ:
                new.meta["ns_type"] = typ
            return new

        if isinstance(node, exp.Column):
            column = node.meta.get("ns_column")
            if isinstance(column, Column) and column.type in {"date", "datetime"}:
                node.meta["ns_type"] = column.type
            return None
        if isinstance(node, exp.CurrentTimestamp):
            return fn("ns_sysdate", typ="datetime")
        if isinstance(node, exp.CurrentDate):
            return fn("ns_current_date", typ="datetime")
        if isinstance(node, exp.StrToDate | exp.StrToTime):
            fmt = node.args.get("format")
            return fn("ns_to_date", node.this, fmt, typ="datetime")
        if isinstance(node, exp.ToChar):
            is_date = _type_of(node.this) in {"date", "datetime"}
            return fn(
                "ns_to_char", node.this, node.args.get("format"), exp.Literal.number(1 if is_date else 0)
            )
        if isinstance(node, exp.TimeToStr):
            return fn("ns_strftime", node.this, node.args.get("format"))
        if isinstance(node, exp.DateTrunc):
            unit = node.args.get("unit")
            return fn("ns_trunc_date", node.this, unit, typ="datetime")
        if isinstance(node, exp.Trunc):
            if _type_of(node.this) in {"date", "datetime"}:
                return fn("ns_trunc_date", node.this, node.args.get("decimals"), typ="datetime")
            return fn("ns_trunc_num", node.this, node.args.get("decimals"))
        if isinstance(node, exp.AddMonths):
            return fn("ns_add_months", node.this, node.expression, typ="datetime")
        if isinstance(node, exp.LastDay):
            return fn("ns_last_day", node.this, typ="datetime")
        if isinstance(node, exp.MonthsBetween):
            return fn("ns_months_between", node.this, node.expression)
        if isinstance(node, exp.Extract):
            return fn("ns_extract", exp.Literal.string(node.this.name.upper()), node.expression)
        if isinstance(node, exp.ToNumber):
            return fn("ns_to_number", node.this)
        if isinstance(node, exp.RegexpLike):
            return fn("ns_regexp_like", node.this, node.expression)
        if isinstance(node, exp.Pad):
            return fn(
                "ns_lpad" if node.args.get("is_left") else "ns_rpad",
                node.this,
                node.expression,
                node.args.get("fill_pattern"),
            )
        if isinstance(node, exp.Initcap):
            return fn("ns_initcap", node.this)
        if isinstance(node, exp.DPipe | exp.Concat):
            parts = [node.this, node.expression] if isinstance(node, exp.DPipe) else list(node.expressions)
            return fn("ns_concat", *parts)
        if isinstance(node, exp.Coalesce | exp.Min | exp.Max):
            inner = [node.this, *(node.expressions or [])] if isinstance(node, exp.Coalesce) else [node.this]
            if any(_type_of(a) in {"date", "datetime"} for a in inner if a is not None):
                node.meta["ns_type"] = "datetime"
            return None
        if isinstance(node, exp.Add | exp.Sub):
            left, right = _type_of(node.this), _type_of(node.expression)
            if isinstance(node, exp.Add) and (left in {"date", "datetime"}) != (
                right in {"date", "datetime"}
            ):
                node.meta["ns_type"] = "datetime"
            if (
                isinstance(node, exp.Sub)
                and left in {"date", "datetime"}
                and right not in {"date", "datetime"}
            ):
                node.meta["ns_type"] = "datetime"
            return None
        if isinstance(node, exp.Case):
            branches = [i.args.get("true") for i in node.args.get("ifs") or []] + [node.args.get("default")]
            branch_types = {_type_of(b) for b in branches if b is not None and not isinstance(b, exp.Null)}
            if branch_types and branch_types <= {"date", "datetime"}:
                node.meta["ns_type"] = "datetime"
            return None
        if isinstance(node, exp.Paren):
            if _type_of(node.this) in {"date", "datetime"}:
                node.meta["ns_type"] = "datetime"
            return None
        if isinstance(node, exp.Interval):
            return _interval_days(node)
        if isinstance(node, exp.Dot):
            builtin: exp.Expression = self._builtin(node)
            return builtin
        if isinstance(node, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
            self._coerce_date_literal(node, "this", "expression")
            return None
        if isinstance(node, exp.Between):
            if _type_of(node.this) in {"date", "datetime"}:
                for key in ("low", "high"):
                    arg = node.args.get(key)
                    if isinstance(arg, exp.Literal) and arg.is_string:
                        node.set(key, exp.Anonymous(this="ns_to_date", expressions=[arg, exp.Null()]))
            return None
        if isinstance(node, exp.Anonymous):
            if isinstance(node.parent, exp.Dot):
                return None
            name = str(node.this).upper()
            args = list(node.expressions)
            if name == "NS_TOCHAR":
                if not args or len(args) > 3:
                    raise QueryError(_SYNTAX)
                is_date = _type_of(args[0]) in {"date", "datetime"}
                return fn(
                    "ns_to_char",
                    args[0],
                    args[1] if len(args) > 1 else None,
                    exp.Literal.number(1 if is_date else 0),
                )
            if name.startswith("NS_"):
                return None
            if name == "TRUNC":
                if len(args) >= 1 and _type_of(args[0]) in {"date", "datetime"}:
                    return fn("ns_trunc_date", args[0], args[1] if len(args) > 1 else None, typ="datetime")
                return fn("ns_trunc_num", *(args[:2]))
            if name in {"TO_TIMESTAMP", "TO_DATE"}:
                return fn(
                    "ns_to_date",
                    args[0] if args else None,
                    args[1] if len(args) > 1 else None,
                    typ="datetime",
                )
            if name == "NVL":
                return exp.Coalesce(this=args[0], expressions=args[1:])
            if name in {"INSTR", "SIGN", "CHR", "ASCII", "RTRIM", "LTRIM"}:
                mapped = {"CHR": "CHAR", "ASCII": "UNICODE"}.get(name, name)
                return exp.Anonymous(this=mapped, expressions=args)
            raise QueryError(_SEARCH + f"Unknown function '{node.this}'.")
        return None

    @staticmethod
    def _coerce_date_literal(node: exp.Expression, left: str, right: str) -> None:
        for date_side, lit_side in ((left, right), (right, left)):
            other = node.args.get(lit_side)
            if (
                _type_of(node.args.get(date_side)) in {"date", "datetime"}
                and isinstance(other, exp.Literal)
                and other.is_string
            ):
                node.set(lit_side, exp.Anonymous(this="ns_to_date", expressions=[other, exp.Null()]))

    def _builtin(self, node: exp.Dot) -> Any:
        owner = node.this
        func = node.expression
        if not (isinstance(owner, exp.Identifier | exp.Column | exp.Var) and owner.name.upper() == "BUILTIN"):
            raise QueryError(_SYNTAX)
        if not isinstance(func, exp.Anonymous) or not func.expressions:
            raise QueryError(_SYNTAX)
        name = str(func.this).upper()
        arg = func.expressions[0]
        if name == "DF":
            return self._display(arg)
        if name == "CF":
            if (
                isinstance(arg, exp.Column)
                and arg.name == "status"
                and arg.meta.get("ns_source") == "transaction"
            ):
                type_col = exp.column("type", table=arg.meta["ns_alias"])
                return exp.Anonymous(
                    this="ns_concat",
                    expressions=[
                        exp.Anonymous(this="ns_concat", expressions=[type_col, exp.Literal.string(":")]),
                        arg,
                    ],
                )
            return arg
        if name in {"CONSOLIDATE", "CURRENCY_CONVERT"}:
            return arg
        raise QueryError(_SEARCH + f"Unknown function 'BUILTIN.{name}'.")

    def _display(self, arg: exp.Expression) -> exp.Expression:
        if not isinstance(arg, exp.Column):
            return arg
        column = arg.meta.get("ns_column")
        source = arg.meta.get("ns_source")
        alias = arg.meta.get("ns_alias")
        if not isinstance(column, Column):
            return arg
        if source == "transaction" and column.name == "status":
            return exp.Anonymous(this="ns_status_df", expressions=[exp.column("type", table=alias), arg])
        if source in {"transaction"} and column.name == "type":
            return exp.Anonymous(this="ns_trantype_df", expressions=[arg])
        if source in {"item", "transactionline"} and column.name == "itemtype":
            return exp.Anonymous(this="ns_itemtype_df", expressions=[arg])
        if column.ref and column.ref in _DISPLAY_SQL and column.ref in self.tables:
            display, key = _DISPLAY_SQL[column.ref]
            table = self.tables[column.ref].sql_name
            sub = sqlglot.parse_one(
                f'SELECT {display} FROM "{table}" AS "__df" WHERE "__df"."{key}" = 0 LIMIT 1', read="sqlite"
            )
            where = sub.args["where"]
            where.this.set("expression", arg.copy())
            return exp.Subquery(this=sub)
        return arg

    # values -----------------------------------------------------------------------------------

    def _row(self, names: list[str], types: list[str | None], values: tuple[Any, ...]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, typ, value in zip(names, types, values, strict=True):
            if value is None:
                continue
            if typ in {"date", "datetime"} and isinstance(value, int | float):
                out[name] = self._user_date(datetime_from_julian(float(value)))
            else:
                out[name] = format_value(value)
        return out

    def _user_date(self, value: datetime) -> str:
        return format_user_date(value, self.date_format())

    # registered functions ---------------------------------------------------------------------

    def _julian_now(self) -> float:
        return julian_from_datetime(self.now().astimezone(self.tz()))

    def _register(self) -> None:
        c = self.conn
        c.create_function("ns_sysdate", 0, self._julian_now)
        c.create_function("ns_current_date", 0, self._julian_now)
        c.create_function("ns_to_date", 2, self._to_date)
        c.create_function("ns_to_char", 3, self._to_char, deterministic=True)
        c.create_function("ns_strftime", 2, _strftime, deterministic=True)
        c.create_function("ns_trunc_date", 2, _trunc_date, deterministic=True)
        c.create_function("ns_trunc_num", 1, lambda v: _trunc_num(v, 0), deterministic=True)
        c.create_function("ns_trunc_num", 2, _trunc_num, deterministic=True)
        c.create_function("ns_add_months", 2, _add_months, deterministic=True)
        c.create_function("ns_last_day", 1, _last_day, deterministic=True)
        c.create_function("ns_months_between", 2, _months_between, deterministic=True)
        c.create_function("ns_extract", 2, _extract, deterministic=True)
        c.create_function("ns_to_number", 1, _to_number, deterministic=True)
        c.create_function("ns_regexp_like", 2, _regexp_like, deterministic=True)
        c.create_function("ns_concat", -1, _concat, deterministic=True)
        c.create_function("ns_lpad", 3, lambda s, n, f: _pad(s, n, f, left=True), deterministic=True)
        c.create_function("ns_rpad", 3, lambda s, n, f: _pad(s, n, f, left=False), deterministic=True)
        c.create_function("ns_initcap", 1, _initcap, deterministic=True)
        c.create_function("ns_status_df", 2, status_label, deterministic=True)
        c.create_function("ns_trantype_df", 1, lambda v: TYPE_LABEL_BY_CODE.get(v, v), deterministic=True)
        c.create_function("ns_itemtype_df", 1, lambda v: ITEM_TYPE_LABELS.get(v, v), deterministic=True)

    def _to_date(self, text: Any, fmt: Any) -> float | None:
        if text is None:
            return None
        if isinstance(text, int | float):
            return float(text)
        value = str(text).strip()
        formats = [re.sub(r"FF[1-9]?", "%f", str(fmt))] if fmt else []
        formats += ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]
        for f in formats:
            try:
                parsed = datetime.strptime(value, f.replace("%f", "%f"))
            except ValueError:
                continue
            return julian_from_datetime(parsed)
        user = parse_user_date(value, self.date_format())
        if user is not None:
            return julian_from_datetime(user)
        raise ValueError(f"Invalid date '{value}'")

    def _to_char(self, value: Any, fmt: Any, is_date: int) -> str | None:
        if value is None:
            return None
        if is_date and isinstance(value, int | float):
            moment = datetime_from_julian(float(value))
            return oracle_format(moment, str(fmt) if fmt else "DS", self.date_format())
        if fmt and isinstance(value, int | float):
            return _number_format(float(value), str(fmt))
        return format_value(value)


# --- helpers -----------------------------------------------------------------------------------


def bind_params(text: str, params: list[Any]) -> str:
    """Replace ``?`` placeholders (outside string literals) with SQL literals.

    Raises:
        QueryError: the number of placeholders and params differ.
    """
    out: list[str] = []
    index = 0
    in_string = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            in_string = not in_string
            out.append(ch)
        elif ch == "?" and not in_string:
            if index >= len(params):
                raise QueryError(_SEARCH + "The number of parameters does not match the query.")
            out.append(_literal(params[index]))
            index += 1
        else:
            out.append(ch)
        i += 1
    if index != len(params):
        raise QueryError(_SEARCH + "The number of parameters does not match the query.")
    return "".join(out)


_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_TO_CHAR_CALL = re.compile(r"\bTO_CHAR\s*\(", re.IGNORECASE)


def _protect_to_char(text: str) -> str:
    """Rename ``TO_CHAR(`` (outside string literals) so sqlglot keeps its Oracle format model as written."""
    out: list[str] = []
    pos = 0
    for m in _STRING_LITERAL.finditer(text):
        out.append(_TO_CHAR_CALL.sub("NS_TOCHAR(", text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_TO_CHAR_CALL.sub("NS_TOCHAR(", text[pos:]))
    return "".join(out)


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "'T'" if value else "'F'"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _lower_identifiers(tree: exp.Expression) -> None:
    for ident in tree.find_all(exp.Identifier):
        if not ident.quoted:
            ident.set("this", ident.name.lower())


def _is_scope_boundary(node: exp.Expression) -> bool:
    return isinstance(node, exp.Select | exp.Union | exp.Except | exp.Intersect)


def _nested_selects(select: exp.Select) -> Iterator[exp.Expression]:
    """Subqueries inside expressions of a SELECT (not FROM/JOIN sources), outermost first."""
    sources = set()
    from_ = select.args.get("from_")
    if from_ is not None:
        sources.add(id(from_.this))
    for join in select.args.get("joins") or []:
        sources.add(id(join.this))

    def visit(node: exp.Expression) -> Iterator[exp.Expression]:
        for child in node.iter_expressions():
            if id(child) in sources:
                continue
            if _is_scope_boundary(child):
                yield child
                continue
            yield from visit(child)

    yield from visit(select)


def _own_nodes(select: exp.Select, kind: type[exp.Expression]) -> Iterator[Any]:
    """Nodes of a SELECT that belong to it (not to nested selects or derived tables)."""
    for node in list(_own_nodes_postorder(select)):
        if isinstance(node, kind):
            yield node


def _own_nodes_postorder(select: exp.Select) -> Iterator[exp.Expression]:
    def visit(node: exp.Expression) -> Iterator[exp.Expression]:
        for child in list(node.iter_expressions()):
            if _is_scope_boundary(child) or isinstance(child, exp.Subquery):
                continue
            yield from visit(child)
        yield node

    yield from visit(select)


_DAYS_PER_UNIT = {"DAY": 1.0, "HOUR": 1 / 24, "MINUTE": 1 / 1440, "SECOND": 1 / 86400, "WEEK": 7.0}


def _interval_days(node: exp.Interval) -> exp.Expression:
    """``INTERVAL 'n' DAY|HOUR|MINUTE|SECOND`` as a number of days (dates are day numbers).

    Raises:
        QueryError: month and year intervals (use ADD_MONTHS) and malformed values.
    """
    unit = node.args.get("unit")
    factor = _DAYS_PER_UNIT.get(unit.name.upper() if unit is not None else "DAY")
    try:
        amount = float(node.this.name) if node.this is not None else None
    except ValueError:
        amount = None
    if factor is None or amount is None:
        raise QueryError(_SYNTAX)
    return exp.Literal.number(amount * factor)


def _flatten_and(node: exp.Expression) -> Iterator[exp.Expression]:
    if isinstance(node, exp.And):
        yield from _flatten_and(node.this)
        yield from _flatten_and(node.expression)
    elif isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        yield from _flatten_and(node.this)
    else:
        yield node


def _rownum_bound(cond: exp.Expression) -> int | None:
    def is_rownum(n: exp.Expression) -> bool:
        return isinstance(n, exp.Column) and n.name.lower() == "rownum" and not n.table

    def num(n: exp.Expression) -> int | None:
        if isinstance(n, exp.Literal) and not n.is_string:
            try:
                return int(float(n.this))
            except ValueError:
                return None
        return None

    if isinstance(cond, exp.LTE | exp.LT | exp.EQ) and is_rownum(cond.this):
        n = num(cond.expression)
        if n is None:
            return None
        if isinstance(cond, exp.EQ):
            return 1 if n == 1 else 0
        return n if isinstance(cond, exp.LTE) else n - 1
    if isinstance(cond, exp.GTE | exp.GT) and is_rownum(cond.expression):
        n = num(cond.this)
        if n is None:
            return None
        return n if isinstance(cond, exp.GTE) else n - 1
    return None


def _type_of(node: exp.Expression | None) -> str | None:
    if node is None:
        return None
    typ = node.meta.get("ns_type") if node.meta else None
    if typ:
        return str(typ)
    if isinstance(node, exp.Column):
        column = node.meta.get("ns_column")
        if isinstance(column, Column) and column.type in {"date", "datetime"}:
            return column.type
    if isinstance(node, exp.Alias):
        return _type_of(node.this)
    return None


def _describe_sqlite_error(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "user-defined function raised exception" in text:
        return "An invalid value was passed to a function."
    if "misuse of aggregate" in text or "GROUP BY" in text:
        return "Invalid use of an aggregate function."
    if "no such column" in text:
        return "Invalid or unsupported search."
    return "Invalid or unsupported search."


def format_value(value: Any) -> str:
    """A SuiteQL value as NetSuite returns it: a string; numbers without a needless ``.0``."""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        text = f"{value:.15g}"
        if "e" in text:
            text = f"{value:.10f}".rstrip("0").rstrip(".")
        return text
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def format_user_date(value: datetime, fmt: str) -> str:
    """Render a date in a user date format (``M/D/YYYY``, ``DD/MM/YYYY``, ``YYYY-MM-DD``, ...)."""

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        return {
            "YYYY": f"{value.year:04d}",
            "MM": f"{value.month:02d}",
            "M": str(value.month),
            "DD": f"{value.day:02d}",
            "D": str(value.day),
        }[token]

    return re.sub(r"YYYY|MM|M|DD|D", repl, fmt)


def parse_user_date(text: str, fmt: str) -> datetime | None:
    """Parse a date written in the user's date format, or None."""
    parts = {
        "YYYY": r"(?P<y>\d{4})",
        "MM": r"(?P<m>\d{1,2})",
        "M": r"(?P<m>\d{1,2})",
        "DD": r"(?P<d>\d{1,2})",
        "D": r"(?P<d>\d{1,2})",
    }
    pattern = re.sub(r"YYYY|MM|M|DD|D", lambda m: parts[m.group(0)], re.escape(fmt).replace("\\-", "-"))
    m = re.match(rf"^{pattern}$", text.strip())
    if m is None:
        return None
    try:
        return datetime(int(m.group("y")), int(m.group("m")), int(m.group("d")))
    except ValueError:
        return None


_ORACLE_TOKENS = re.compile(
    r'"[^"]*"|DS|TS|YYYY|YY|MONTH|Month|month|MON|Mon|mon|MM|DDD|DD|DY|Dy|dy|DAY|Day|day|D|HH24|HH12|HH|'
    r"MI|SS|FF[1-9]?|AM|PM|A\.M\.|P\.M\.|am|pm|Q|WW|J|[^A-Za-z\"]+|[A-Za-z]"
)


def oracle_format(value: datetime, fmt: str, user_fmt: str) -> str:
    """Format a datetime with an Oracle ``TO_CHAR`` format model.

    Raises:
        ValueError: an unsupported format element.
    """
    out: list[str] = []
    for token in _ORACLE_TOKENS.findall(fmt):
        if token.startswith('"'):
            out.append(token[1:-1])
        elif token == "YYYY":
            out.append(f"{value.year:04d}")
        elif token == "YY":
            out.append(f"{value.year % 100:02d}")
        elif token in {"MONTH", "Month", "month"}:
            name = calendar.month_name[value.month]
            out.append(name.upper() if token == "MONTH" else name.lower() if token == "month" else name)
        elif token in {"MON", "Mon", "mon"}:
            name = calendar.month_abbr[value.month]
            out.append(name.upper() if token == "MON" else name.lower() if token == "mon" else name)
        elif token == "MM":
            out.append(f"{value.month:02d}")
        elif token == "DDD":
            out.append(f"{value.timetuple().tm_yday:03d}")
        elif token == "DD":
            out.append(f"{value.day:02d}")
        elif token in {"DY", "Dy", "dy"}:
            name = calendar.day_abbr[value.weekday()]
            out.append(name.upper() if token == "DY" else name.lower() if token == "dy" else name)
        elif token in {"DAY", "Day", "day"}:
            name = calendar.day_name[value.weekday()]
            out.append(name.upper() if token == "DAY" else name.lower() if token == "day" else name)
        elif token == "D":
            out.append(str((value.weekday() + 1) % 7 + 1))
        elif token == "HH24":
            out.append(f"{value.hour:02d}")
        elif token in {"HH", "HH12"}:
            out.append(f"{(value.hour % 12) or 12:02d}")
        elif token == "MI":
            out.append(f"{value.minute:02d}")
        elif token == "SS":
            out.append(f"{value.second:02d}")
        elif token.startswith("FF"):
            digits = int(token[2:]) if len(token) > 2 else 6
            out.append(f"{value.microsecond:06d}"[:digits])
        elif token in {"AM", "PM", "A.M.", "P.M."}:
            out.append("AM" if value.hour < 12 else "PM")
        elif token in {"am", "pm"}:
            out.append("am" if value.hour < 12 else "pm")
        elif token == "DS":
            out.append(format_user_date(value, user_fmt))
        elif token == "TS":
            out.append(
                f"{(value.hour % 12) or 12}:{value.minute:02d}:{value.second:02d} "
                f"{'am' if value.hour < 12 else 'pm'}"
            )
        elif token == "Q":
            out.append(str((value.month - 1) // 3 + 1))
        elif token == "WW":
            out.append(f"{(value.timetuple().tm_yday - 1) // 7 + 1:02d}")
        elif token == "J":
            out.append(str(value.toordinal() + 1721425))
        elif token.isalpha():
            raise ValueError(f"unsupported format element {token}")
        else:
            out.append(token)
    return "".join(out)


def _number_format(value: float, fmt: str) -> str:
    decimals = len(fmt.split(".", 1)[1]) if "." in fmt else 0
    grouping = "," in fmt
    text = f"{value:,.{decimals}f}" if grouping else f"{value:.{decimals}f}"
    return text


def _strftime(value: Any, fmt: Any) -> str | None:
    if value is None or fmt is None:
        return None
    if isinstance(value, int | float):
        return datetime_from_julian(float(value)).strftime(str(fmt))
    return str(value)


def _trunc_date(value: Any, unit: Any) -> float | None:
    if value is None:
        return None
    moment = datetime_from_julian(float(value))
    unit_s = str(unit or "DD").upper().strip("'")
    if unit_s in {"MM", "MON", "MONTH"}:
        moment = moment.replace(day=1)
    elif unit_s in {"YYYY", "YEAR", "YY", "Y"}:
        moment = moment.replace(month=1, day=1)
    elif unit_s in {"Q"}:
        moment = moment.replace(month=(moment.month - 1) // 3 * 3 + 1, day=1)
    elif unit_s in {"HH", "HH24"}:
        return julian_from_datetime(moment.replace(minute=0, second=0, microsecond=0))
    return julian_from_datetime(moment.replace(hour=0, minute=0, second=0, microsecond=0))


def _trunc_num(value: Any, places: Any) -> float | None:
    if value is None:
        return None
    factor = 10.0 ** int(places or 0)
    return float(int(float(value) * factor)) / factor


def _add_months(value: Any, months: Any) -> float | None:
    if value is None or months is None:
        return None
    moment = datetime_from_julian(float(value))
    total = moment.year * 12 + (moment.month - 1) + int(months)
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    is_last = moment.day == calendar.monthrange(moment.year, moment.month)[1]
    day = last if is_last else min(moment.day, last)
    return julian_from_datetime(moment.replace(year=year, month=month + 1, day=day))


def _last_day(value: Any) -> float | None:
    if value is None:
        return None
    moment = datetime_from_julian(float(value))
    return julian_from_datetime(moment.replace(day=calendar.monthrange(moment.year, moment.month)[1]))


def _months_between(a: Any, b: Any) -> float | None:
    if a is None or b is None:
        return None
    x, y = datetime_from_julian(float(a)), datetime_from_julian(float(b))
    return (x.year - y.year) * 12 + (x.month - y.month) + (x.day - y.day) / 31.0


def _extract(part: str, value: Any) -> int | None:
    if value is None:
        return None
    moment = datetime_from_julian(float(value))
    return int(
        {
            "YEAR": moment.year,
            "MONTH": moment.month,
            "DAY": moment.day,
            "HOUR": moment.hour,
            "MINUTE": moment.minute,
            "SECOND": moment.second,
        }.get(part, 0)
    )


def _to_number(value: Any) -> float | None:
    if value is None:
        return None
    return float(str(value).replace(",", ""))


def _regexp_like(value: Any, pattern: Any) -> int | None:
    if value is None or pattern is None:
        return None
    return 1 if re.search(str(pattern), str(value)) else 0


def _concat(*parts: Any) -> str | None:
    texts = ["" if p is None else format_value(p) for p in parts]
    joined = "".join(texts)
    return joined if joined else None


def _pad(value: Any, length: Any, fill: Any, *, left: bool) -> str | None:
    if value is None or length is None:
        return None
    text = format_value(value)
    n = int(length)
    filler = str(fill) if fill else " "
    if len(text) >= n:
        return text[:n]
    pad = (filler * n)[: n - len(text)]
    return pad + text if left else text + pad


def _initcap(value: Any) -> str | None:
    if value is None:
        return None
    return re.sub(r"[A-Za-z0-9]+", lambda m: m.group(0)[:1].upper() + m.group(0)[1:].lower(), str(value))

"""The record service: get, create, update, upsert, delete, list, transform and sublist reads.

Layer: the sandbox's domain core; imports ``store``, ``tables``, ``wire``, ``qfilter``, ``schema``,
``errors`` and (for business rules) ``rules``. The HTTP layer (``app``) calls it; it knows nothing
about HTTP beyond the base URL used for links.

Every public operation runs in one SQLite transaction: a request that fails leaves no trace,
including the side effects business rules started (balances, statuses, sequences).

Sublist writes follow reference §3.4: keyed sublists (``item`` by ``line``, ``addressBook`` by
``id``, ``apply`` by ``doc``) merge lines whose key matches and append the others; ``?replace=name``
also drops the lines the request does not mention; ``null`` (or ``{"items": null}``) empties the
sublist; unkeyed sublists (item ``price``) append, or are replaced with ``?replace=``.
``?replaceSelectedFields=true&replace=f1,f2`` limits the clearing of ``null`` body fields to the
listed ones (Oracle, "Updating a Record Instance").
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from ledgerbridge_sandbox.netsuite import qfilter
from ledgerbridge_sandbox.netsuite.config import NetSuiteSandboxConfig
from ledgerbridge_sandbox.netsuite.errors import NetSuiteError, invalid_content, not_found
from ledgerbridge_sandbox.netsuite.rules import Rules
from ledgerbridge_sandbox.netsuite.schema import FAMILIES, Schema, Shape
from ledgerbridge_sandbox.netsuite.store import Store, StoredRecord
from ledgerbridge_sandbox.netsuite.tables import ProjectionContext, Projector, Table
from ledgerbridge_sandbox.netsuite.wire import Inbound, Outbound, format_datetime, line_key

FAMILY_START = {"entity": 100, "transaction": 1000, "item": 200}
"""First internal id handed out per family (lists start at 1)."""

MAX_PAGE = 1000
"""Largest ``limit`` of a collection page (reference §3.6)."""


@dataclass(frozen=True)
class WriteOptions:
    """Per-request write options.

    Attributes:
        replace: sublists (and, with ``replace_selected``, body fields) named in ``?replace=``.
        replace_selected: ``?replaceSelectedFields=true``.
        name_validation: ``X-NetSuite-PropertyNameValidation``.
        value_validation: ``X-NetSuite-PropertyValueValidation``.
        context: execution context of the write (``restWebServices`` or ``userInterface``).
    """

    replace: frozenset[str] = frozenset()
    replace_selected: bool = False
    name_validation: str = "warning"
    value_validation: str = "error"
    context: str = "restWebServices"


class RecordService:
    """Records of one account."""

    def __init__(
        self, config: NetSuiteSandboxConfig, schema: Schema, store: Store, tables: dict[str, Table]
    ) -> None:
        self.config = config
        self.schema = schema
        self.store = store
        self.tables = tables
        self.warnings: list[str] = []
        self._price_levels: list[tuple[int, float]] | None = None
        self.projector = Projector(
            tables, ProjectionContext(tz=self.tz, today=self.today(), price_levels=self.price_levels)
        )
        self.rules = Rules(self)
        self._aging_day: date | None = None

    # time -------------------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        """The user's time zone (SuiteQL presentation, ``q`` dates, "today")."""
        return ZoneInfo(self.config.suiteql_timezone)

    def now(self) -> datetime:
        """Current time from the injected clock."""
        return self.config.clock.now()

    def now_iso(self) -> str:
        """Current time as a REST datetime string."""
        return format_datetime(self.now())

    def today(self) -> date:
        """Today's date in the user's time zone."""
        return self.config.clock.now().astimezone(self.tz).date()

    def refresh_aging(self, *, force: bool = False) -> None:
        """Recompute date-dependent values (days overdue, aging) when the date has changed."""
        today = self.today()
        if not force and today == self._aging_day:
            return
        with self.store.transaction():
            self._aging_day = today
            self.projector.ctx.today = today
            self.rules.refresh_aging()

    def mark_aged(self) -> None:
        """Declare date-dependent values current for today (seeds compute them themselves)."""
        self._aging_day = self.today()
        self.projector.ctx.today = self._aging_day

    # types and ids ----------------------------------------------------------------------------

    def record_type(self, name: str) -> str:
        """Canonical record type for a URL segment, or 404.

        Raises:
            NetSuiteError: unknown record type.
        """
        canon = self.schema.record_type(name)
        if canon is None:
            raise NetSuiteError(
                404, "INVALID_RCRD_TYPE", f"Record type '{name}' does not exist or is not supported."
            )
        return canon

    def shape(self, rtype: str) -> Shape:
        """The shape of a record type."""
        return self.schema.records[rtype]

    def new_id(self, rtype: str) -> int:
        """Allocate an internal id for a new record."""
        family = FAMILIES[rtype]
        return self.store.next_value(f"id:{family}", FAMILY_START.get(family, 1))

    def resolve_id(self, rtype: str, ident: str) -> int:
        """Internal id from a URL id segment (``647`` or ``eid:SF-001``).

        Raises:
            NetSuiteError: 404 NONEXISTENT_ID when no such record of this type.
        """
        if ident.lower().startswith("eid:"):
            rid = self.store.id_by_external_id(rtype, ident[4:])
            if rid is None:
                raise not_found()
            return rid
        try:
            rid = int(ident)
        except ValueError:
            raise not_found() from None
        info = self.store.ref_info(FAMILIES[rtype], rid)
        if info is None or info[0] != rtype:
            raise not_found()
        return rid

    def load(self, rtype: str, rid: int) -> dict[str, Any] | None:
        """The stored body of a record of a type, or None."""
        rec = self.store.get(FAMILIES[rtype], rid)
        if rec is None or rec.type != rtype:
            return None
        return rec.data

    def load_family(self, target: str, rid: int) -> StoredRecord | None:
        """Load a record by a target that is a record type or a family name."""
        family = FAMILIES.get(target, target)
        rec = self.store.get(family, rid)
        if rec is None:
            return None
        if target in FAMILIES and rec.type != target:
            return None
        return rec

    def resolve_ref(self, target: str, ident: str, field: str, path: str) -> str:
        """Check a reference in a request body and return the internal id it names.

        Raises:
            NetSuiteError: INVALID_CONTENT (Oracle's wording) when no such record exists.
        """
        if target == "priceLevel" and ident == "-1":
            return "-1"
        family = FAMILIES.get(target, target)
        types = [target] if target in FAMILIES else [t for t, f in FAMILIES.items() if f == family]
        if ident.lower().startswith("eid:"):
            for rtype in types:
                rid = self.store.id_by_external_id(rtype, ident[4:])
                if rid is not None:
                    return str(rid)
            raise invalid_content(ident[4:], field, path)
        try:
            rid = int(ident)
        except ValueError:
            raise invalid_content(ident, field, path) from None
        info = self.store.ref_info(family, rid)
        if info is None or info[0] not in types:
            raise invalid_content(ident, field, path)
        return str(rid)

    def ref_namer(self, target: str, ident: str) -> tuple[str, str] | None:
        """``(type, refName)`` of a referenced record (for rendering)."""
        if target == "priceLevel" and ident == "-1":
            return ("priceLevel", "Custom")
        family = FAMILIES.get(target, target)
        try:
            return self.store.ref_info(family, int(ident))
        except ValueError:
            return None

    def price_levels(self) -> list[tuple[int, float]]:
        """Active price levels as ``(id, discount %)`` (cached until a price level changes)."""
        if self._price_levels is None:
            self._price_levels = [
                (rec.id, float(rec.data.get("discountPct") or 0.0))
                for rec in self.store.iter_type("priceLevel")
                if not rec.data.get("isInactive")
            ]
        return self._price_levels

    def invalidate_price_levels(self) -> None:
        """Forget the cached price levels."""
        self._price_levels = None

    # saving -----------------------------------------------------------------------------------

    def save(self, rtype: str, rid: int, data: dict[str, Any], *, touch: bool = True) -> None:
        """Write a record (and its SuiteQL rows).

        Args:
            rtype: record type.
            rid: internal id.
            data: full stored body.
            touch: set ``lastModifiedDate`` to now.
        """
        data["id"] = str(rid)
        if touch or not data.get("lastModifiedDate"):
            data["lastModifiedDate"] = self.now_iso()
        self.store.put(
            FAMILIES[rtype], rtype, rid, data, self.rules.ref_name(rtype, rid, data), self.projector
        )

    def inbound(self, opts: WriteOptions) -> Inbound:
        """A body reader for one request."""
        return Inbound(
            self.schema,
            self.resolve_ref,
            name_validation=opts.name_validation,
            value_validation=opts.value_validation,
        )

    # REST operations --------------------------------------------------------------------------

    def get(
        self,
        rtype: str,
        ident: str,
        *,
        base: str,
        path_type: str,
        fields: str | None = None,
        expand: bool = False,
        simple_enum: bool = False,
    ) -> dict[str, Any]:
        """GET one record.

        Args:
            rtype: record type.
            ident: id segment (``647`` or ``eid:X``).
            base: ``scheme://host/services/rest``.
            path_type: the record type as written in the URL (for ``self`` links).
            fields: ``?fields=`` value.
            expand: ``?expandSubResources=true``.
            simple_enum: ``?simpleEnumFormat=true``.

        Returns:
            The record JSON.

        Raises:
            NetSuiteError: 404 NONEXISTENT_ID, 400 NONEXISTENT_FIELD.
        """
        rid = self.resolve_id(rtype, ident)
        data = self.load(rtype, rid)
        if data is None:
            raise not_found()
        wanted = self._fields(rtype, fields)
        out = Outbound(self.schema, self.ref_namer, base)
        return out.record(
            self.shape(rtype),
            data,
            f"record/v1/{path_type}/{rid}",
            fields=wanted,
            expand=expand,
            simple_enum=simple_enum,
        )

    def _fields(self, rtype: str, fields: str | None) -> set[str] | None:
        if not fields:
            return None
        shape = self.shape(rtype)
        wanted: set[str] = set()
        for name in fields.split(","):
            name = name.strip()
            if not name:
                continue
            canon = shape.canonical(name)
            if canon is None:
                raise NetSuiteError(
                    400,
                    "NONEXISTENT_FIELD",
                    f"Error while accessing a resource. Field '{name}' does not exist on record '{rtype}'.",
                    query_param="fields",
                )
            wanted.add(canon)
        return wanted

    def create(
        self,
        rtype: str,
        body: Any,
        opts: WriteOptions,
        *,
        external_id: str | None = None,
        initial: dict[str, Any] | None = None,
    ) -> int:
        """Create a record (POST).

        Args:
            rtype: record type.
            body: request JSON.
            opts: write options.
            external_id: external id to set (PUT ``eid:`` upsert).
            initial: starting values (transforms).

        Returns:
            The new internal id.

        Raises:
            NetSuiteError: validation and business-rule failures.
        """
        with self.store.transaction():
            reader = self.inbound(opts)
            values = reader.record(self.shape(rtype), body, rtype)
            self.warnings = reader.warnings
            data: dict[str, Any] = self.rules.defaults(rtype)
            if initial:
                data.update(copy.deepcopy(initial))
            self._apply(rtype, data, values, opts, creating=True)
            if external_id is not None:
                data["externalId"] = external_id
            self._check_external_id(rtype, data.get("externalId"), None)
            rid = self.new_id(rtype)
            self._assign_line_keys(rtype, data)
            now = self.now_iso()
            for created in ("dateCreated", "createdDate"):
                if created in self.shape(rtype).fields:
                    data[created] = now
            data["_context"] = opts.context
            self.rules.prepare(rtype, rid, data, None)
            _strip_paths(data)
            self.save(rtype, rid, data)
            self.rules.after_save(rtype, rid, data, None)
            return rid

    def update(self, rtype: str, ident: str, body: Any, opts: WriteOptions) -> int:
        """Update a record (PATCH).

        Returns:
            The internal id.

        Raises:
            NetSuiteError: 404 for a missing record, validation and business-rule failures.
        """
        with self.store.transaction():
            rid = self.resolve_id(rtype, ident)
            old = self.load(rtype, rid)
            if old is None:
                raise not_found()
            self._update_loaded(rtype, rid, old, body, opts)
            return rid

    def _update_loaded(
        self, rtype: str, rid: int, old: dict[str, Any], body: Any, opts: WriteOptions
    ) -> None:
        reader = self.inbound(opts)
        values = reader.record(self.shape(rtype), body, rtype)
        self.warnings = reader.warnings
        data = copy.deepcopy(old)
        self._apply(rtype, data, values, opts, creating=False)
        self._check_external_id(rtype, data.get("externalId"), rid)
        self._assign_line_keys(rtype, data)
        data["_context"] = opts.context
        self.rules.prepare(rtype, rid, data, old)
        _strip_paths(data)
        self.save(rtype, rid, data)
        self.rules.after_save(rtype, rid, data, old)

    def upsert(self, rtype: str, ident: str, body: Any, opts: WriteOptions) -> tuple[int, bool]:
        """PUT ``eid:X``: update the record with that external id, or create it.

        Returns:
            ``(internal id, created)``.

        Raises:
            NetSuiteError: PUT with an internal id, validation failures.
        """
        if not ident.lower().startswith("eid:"):
            raise NetSuiteError(
                400,
                "INVALID_REQUEST",
                "The PUT method can only be used with an external ID (eid:) in the URL.",
            )
        eid = ident[4:]
        if not eid or not _valid_external_id(eid):
            raise NetSuiteError(400, "INVALID_REQUEST", f"Invalid external ID '{eid}'.")
        with self.store.transaction():
            rid = self.store.id_by_external_id(rtype, eid)
            if rid is None:
                return self.create(rtype, body, opts, external_id=eid), True
            old = self.load(rtype, rid)
            assert old is not None
            self._update_loaded(rtype, rid, old, body, opts)
            return rid, False

    def delete(self, rtype: str, ident: str, *, context: str = "restWebServices") -> None:
        """Delete a record and log it in ``deletedrecord``.

        Raises:
            NetSuiteError: 404 for a missing record; USER_ERROR when other records depend on it.
        """
        with self.store.transaction():
            rid = self.resolve_id(rtype, ident)
            data = self.load(rtype, rid)
            if data is None:
                raise not_found()
            self.rules.before_delete(rtype, rid, data)
            self.store.delete(FAMILIES[rtype], rtype, rid)
            self.store.add_deleted(
                {
                    "recordid": rid,
                    "recordtypeid": _RECORD_TYPE_IDS.get(FAMILIES[rtype]),
                    "scriptid": None,
                    "type": rtype.lower(),
                    "name": self.rules.ref_name(rtype, rid, data),
                    "deleteddate": self.projector.dt(self.now_iso()),
                    "deletedby": None,
                    "context": "RESTWEBSERVICES" if context == "restWebServices" else "USERINTERFACE",
                    "iscustomlist": "F",
                    "iscustomrecord": "F",
                    "iscustomtransaction": "F",
                }
            )
            self.rules.after_delete(rtype, rid, data)

    def transform(self, from_type: str, ident: str, to_type: str, body: Any, opts: WriteOptions) -> int:
        """``POST {from}/{id}/!transform/{to}``.

        Returns:
            The new record's internal id.

        Raises:
            NetSuiteError: unsupported transform, missing source, business-rule failures.
        """
        with self.store.transaction():
            try:
                src_id = self.resolve_id(from_type, ident)
            except NetSuiteError:
                raise NetSuiteError(400, "RCRD_DSNT_EXIST", "That record does not exist.") from None
            src = self.load(from_type, src_id)
            assert src is not None
            if body is None:
                body = {}
            initial, body = self.rules.transform_init(from_type, src_id, src, to_type, body)
            new_id = self.create(to_type, body, opts, initial=initial)
            self.rules.after_transform(from_type, src_id, to_type, new_id)
            return new_id

    # collection -------------------------------------------------------------------------------

    def collection(
        self, rtype: str, *, q: str | None, limit: int | None, offset: int | None, base: str, path_type: str
    ) -> dict[str, Any]:
        """GET a collection: ids and links only, paged (reference §3.6).

        Raises:
            NetSuiteError: bad ``limit``/``offset``/``q``.
        """
        lim, off = page_params(limit, offset)
        if q:
            flt = qfilter.parse(q, self.shape(rtype), rtype)
            evaluator = qfilter.Evaluator(qfilter.date_parser(self.config.date_format, self.tz), self.tz)
            matching = [rec.id for rec in self.store.iter_type(rtype) if evaluator.matches(flt, rec.data)]
            total = len(matching)
            ids = matching[off : off + lim]
        else:
            ids, total = self.store.list_ids(rtype, lim, off)
        extra = f"&q={quote(q)}" if q else ""
        href = f"{base}/record/v1/{path_type}"
        items = [{"links": [{"rel": "self", "href": f"{href}/{i}"}], "id": str(i)} for i in ids]
        return collection_page(
            items,
            total=total,
            limit=lim,
            offset=off,
            href=href,
            extra_query=extra,
            max_rows=self.config.suiteql_max_rows,
        )

    def sub_resource(
        self,
        rtype: str,
        ident: str,
        parts: list[str],
        *,
        base: str,
        path_type: str,
        expand: bool,
        simple_enum: bool,
    ) -> dict[str, Any]:
        """GET a sublist, one sublist line, or a subrecord of a record.

        Raises:
            NetSuiteError: 404 when the record, sublist or line does not exist.
        """
        rid = self.resolve_id(rtype, ident)
        data = self.load(rtype, rid)
        if data is None:
            raise not_found()
        shape = self.shape(rtype)
        out = Outbound(self.schema, self.ref_namer, base)
        name = shape.canonical(parts[0])
        path = f"record/v1/{path_type}/{rid}/{parts[0]}"
        if name is None:
            raise not_found(f"Subresource '{parts[0]}' does not exist.")
        fdef = shape.fields[name]
        if fdef.kind == "subrecord" and len(parts) == 1:
            sub = data.get(name) or {}
            return out.record(self.schema.subrecords[fdef.arg], sub, path, simple_enum=simple_enum)
        if fdef.kind != "sublist":
            raise not_found(f"Subresource '{parts[0]}' does not exist.")
        lines = data.get(name) or []
        if len(parts) == 1:
            line_shape = self.schema.sublists[fdef.arg]
            items = []
            for n, line in enumerate(lines):
                lpath = f"{path}/{line_key(fdef.arg, line, n)}"
                if expand:
                    items.append(out.record(line_shape, line, lpath, expand=True, simple_enum=simple_enum))
                else:
                    items.append({"links": out.link(lpath)})
            return {
                "links": out.link(path),
                "count": len(items),
                "hasMore": False,
                "items": items,
                "offset": 0,
                "totalResults": len(items),
            }
        match = next((ln for n, ln in enumerate(lines) if line_key(fdef.arg, ln, n) == parts[1]), None)
        if match is None:
            raise not_found(f"Sublist line '{parts[1]}' does not exist.")
        line_shape = self.schema.sublists[fdef.arg]
        lpath = f"{path}/{parts[1]}"
        if len(parts) == 2:
            return out.record(line_shape, match, lpath, expand=expand, simple_enum=simple_enum)
        sub_name = line_shape.canonical(parts[2])
        if sub_name is None or line_shape.fields[sub_name].kind != "subrecord" or len(parts) > 3:
            raise not_found(f"Subresource '{parts[2]}' does not exist.")
        sub_def = line_shape.fields[sub_name]
        return out.record(
            self.schema.subrecords[sub_def.arg],
            match.get(sub_name) or {},
            f"{lpath}/{parts[2]}",
            simple_enum=simple_enum,
        )

    # merging ----------------------------------------------------------------------------------

    def _apply(
        self, rtype: str, data: dict[str, Any], values: dict[str, Any], opts: WriteOptions, *, creating: bool
    ) -> None:
        shape = self.shape(rtype)
        replace = {name.lower() for name in opts.replace}
        for name, value in values.items():
            fdef = shape.fields[name]
            if fdef.kind == "sublist":
                if value is None and opts.replace_selected and name.lower() not in replace:
                    continue
                old_lines = data.get(name) or []
                data[name] = self.merge_lines(fdef.arg, old_lines, value, replace=name.lower() in replace)
                continue
            if value is None:
                if opts.replace_selected and name.lower() not in replace:
                    continue
                data.pop(name, None)
                continue
            if fdef.kind == "subrecord" and isinstance(data.get(name), dict):
                data[name] = _merge_dict(data[name], value)
                continue
            data[name] = value
        # a sublist named in ?replace= but absent from the body keeps its lines (Oracle: replace
        # applies to the sublists sent); nothing to do here.

    def merge_lines(
        self,
        sublist: str,
        old_lines: list[dict[str, Any]],
        new_lines: list[dict[str, Any]] | None,
        *,
        replace: bool,
    ) -> list[dict[str, Any]]:
        """Merge request lines into stored lines (reference §3.4).

        Args:
            sublist: sublist name.
            old_lines: stored lines.
            new_lines: request lines (None empties the sublist).
            replace: ``?replace=`` names this sublist.

        Returns:
            The new lines; request lines carry ``__given`` (names sent) for the business rules.
        """
        if new_lines is None:
            return []
        now = self.now_iso()
        for line in new_lines:
            line["__given"] = sorted(k for k in line if not k.startswith("__"))
            line["_lastModified"] = now
        key = self.schema.sublists[sublist].key
        if key is None:
            return list(new_lines) if replace else [*old_lines, *new_lines]
        result = [dict(line) for line in old_lines]
        index = {str(line.get(key)): n for n, line in enumerate(result) if line.get(key) is not None}
        touched: set[int] = set()
        for line in new_lines:
            k = line.get(key)
            if k is not None and str(k) in index:
                n = index[str(k)]
                result[n] = _merge_dict(result[n], line)
                touched.add(n)
            else:
                if key in {"line", "id"}:
                    line.pop(key, None)
                result.append(line)
                touched.add(len(result) - 1)
        if replace:
            result = [line for n, line in enumerate(result) if n in touched]
        return result

    def _assign_line_keys(self, rtype: str, data: dict[str, Any]) -> None:
        for name, fdef in self.shape(rtype).fields.items():
            if fdef.kind != "sublist" or not data.get(name):
                continue
            key = self.schema.sublists[fdef.arg].key
            if key == "line":
                used = [int(ln["line"]) for ln in data[name] if ln.get("line") is not None]
                nxt = max(used, default=0) + 1
                for line in data[name]:
                    if line.get("line") is None:
                        line["line"] = nxt
                        nxt += 1
            elif key == "id":
                for line in data[name]:
                    if line.get("id") is None:
                        line["id"] = self.store.next_value("id:addressbook", 1)

    def _check_external_id(self, rtype: str, eid: Any, rid: int | None) -> None:
        if eid is None:
            return
        if not _valid_external_id(str(eid)):
            raise invalid_content(eid, "externalId", "externalId")
        other = self.store.id_by_external_id(rtype, str(eid))
        if other is not None and other != rid:
            raise NetSuiteError(
                400,
                "DUP_RCRD",
                f"Error while accessing a resource. A record with the external ID '{eid}' already exists.",
                path="externalId",
            )


_RECORD_TYPE_IDS = {"entity": -2, "transaction": -30, "item": -10}


def _valid_external_id(eid: str) -> bool:
    return bool(eid) and all(ch.isalnum() or ch in "_-.:@ " for ch in eid) and "|" not in eid


def _merge_dict(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for k, v in new.items():
        if v is None:
            merged.pop(k, None)
        elif isinstance(v, dict) and isinstance(merged.get(k), dict) and not k.startswith("__"):
            merged[k] = _merge_dict(merged[k], v)
        else:
            merged[k] = v
    return merged


def _strip_paths(data: dict[str, Any]) -> None:
    for value in data.values():
        if isinstance(value, list):
            for line in value:
                if isinstance(line, dict):
                    line.pop("__path", None)
                    line.pop("__given", None)
    data.pop("_context", None)


def page_params(limit: int | None, offset: int | None, *, default: int = MAX_PAGE) -> tuple[int, int]:
    """Check ``limit``/``offset`` (limit 1..1000, offset a multiple of limit).

    Raises:
        NetSuiteError: 400 INVALID_PARAMETER.
    """
    lim = default if limit is None else limit
    off = 0 if offset is None else offset
    if lim < 1 or lim > MAX_PAGE:
        raise NetSuiteError(
            400,
            "INVALID_PARAMETER",
            f"Invalid value for the limit parameter: {lim}. The value must be between 1 and {MAX_PAGE}.",
            query_param="limit",
        )
    if off < 0 or off % lim != 0:
        raise NetSuiteError(
            400,
            "INVALID_PARAMETER",
            f"Invalid value for the offset parameter: {off}. The offset must be divisible by "
            f"the limit ({lim}).",
            query_param="offset",
        )
    return lim, off


def collection_page(
    items: list[dict[str, Any]],
    *,
    total: int,
    limit: int,
    offset: int,
    href: str,
    extra_query: str = "",
    max_rows: int = 100_000,
) -> dict[str, Any]:
    """A collection page with NetSuite's paging links (prev, first, next, last, self).

    Args:
        items: the page's items.
        total: total matching rows.
        limit: page size.
        offset: page start.
        href: collection URL without query.
        extra_query: extra query string (``&q=...``) kept on every link.
        max_rows: rows reachable by paging.

    Returns:
        The collection JSON.
    """
    reachable = min(total, max_rows)
    last_offset = max(0, ((reachable - 1) // limit) * limit) if reachable else 0
    has_more = offset + len(items) < reachable

    def link(rel: str, off: int) -> dict[str, str]:
        return {"rel": rel, "href": f"{href}?limit={limit}&offset={off}{extra_query}"}

    links = []
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
        links.append(link("first", 0))
    if has_more:
        links.append(link("next", offset + limit))
        links.append(link("last", last_offset))
    links.append(link("self", offset))
    return {
        "links": links,
        "count": len(items),
        "hasMore": has_more,
        "items": items,
        "offset": offset,
        "totalResults": total,
    }

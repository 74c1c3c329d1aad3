"""Pure request builders and response parsers for SuiteTalk REST (layer ``connectors``; core only).

No I/O here: everything takes and returns plain values, so it is tested against fixtures.
Wire facts come from reference/netsuite-api.md:

- record JSON (§3.2): references are ``{"id": ..., "refName": ..., "links": [...]}``; sublists are
  ``{"items": [...]}``; empty fields are omitted; ``links`` appear everywhere and mean nothing to us;
- create answers 204 with the new id at the end of ``Location`` (§3.1);
- SuiteQL (§4.1): ``POST /query/v1/suiteql?limit<=1000&offset=n`` with ``Prefer: transient``, body
  ``{"q", "params"}``; every value is a string, booleans are ``'T'``/``'F'``, NULL columns are
  left out, column names are lower-case but not guaranteed so; at most 100,000 rows are reachable;
- SuiteQL datetimes are rendered in the user's time zone and need ``TO_CHAR`` for seconds (§4.2);
- async jobs and batch writes (§3.8, §3.10), metadata catalog (§3.11), governanceLimits (§3.12).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from ledgerbridge.core.records import FieldSchema, JsonValue, ObjectSchema, Watermark

# reference/netsuite-api.md §4.1 / §3.6: at most 1000 rows per page, 100,000 reachable by offset.
SUITEQL_PAGE_LIMIT = 1000
SUITEQL_MAX_OFFSET_ROWS = 100_000
# reference/netsuite-api.md §4.1: "at most 1000 values in an IN list".
SUITEQL_MAX_IN_LIST = 1000
# reference/netsuite-api.md §3.10: batch operations carry at most 100 records.
BATCH_MAX_RECORDS = 100

RECORD_ROOT = "/record/v1"
SUITEQL_PATH = "/query/v1/suiteql"
GOVERNANCE_PATH = "/system/v1/governanceLimits"
METADATA_PATH = "/record/v1/metadata-catalog"

BATCH_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=collection"
SUITEQL_DATETIME_FORMAT = "YYYY-MM-DD HH24:MI:SS"
_PY_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# SuiteQL has one ``transaction`` table and one ``item`` table; REST has one record type per kind
# (reference/netsuite-api.md §4.3 type codes).
TRANSACTION_TYPES: Mapping[str, str] = {
    "salesorder": "SalesOrd", "invoice": "CustInvc", "customerpayment": "CustPymt",
    "creditmemo": "CustCred", "customerdeposit": "CustDep", "depositapplication": "DepAppl",
    "customerrefund": "CustRfnd", "cashsale": "CashSale", "cashrefund": "CashRfnd",
    "estimate": "Estimate", "opportunity": "Opprtnty", "returnauthorization": "RtnAuth",
    "itemfulfillment": "ItemShip", "journalentry": "Journal", "purchaseorder": "PurchOrd",
    "vendorbill": "VendBill", "vendorpayment": "VendPymt", "vendorcredit": "VendCred",
    "workorder": "WorkOrd", "transferorder": "TrnfrOrd",
}
ITEM_TYPES: Mapping[str, str] = {
    "inventoryitem": "InvtPart", "noninventorysaleitem": "NonInvtPart",
    "noninventoryresaleitem": "NonInvtPart", "noninventorypurchaseitem": "NonInvtPart",
    "servicesaleitem": "Service", "serviceresaleitem": "Service", "servicepurchaseitem": "Service",
    "discountitem": "Discount", "otherchargesaleitem": "OthCharge", "kititem": "Kit",
    "assemblyitem": "Assembly", "markupitem": "Markup", "subtotalitem": "Subtotal",
    "descriptionitem": "Description", "paymentitem": "Payment", "giftcertificateitem": "GiftCert",
}


# -- records ------------------------------------------------------------------------------


def record_path(record_type: str, record_id: str | None = None, *, external_id: str | None = None) -> str:
    """Path of a record or record collection under ``/services/rest``.

    Args:
        record_type: REST record type (``customer``, ``salesOrder``).
        record_id: Internal id, for one record.
        external_id: External id, addressed as ``eid:VALUE`` (§3.5).

    Returns:
        ``/record/v1/{type}``, ``/record/v1/{type}/{id}`` or ``/record/v1/{type}/eid:{ext}``.
    """
    base = f"{RECORD_ROOT}/{quote(record_type, safe='')}"
    if external_id is not None:
        return f"{base}/eid:{quote(external_id, safe='-_.~')}"
    if record_id is not None:
        return f"{base}/{quote(str(record_id), safe='')}"
    return base


def ref(record_id: str | int) -> dict[str, JsonValue]:
    """A reference (select) value for a write: ``{"id": "..."}``."""
    return {"id": str(record_id)}


def sublist(lines: Sequence[Mapping[str, JsonValue]]) -> dict[str, JsonValue]:
    """A sublist value for a write: ``{"items": [...]}``."""
    return {"items": [to_wire_value(dict(line)) for line in lines]}


def _strip_links(value: JsonValue) -> JsonValue:
    if isinstance(value, dict):
        return {k: _strip_links(v) for k, v in value.items() if k != "links"}
    if isinstance(value, list):
        return [_strip_links(v) for v in value]
    return value


def to_wire_value(value: JsonValue) -> JsonValue:
    """Shape one field value for a write.

    References read from NetSuite (``{"id", "refName", "links"}``) become ``{"id"}``; a plain list
    of objects becomes a sublist ``{"items": [...]}``; ``links`` are dropped everywhere.

    Args:
        value: A field value as the engine holds it.

    Returns:
        The value to put in a request body.
    """
    if isinstance(value, dict):
        if "items" in value:
            items = value.get("items")
            if items is None:
                return {"items": None}  # empties the sublist (§3.4)
            if isinstance(items, list):
                return {"items": [to_wire_value(v) for v in items]}
        if "id" in value and value.get("id") is not None and set(value) <= {"id", "refName", "links"}:
            return {"id": str(value["id"])}
        return {k: to_wire_value(v) for k, v in value.items() if k != "links"}
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return {"items": [to_wire_value(v) for v in value]}
        return [to_wire_value(v) for v in value]
    return value


def record_body(fields: Mapping[str, JsonValue], *, external_id: str | None = None,
                for_upsert: bool = False) -> dict[str, JsonValue]:
    """The JSON body of a create, update or upsert.

    Args:
        fields: Field values by REST field name.
        external_id: Set as ``externalId`` on creates (idempotent creates key on it).
        for_upsert: PUT ``eid:`` carries the external id in the URL; it is left out of the body.

    Returns:
        The body, without read-only ``id``, ``links`` and ``refName`` decorations.
    """
    body: dict[str, JsonValue] = {}
    for name, value in fields.items():
        if name in {"id", "links"}:
            continue
        body[name] = to_wire_value(value)
    if for_upsert:
        body.pop("externalId", None)
    elif external_id is not None:
        body["externalId"] = external_id
    return body


def replace_params(body: Mapping[str, JsonValue]) -> dict[str, str] | None:
    """``?replace=`` naming every sublist in an update or upsert body (reference/netsuite-api.md §3.4).

    A mapped sublist is written whole: without ``replace``, NetSuite keeps the lines the request does
    not name and appends unkeyed ones, so re-syncing an order's lines would duplicate them.

    Returns:
        ``{"replace": "item,addressBook"}``, or None when the body has no sublist.
    """
    names = [name for name, value in body.items()
             if isinstance(value, dict) and isinstance(value.get("items"), list)]
    return {"replace": ",".join(names)} if names else None


def id_from_location(location: str | None) -> str | None:
    """The internal id at the end of a ``Location`` header (``.../customer/647`` -> ``647``)."""
    if not location:
        return None
    path = urlsplit(location).path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    return last or None


def parse_datetime(value: object) -> datetime | None:
    """A REST datetime (ISO 8601, UTC ``Z`` or an offset) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class RecordDoc:
    """A record read by REST GET, reduced to what the port carries."""

    id: str
    fields: dict[str, JsonValue]
    modified_at: datetime | None


def parse_record(body: object, *, fallback_id: str | None = None) -> RecordDoc:
    """Turn a REST record JSON into fields (``links`` removed, references kept as ``{id, refName}``).

    Args:
        body: The decoded JSON.
        fallback_id: Id to use when the body has none.

    Returns:
        The parsed record.

    Raises:
        ValueError: When the body is not a JSON object or has no id.
    """
    if not isinstance(body, dict):
        raise ValueError("a record must be a JSON object")
    stripped = {k: _strip_links(v) for k, v in body.items() if k != "links"}
    record_id = stripped.get("id", fallback_id)
    if record_id is None:
        raise ValueError("record without id")
    return RecordDoc(id=str(record_id), fields=stripped,
                     modified_at=parse_datetime(stripped.get("lastModifiedDate")))


# -- SuiteQL ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SuiteQLPage:
    """One page of SuiteQL rows (keys lower-cased, ``links`` removed, values still strings)."""

    rows: list[dict[str, str]]
    has_more: bool
    total_results: int | None
    offset: int
    count: int
    next_href: str | None = None


def suiteql_body(query: str, params: Sequence[str] = ()) -> dict[str, JsonValue]:
    """The body of a SuiteQL request: ``{"q": ..., "params": [...]}`` (params as strings)."""
    body: dict[str, JsonValue] = {"q": query}
    if params:
        body["params"] = [str(p) for p in params]
    return body


def suiteql_params(limit: int, offset: int) -> dict[str, str]:
    """Query parameters of a SuiteQL page (``offset`` must be a multiple of ``limit``, §4.1)."""
    if not 1 <= limit <= SUITEQL_PAGE_LIMIT:
        raise ValueError(f"SuiteQL limit must be 1..{SUITEQL_PAGE_LIMIT}")
    if offset % limit:
        raise ValueError("SuiteQL offset must be a multiple of limit")
    return {"limit": str(limit), "offset": str(offset)}


def _link(body: Mapping[str, object], rel: str) -> str | None:
    links = body.get("links")
    if isinstance(links, list):
        for link in links:
            if isinstance(link, dict) and link.get("rel") == rel and isinstance(link.get("href"), str):
                return str(link["href"])
    return None


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def parse_suiteql_page(body: object) -> SuiteQLPage:
    """Parse one SuiteQL response page.

    Args:
        body: The decoded JSON.

    Returns:
        The rows and paging facts; ``has_more`` also holds when only a ``next`` link says so.

    Raises:
        ValueError: When the body is not a SuiteQL collection.
    """
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ValueError("a SuiteQL page must be an object with items")
    rows: list[dict[str, str]] = []
    for item in body["items"]:
        if not isinstance(item, dict):
            raise ValueError("a SuiteQL row must be an object")
        rows.append({str(k).lower(): ("" if v is None else v if isinstance(v, str) else str(v))
                     for k, v in item.items() if k != "links"})
    next_href = _link(body, "next")
    has_more = body.get("hasMore")
    return SuiteQLPage(
        rows=rows,
        has_more=bool(has_more) if isinstance(has_more, bool) else next_href is not None,
        total_results=_int_or_none(body.get("totalResults")),
        offset=_int_or_none(body.get("offset")) or 0,
        count=_int_or_none(body.get("count")) or len(rows),
        next_href=next_href,
    )


ColumnType = Literal["str", "int", "float", "bool", "date", "datetime"]


def suiteql_value(raw: str | None, kind: ColumnType = "str", *, tz: str = "UTC") -> JsonValue | datetime:
    """Convert one SuiteQL string to a value (every SuiteQL value is a string, §4.1).

    Args:
        raw: The string, or None for a NULL column (left out of the row).
        kind: What the column holds.
        tz: Time zone of datetimes (SuiteQL renders them in the user's zone, §4.2).

    Returns:
        The value: ``'T'``/``'F'`` as booleans, numbers as int/float, datetimes aware in UTC,
        dates as ``YYYY-MM-DD`` strings; None for NULL or empty.

    Raises:
        ValueError: When the string does not fit ``kind``.
    """
    if raw is None or raw == "":
        return None
    if kind == "bool":
        if raw in {"T", "F"}:
            return raw == "T"
        lowered = raw.lower()
        if lowered in {"true", "false"}:
            return lowered == "true"
        raise ValueError(f"not a SuiteQL boolean: {raw!r}")
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "datetime":
        return parse_suiteql_datetime(raw, tz)
    if kind == "date":
        return raw[:10]
    return raw


def format_suiteql_datetime(moment: datetime, tz: str = "UTC") -> str:
    """Render an aware datetime as SuiteQL expects it in ``TO_DATE(?, 'YYYY-MM-DD HH24:MI:SS')``.

    Args:
        moment: The instant (naive values are taken as UTC).
        tz: The time zone SuiteQL compares in (the user's).

    Returns:
        ``YYYY-MM-DD HH:MM:SS`` in that zone (fractions are truncated).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(tz)).strftime(_PY_DATETIME_FORMAT)


def parse_suiteql_datetime(raw: str, tz: str = "UTC") -> datetime:
    """Parse ``YYYY-MM-DD HH24:MI:SS[.F]`` (as ``TO_CHAR`` gives it) in ``tz`` to aware UTC.

    Args:
        raw: The string.
        tz: The time zone SuiteQL rendered it in.

    Returns:
        An aware UTC datetime.

    Raises:
        ValueError: When the string is not in that format.
    """
    text = raw.strip().replace("T", " ")
    main, _, fraction = text.partition(".")
    parsed = datetime.strptime(main[:19], _PY_DATETIME_FORMAT)
    if fraction.isdigit():
        parsed = parsed.replace(microsecond=int((fraction + "000000")[:6]))
    return parsed.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class QuerySource:
    """Where a REST record type lives in SuiteQL: a table and an optional type condition."""

    table: str
    condition: str | None = None
    params: tuple[str, ...] = ()


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def identifier(name: str) -> str:
    """A safe SuiteQL identifier (table or column), lower-cased.

    Raises:
        ValueError: For anything but letters, digits and underscores.
    """
    if not _IDENT.match(name):
        raise ValueError(f"not a SuiteQL identifier: {name!r}")
    return name.lower()


def query_source(record_type: str) -> QuerySource:
    """The SuiteQL table (and type filter) of a REST record type (§4.3).

    Args:
        record_type: REST record type name.

    Returns:
        ``transaction`` + ``type = ?`` for transactions, ``item`` + ``itemtype = ?`` for items,
        else the lower-cased record type as table (customer, contact, pricelevel...).
    """
    key = record_type.lower()
    if key in TRANSACTION_TYPES:
        return QuerySource("transaction", "type = ?", (TRANSACTION_TYPES[key],))
    if key in ITEM_TYPES:
        return QuerySource("item", "itemtype = ?", (ITEM_TYPES[key],))
    return QuerySource(identifier(record_type))


@dataclass(frozen=True, slots=True)
class Query:
    """A SuiteQL statement with its positional parameters."""

    q: str
    params: tuple[str, ...] = field(default_factory=tuple)


def changes_query(record_type: str, since: Watermark | None, *, where: str | None = None,
                  after: tuple[datetime, str] | None = None, tz: str = "UTC") -> Query:
    """Ids and modification stamps of records changed at or after ``since``.

    ``SELECT id, TO_CHAR(lastmodifieddate, ...) FROM <table> WHERE lastmodifieddate >= TO_DATE(?, ...)
    ORDER BY lastmodifieddate, id`` - the unique order makes offset paging safe (§4.1).

    Args:
        record_type: REST record type.
        since: Lower bound (inclusive); None reads everything.
        where: Extra condition in SuiteQL (a link's scope), ANDed in parentheses.
        after: Keyset position ``(modified, id)``: only rows strictly after it (used past the
            100,000-row offset cap).
        tz: Time zone SuiteQL compares datetimes in.

    Returns:
        The query.
    """
    source = query_source(record_type)
    conditions: list[str] = []
    params: list[str] = []
    if source.condition:
        conditions.append(source.condition)
        params.extend(source.params)
    if since is not None:
        conditions.append(f"lastmodifieddate >= TO_DATE(?, '{SUITEQL_DATETIME_FORMAT}')")
        params.append(format_suiteql_datetime(since.at, tz))
    if after is not None:
        at, last_id = after
        stamp = format_suiteql_datetime(at, tz)
        conditions.append(
            f"(lastmodifieddate > TO_DATE(?, '{SUITEQL_DATETIME_FORMAT}') OR "
            f"(lastmodifieddate = TO_DATE(?, '{SUITEQL_DATETIME_FORMAT}') AND id > ?))")
        params.extend([stamp, stamp, str(int(last_id))])
    if where:
        conditions.append(f"({where})")
    sql = (f"SELECT id, TO_CHAR(lastmodifieddate, '{SUITEQL_DATETIME_FORMAT}') AS lastmodified "
           f"FROM {source.table}")
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += " ORDER BY lastmodifieddate, id"
    return Query(sql, tuple(params))


def deleted_query(record_type: str, since: Watermark | None, *, tz: str = "UTC") -> Query:
    """Records of ``record_type`` deleted at or after ``since`` (``deletedrecord``, §4.3).

    Args:
        record_type: REST record type; matched case-insensitively against ``deletedrecord.type``.
        since: Lower bound (inclusive); None reads everything.
        tz: Time zone SuiteQL compares datetimes in.

    Returns:
        The query (columns ``recordid``, ``deleted``, ``type``).
    """
    params: list[str] = [record_type.lower()]
    sql = (f"SELECT recordid, TO_CHAR(deleteddate, '{SUITEQL_DATETIME_FORMAT}') AS deleted, type "
           "FROM deletedrecord WHERE LOWER(type) = ?")
    if since is not None:
        sql += f" AND deleteddate >= TO_DATE(?, '{SUITEQL_DATETIME_FORMAT}')"
        params.append(format_suiteql_datetime(since.at, tz))
    sql += " ORDER BY deleteddate, recordid"
    return Query(sql, tuple(params))


def find_query(record_type: str, column: str, values: Sequence[str], *,
               where: str | None = None) -> Query:
    """Ids of records whose ``column`` equals one of ``values`` (at most 1000, §4.1).

    Args:
        record_type: REST record type.
        column: REST field name; SuiteQL columns are its lower-case form.
        values: Exact values to match.
        where: Extra condition in SuiteQL (a link's scope), ANDed in parentheses.

    Returns:
        The query (column ``id``).

    Raises:
        ValueError: For an unsafe column name or too many values.
    """
    if not values:
        raise ValueError("find_query needs at least one value")
    if len(values) > SUITEQL_MAX_IN_LIST:
        raise ValueError(f"at most {SUITEQL_MAX_IN_LIST} values per IN list")
    source = query_source(record_type)
    col = identifier(column)
    conditions: list[str] = []
    params: list[str] = []
    if source.condition:
        conditions.append(source.condition)
        params.extend(source.params)
    conditions.append(f"{col} IN ({', '.join('?' for _ in values)})")
    params.extend(str(v) for v in values)
    if where:
        conditions.append(f"({where})")
    return Query(f"SELECT id FROM {source.table} WHERE {' AND '.join(conditions)} ORDER BY id",
                 tuple(params))


def q_filter(field_name: str, values: Sequence[str]) -> str:
    """A REST collection ``q`` filter matching any of ``values`` exactly (§3.6).

    Args:
        field_name: Body field (case-insensitive in NetSuite).
        values: Values; each is double-quoted.

    Returns:
        ``field IS "a" OR field IS "b"``.
    """
    name = identifier(field_name)
    return " OR ".join(f'{name} IS "{str(v).replace(chr(34), "")}"' for v in values)


# -- collections, batches and async jobs ----------------------------------------------------


def parse_collection_ids(body: object) -> tuple[list[str], bool]:
    """Ids of a REST collection page (``?q=`` list) and whether more pages follow."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ValueError("a collection must be an object with items")
    ids = [str(item["id"]) for item in body["items"] if isinstance(item, dict) and "id" in item]
    has_more = body.get("hasMore")
    return ids, bool(has_more) if isinstance(has_more, bool) else _link(body, "next") is not None


def batch_body(items: Sequence[Mapping[str, JsonValue]]) -> dict[str, JsonValue]:
    """Body of a batch request: ``{"items": [...]}`` with at most 100 records (§3.10)."""
    if len(items) > BATCH_MAX_RECORDS:
        raise ValueError(f"a batch carries at most {BATCH_MAX_RECORDS} records")
    return {"items": [dict(item) for item in items]}


@dataclass(frozen=True, slots=True)
class JobStatus:
    """An async job as ``GET /async/v1/job/{id}`` reports it."""

    id: str
    completed: bool
    progress: str
    task_href: str | None = None

    @property
    def failed(self) -> bool:
        """True when the job says it failed."""
        return self.progress.lower() == "failed"


def job_id_from_location(location: str | None) -> str | None:
    """The job id at the end of an async ``Location`` (``.../async/v1/job/123``)."""
    if not location:
        return None
    path = urlsplit(location).path.rstrip("/")
    match = re.search(r"/job/([^/]+)$", path)
    return match.group(1) if match else None


def parse_job(body: object) -> JobStatus:
    """Parse an async job status.

    Raises:
        ValueError: When the body is not a job.
    """
    if not isinstance(body, dict) or "id" not in body:
        raise ValueError("not an async job")
    task = body.get("task")
    task_href = _link(task, "self") if isinstance(task, dict) else None
    return JobStatus(id=str(body["id"]), completed=body.get("completed") is True,
                     progress=str(body.get("progress") or ""), task_href=task_href)


@dataclass(frozen=True, slots=True)
class TaskRef:
    """One task of an async job (one record of a batch)."""

    id: str
    href: str | None = None


def _task_sort_key(task: TaskRef) -> tuple[int, str]:
    return (int(task.id), "") if task.id.isdigit() else (1 << 62, task.id)


def parse_task_list(body: object) -> tuple[list[TaskRef], bool]:
    """Tasks of a job (``GET .../job/{id}/task``), ordered by id, and whether more pages follow.

    Raises:
        ValueError: When the body is not a collection.
    """
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ValueError("a task list must be an object with items")
    tasks: list[TaskRef] = []
    for item in body["items"]:
        if not isinstance(item, dict):
            continue
        href = _link(item, "self")
        task_id = item.get("id")
        if task_id is None and href:
            task_id = href.rstrip("/").rsplit("/", 1)[-1]
        if task_id is not None:
            tasks.append(TaskRef(str(task_id), href))
    tasks.sort(key=_task_sort_key)
    has_more = body.get("hasMore")
    return tasks, bool(has_more) if isinstance(has_more, bool) else _link(body, "next") is not None


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One task's state (``GET .../job/{id}/task/{n}``)."""

    id: str
    completed: bool
    progress: str
    result_href: str | None = None


def parse_task(body: object) -> TaskStatus:
    """Parse a task status.

    Raises:
        ValueError: When the body is not a task.
    """
    if not isinstance(body, dict):
        raise ValueError("not an async task")
    return TaskStatus(id=str(body.get("id", "")), completed=body.get("completed") is True,
                      progress=str(body.get("progress") or ""), result_href=_link(body, "related"))


# -- metadata and governance ----------------------------------------------------------------


def _field_type(prop: Mapping[str, object]) -> str:
    kind = prop.get("type")
    fmt = prop.get("format")
    if isinstance(fmt, str) and fmt in {"date", "date-time", "time"}:
        return "datetime" if fmt == "date-time" else fmt
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        props = prop.get("properties")
        if isinstance(props, dict) and "items" in props:
            return "sublist"
        if isinstance(props, dict) and "id" in props:
            return "reference"
        return "object"
    return str(kind or "string")


def parse_schema(record_type: str, body: object) -> ObjectSchema:
    """An :class:`ObjectSchema` from ``metadata-catalog/{type}`` as JSON Schema (§3.11).

    Args:
        record_type: The REST record type.
        body: The decoded JSON Schema.

    Returns:
        The schema: one field per property, with type, label (``title``), read-only flags,
        enumerations (``enum``) and references (``x-ns-*``/``$ref`` hints) when present.

    Raises:
        ValueError: When the body has no ``properties``.
    """
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        raise ValueError("a record schema must have properties")
    fields: dict[str, FieldSchema] = {}
    for name, prop in body["properties"].items():
        if not isinstance(prop, dict) or name == "links":
            continue
        read_only = prop.get("readOnly") is True
        ref_target = prop.get("$ref")
        references: tuple[str, ...] = ()
        if isinstance(ref_target, str) and ref_target.rstrip("/").rsplit("/", 1)[-1]:
            target = ref_target.rstrip("/").rsplit("/", 1)[-1]
            if target not in {"nsLink", "nsResource"}:
                references = (target,)
        enum = prop.get("enum")
        fields[name] = FieldSchema(
            name=str(name),
            type="reference" if references else _field_type(prop),
            label=str(prop.get("title") or name),
            createable=not read_only,
            updateable=not read_only,
            nillable=prop.get("nullable") is not False,
            is_external_id=name == "externalId",
            reference_to=references,
            picklist=tuple(str(e) for e in enum) if isinstance(enum, list) else (),
            length=_int_or_none(prop.get("maxLength")),
        )
    title = body.get("title")
    return ObjectSchema(name=record_type, fields=fields, label=str(title) if title else record_type)


@dataclass(frozen=True, slots=True)
class GovernanceLimits:
    """``GET /system/v1/governanceLimits`` (§3.12)."""

    account_limit: int | None
    unallocated_limit: int | None
    integration_limit: int | None
    limit_type: str

    @property
    def usable(self) -> int | None:
        """Slots this integration may use: its own limit, else the unallocated pool."""
        if self.integration_limit is not None:
            return self.integration_limit
        return self.unallocated_limit if self.unallocated_limit is not None else self.account_limit


def parse_governance_limits(body: object) -> GovernanceLimits:
    """Parse the governanceLimits answer.

    Raises:
        ValueError: When the body is not an object.
    """
    if not isinstance(body, dict):
        raise ValueError("governanceLimits must be an object")
    return GovernanceLimits(
        account_limit=_int_or_none(body.get("accountConcurrencyLimit")),
        unallocated_limit=_int_or_none(body.get("accountUnallocatedConcurrencyLimit")),
        integration_limit=_int_or_none(body.get("integrationConcurrencyLimit")),
        limit_type=str(body.get("integrationLimitType") or ""),
    )

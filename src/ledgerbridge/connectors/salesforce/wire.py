"""Pure request builders and response parsers for the Salesforce REST API (layer ``connectors``).

Imports ``ledgerbridge.core`` only; no I/O, so every function is tested against fixtures
transcribed from reference/salesforce-api.md. Covered: SOQL text with safely quoted literals
(§4), query pages and records (§4, §10.2), sObject Collections and Composite payloads and
results (§5.1, §5.2), Bulk API 2.0 CSV and results (§6), describe (§3.2) and the token response
(§1.2).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import cast
from urllib.parse import quote

from ledgerbridge.connectors.salesforce.errors import (
    ErrorItem,
    parse_error_items,
    record_error,
    record_error_from_items,
)
from ledgerbridge.core.errors import ConfigError, ErrorKind, ProtocolError
from ledgerbridge.core.records import (
    DeletedRecord,
    FieldSchema,
    JsonValue,
    ObjectSchema,
    Record,
    RecordError,
    Watermark,
    Write,
    WriteResult,
)

SYSTEM = "salesforce"

COLLECTION_LIMIT = 200
"""Records per sObject Collections call (reference §5.1)."""

COMPOSITE_COLLECTIONS_LIMIT = 5
"""Collections (or query) subrequests per Composite call (reference §5.2, secondary source)."""

SOQL_MAX_CHARS = 100_000
"""Longest SOQL text Salesforce accepts (reference §4)."""

BULK_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
"""Raw CSV bytes per Bulk 2.0 ingest job (150 MB base64-encoded; reference §6.1)."""

BULK_NULL = "#N/A"
"""Bulk API 2.0 CSV value that sets a field to null (an empty cell leaves it unchanged)."""

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
# SOQL string escapes (SOQL reference "Quoted String Escape Sequences").
_SOQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
                 "\b": "\\b", "\f": "\\f"}
_SKIP_TYPES = frozenset({"address", "location", "base64"})  # compounds and blobs: not selected


# --------------------------------------------------------------------------------------------
# Values


def parse_datetime(value: str) -> datetime:
    """Parse a Salesforce datetime (``2024-01-01T00:00:00.000+0000``; any ISO-8601 form).

    Raises:
        ProtocolError: The text is not a datetime.
    """
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ProtocolError(f"salesforce sent an unparseable datetime {value!r}", system=SYSTEM) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    """Salesforce's output form, UTC with milliseconds: ``2024-01-01T00:00:00.000+0000`` (§10.2)."""
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal, unquoted, in UTC, whole seconds: ``2024-01-01T00:00:00Z`` (§4).

    The documented literal forms have no fractional seconds, so the value is floored to the
    second; with ``>=`` filters that only widens the window (an overlap the engine drops).
    """
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    """A single-quoted SOQL string literal with every special character escaped."""
    return "'" + "".join(_SOQL_ESCAPES.get(ch, ch) for ch in value) + "'"


def soql_literal(value: object) -> str:
    """Render a Python value as a SOQL literal (§4: strings quoted, dates/datetimes/null unquoted).

    Raises:
        ConfigError: The value has no SOQL form (NaN, a dict...).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{value!r} cannot be used in a SOQL filter")
        return repr(value)
    if isinstance(value, datetime):
        return soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return soql_string(value)
    raise ConfigError(f"a {type(value).__name__} cannot be used in a SOQL filter")


def soql_identifier(name: str) -> str:
    """Check that ``name`` is a plain (optionally dotted) API name and return it.

    Raises:
        ConfigError: The name could inject SOQL (spaces, quotes, parentheses...).
    """
    if not _IDENT.match(name):
        raise ConfigError(f"{name!r} is not a Salesforce API name")
    return name


def is_salesforce_id(value: str) -> bool:
    """True for a 15- or 18-character alphanumeric id."""
    return bool(_SF_ID.match(value))


# --------------------------------------------------------------------------------------------
# SOQL


FIELDS_ALL = "FIELDS(ALL)"
"""A field-list entry meaning "every queryable field of the object" (expanded from describe)."""

_SUBQUERY = re.compile(r"^\(\s*SELECT\s+(.+?)\s+FROM\s+([A-Za-z][A-Za-z0-9_]*)\s*\)$", re.IGNORECASE)


def child_subquery(entry: str) -> tuple[str, list[str]] | None:
    """``(SELECT Id, Quantity FROM OpportunityLineItems)`` → ``("OpportunityLineItems", ["Id", "Quantity"])``.

    A field-list entry of that shape reads a child relationship with each record (reference §4,
    relationship queries). Only a plain field list is accepted (no WHERE, ORDER BY or LIMIT).

    Returns:
        The relationship name and its fields, or None when ``entry`` is not a subquery.

    Raises:
        ConfigError: it looks like a subquery but is not a plain one, or a name is not an API name.
    """
    text = entry.strip()
    if not text.startswith("("):
        return None
    m = _SUBQUERY.match(text)
    if not m:
        raise ConfigError(f"{entry!r}: a child subquery is (SELECT Field, ... FROM Relationship)")
    fields = [soql_identifier(f.strip()) for f in m.group(1).split(",")]
    return soql_identifier(m.group(2)), fields


def select_fields(fields: Iterable[str], required: Iterable[str] = ("Id",)) -> list[str]:
    """The SELECT list: ``required`` first, then ``fields``, deduplicated case-insensitively.

    Child subqueries (see :func:`child_subquery`) are rebuilt from their checked names.
    """
    out: list[str] = []
    seen: set[str] = set()
    for name in (*required, *fields):
        sub = child_subquery(name)
        if sub is not None:
            rel, cols = sub
            text = f"(SELECT {', '.join(select_fields(cols, ()))} FROM {rel})"
            key = text.lower()
        else:
            text = name
            key = soql_identifier(name).lower()
        if key not in seen:
            seen.add(key)
            out.append(text)
    return out


def child_relationships(fields: Iterable[str]) -> list[str]:
    """The relationship names of the child subqueries in a field list."""
    return [sub[0] for f in fields if (sub := child_subquery(f)) is not None]


def empty_children() -> dict[str, JsonValue]:
    """What a child relationship with no rows reads as (Salesforce returns ``null``)."""
    return {"totalSize": 0, "done": True, "records": []}


def queryable_fields(schema: ObjectSchema) -> list[str]:
    """Every field of a described object worth selecting (no compound or blob fields)."""
    return [f.name for f in schema.fields.values() if f.type not in _SKIP_TYPES]


def changes_soql(object: str, fields: Sequence[str], since: Watermark | None,
                 where: str | None = None, *, modstamp: str = "SystemModstamp") -> str:
    """SOQL for records modified at or after ``since``, ordered by (modstamp, Id).

    ``>=`` re-reads the boundary instant on purpose: records sharing the watermark's timestamp
    are not lost, and the engine drops the overlap (reference §4, DESIGN "Watermarks").
    """
    cols = select_fields(fields, ("Id", modstamp))
    clauses = []
    if since is not None:
        clauses.append(f"{modstamp} >= {soql_datetime(since.at)}")
    if where:
        clauses.append(f"({where})")
    text = f"SELECT {', '.join(cols)} FROM {soql_identifier(object)}"
    if clauses:
        text += " WHERE " + " AND ".join(clauses)
    return text + f" ORDER BY {modstamp} ASC, Id ASC"


def deleted_soql(object: str, since: Watermark | None, *, with_master: bool) -> str:
    """SOQL (for ``/queryAll``) of deleted records, with the merge winner when the object merges."""
    cols = ["Id", "IsDeleted", "SystemModstamp", *(["MasterRecordId"] if with_master else [])]
    text = f"SELECT {', '.join(cols)} FROM {soql_identifier(object)} WHERE IsDeleted = true"
    if since is not None:
        text += f" AND SystemModstamp >= {soql_datetime(since.at)}"
    return text + " ORDER BY SystemModstamp ASC, Id ASC"


def in_soql(object: str, fields: Sequence[str], field: str, values: Sequence[object],
            where: str | None = None) -> str:
    """SOQL selecting records whose ``field`` is one of ``values`` (quoted and escaped)."""
    cols = select_fields(fields)
    literals = ", ".join(soql_literal(v) for v in values)
    text = (f"SELECT {', '.join(cols)} FROM {soql_identifier(object)} "
            f"WHERE {soql_identifier(field)} IN ({literals})")
    if where:
        text += f" AND ({where})"
    if len(text) > SOQL_MAX_CHARS:
        raise ConfigError(f"SOQL of {len(text)} characters exceeds {SOQL_MAX_CHARS}; pass fewer values")
    return text


@dataclass(frozen=True, slots=True)
class QueryPage:
    """One page of ``/query`` results."""

    records: list[dict[str, JsonValue]]
    total_size: int
    done: bool
    next_url: str | None


def _expect_dict(body: object, what: str) -> dict[str, JsonValue]:
    if not isinstance(body, dict):
        raise ProtocolError(f"salesforce {what}: expected a JSON object, got {type(body).__name__}",
                            system=SYSTEM, operation=what)
    return cast(dict[str, JsonValue], body)


def parse_query_page(body: object) -> QueryPage:
    """Parse ``{totalSize, done, nextRecordsUrl?, records[]}`` (reference §4).

    Raises:
        ProtocolError: The body does not have that shape.
    """
    data = _expect_dict(body, "query")
    records = data.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ProtocolError("salesforce query: 'records' is not a list of objects", system=SYSTEM,
                            operation="query")
    done = bool(data.get("done", True))
    next_url = data.get("nextRecordsUrl")
    if not done and not isinstance(next_url, str):
        raise ProtocolError("salesforce query: done=false without nextRecordsUrl", system=SYSTEM,
                            operation="query")
    total = data.get("totalSize")
    return QueryPage(records=cast(list[dict[str, JsonValue]], records),
                     total_size=total if isinstance(total, int) else len(records), done=done,
                     next_url=next_url if isinstance(next_url, str) and not done else None)


def strip_attributes(value: JsonValue) -> JsonValue:
    """Drop ``attributes`` from a record and its nested parent/child records."""
    if isinstance(value, dict):
        return {k: strip_attributes(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [strip_attributes(v) for v in value]
    return value


def parse_record(raw: Mapping[str, JsonValue], object: str | None = None) -> Record:
    """A query or retrieve record as a :class:`Record` (fields by API name, no ``attributes``).

    ``modified_at`` comes from SystemModstamp (else LastModifiedDate), ``merged_into`` from
    MasterRecordId, ``is_deleted`` from IsDeleted.

    Raises:
        ProtocolError: The record has no Id.
    """
    rid = raw.get("Id")
    if not isinstance(rid, str):
        raise ProtocolError("salesforce record without an Id; select Id", system=SYSTEM)
    attrs = raw.get("attributes")
    obj = object or (str(attrs.get("type")) if isinstance(attrs, dict) and attrs.get("type") else "")
    fields = cast(dict[str, JsonValue], strip_attributes(dict(raw)))
    stamp = raw.get("SystemModstamp") or raw.get("LastModifiedDate")
    master = raw.get("MasterRecordId")
    return Record(object=obj, id=rid, fields=fields,
                  modified_at=parse_datetime(stamp) if isinstance(stamp, str) else None,
                  is_deleted=raw.get("IsDeleted") is True,
                  merged_into=master if isinstance(master, str) and master else None)


def parse_deleted(raw: Mapping[str, JsonValue], object: str) -> DeletedRecord:
    """A ``queryAll`` row of a deleted record as a :class:`DeletedRecord`."""
    rec = parse_record(raw, object)
    return DeletedRecord(object=object, id=rec.id, deleted_at=rec.modified_at, merged_into=rec.merged_into)


def watermark_of(records: Sequence[Record]) -> Watermark | None:
    """The watermark after a page ordered by (modified, id): its last record's position."""
    for rec in reversed(records):
        if rec.modified_at is not None:
            return Watermark(rec.modified_at, rec.id)
    return None


# --------------------------------------------------------------------------------------------
# Describe and token


def parse_describe(body: object) -> ObjectSchema:
    """An sObject describe (reference §3.2) as an :class:`ObjectSchema`.

    "Required on create" is ``createable and not nillable and not defaultedOnCreate``; that is
    what ``FieldSchema.nillable`` reports here.
    """
    data = _expect_dict(body, "describe")
    fields: dict[str, FieldSchema] = {}
    raw_fields = data.get("fields")
    for f in raw_fields if isinstance(raw_fields, list) else []:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            continue
        picklist = f.get("picklistValues")
        refs = f.get("referenceTo")
        length = f.get("length")
        name = str(f["name"])
        fields[name] = FieldSchema(
            name=name, type=str(f.get("type", "string")), label=str(f.get("label") or name),
            createable=bool(f.get("createable", False)), updateable=bool(f.get("updateable", False)),
            nillable=bool(f.get("nillable", True)) or bool(f.get("defaultedOnCreate", False)),
            is_external_id=bool(f.get("externalId", False)),
            reference_to=tuple(str(r) for r in refs) if isinstance(refs, list) else (),
            picklist=tuple(str(p.get("value")) for p in picklist
                           if isinstance(p, dict) and p.get("active", True))
            if isinstance(picklist, list) else (),
            length=length if isinstance(length, int) and length > 0 else None)
    return ObjectSchema(name=str(data.get("name", "")), fields=fields, label=str(data.get("label", "")))


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """The parts of an OAuth token response we use (reference §1.2)."""

    access_token: str
    instance_url: str
    issued_at: datetime | None = None
    id_url: str | None = None
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return f"TokenResponse(instance_url={self.instance_url!r}, issued_at={self.issued_at!r})"


def parse_token_response(body: object) -> TokenResponse:
    """Parse ``{access_token, instance_url, id, token_type, issued_at (epoch ms), signature}``.

    Raises:
        ProtocolError: ``access_token`` or ``instance_url`` is missing.
    """
    data = _expect_dict(body, "token")
    token, instance = data.get("access_token"), data.get("instance_url")
    if not isinstance(token, str) or not isinstance(instance, str):
        raise ProtocolError("salesforce token response without access_token/instance_url",
                            system=SYSTEM, operation="token")
    issued_raw = data.get("issued_at")
    issued = None
    if isinstance(issued_raw, str | int) and str(issued_raw).isdigit():
        issued = datetime.fromtimestamp(int(issued_raw) / 1000, UTC)
    ident, refresh = data.get("id"), data.get("refresh_token")
    return TokenResponse(token, instance.rstrip("/"), issued, ident if isinstance(ident, str) else None,
                         refresh if isinstance(refresh, str) else None)


# --------------------------------------------------------------------------------------------
# Writes: sObject Collections and Composite


def clean_fields(fields: Mapping[str, JsonValue], *, drop: Iterable[str] = ()) -> dict[str, JsonValue]:
    """Write body fields: no ``attributes``, no ``Id`` (it goes where the operation wants it)."""
    dropped = {"attributes", "id", *(d.lower() for d in drop)}
    return {k: v for k, v in fields.items() if k.lower() not in dropped}


def collection_record(object: str, fields: Mapping[str, JsonValue], *, id: str | None = None,
                      key_field: str | None = None, key: str | None = None) -> dict[str, JsonValue]:
    """One record of a Collections body: ``attributes.type`` first, then the fields."""
    body: dict[str, JsonValue] = {"attributes": {"type": object}}
    body.update(clean_fields(fields, drop=(key_field,) if key_field and key is not None else ()))
    if id is not None:
        body["Id"] = id
    if key_field and key is not None:
        body[key_field] = key
    return body


@dataclass(frozen=True, slots=True)
class CollectionCall:
    """One sObject Collections request and the input positions it carries.

    Attributes:
        method: POST (create), PATCH (update or upsert), DELETE.
        path: Path below ``/services/data/vNN.0`` (``/composite/sobjects...``).
        body: JSON body (None for DELETE).
        indices: Positions, in the caller's batch, of the records in this call, in order.
    """

    method: str
    path: str
    body: dict[str, JsonValue] | None
    indices: tuple[int, ...]


def chunks(items: Sequence[int], size: int) -> list[tuple[int, ...]]:
    """Split positions into consecutive groups of at most ``size``."""
    return [tuple(items[i:i + size]) for i in range(0, len(items), size)]


def create_calls(object: str, writes: Sequence[Write], indices: Sequence[int]) -> list[CollectionCall]:
    """POST ``/composite/sobjects`` calls creating ``writes[i]`` for i in ``indices`` (§5.1)."""
    return [CollectionCall("POST", "/composite/sobjects",
                           {"allOrNone": False,
                            "records": [collection_record(object, writes[i].fields) for i in chunk]},
                           chunk) for chunk in chunks(indices, COLLECTION_LIMIT)]


def update_calls(object: str, writes: Sequence[Write], indices: Sequence[int]) -> list[CollectionCall]:
    """PATCH ``/composite/sobjects`` calls updating by Id (§5.1)."""
    return [CollectionCall("PATCH", "/composite/sobjects",
                           {"allOrNone": False,
                            "records": [collection_record(object, writes[i].fields, id=writes[i].id)
                                        for i in chunk]},
                           chunk) for chunk in chunks(indices, COLLECTION_LIMIT)]


def upsert_calls(object: str, key_field: str, writes: Sequence[Write], keys: Sequence[str],
                 indices: Sequence[int]) -> list[CollectionCall]:
    """PATCH ``/composite/sobjects/{T}/{key}`` calls upserting by external id (§5.1, v46+).

    Args:
        object: The sObject type.
        key_field: The external-id field.
        writes: The whole batch.
        keys: External-id value of each position (aligned with ``writes``).
        indices: Positions to upsert.
    """
    path = f"/composite/sobjects/{soql_identifier(object)}/{soql_identifier(key_field)}"
    return [CollectionCall("PATCH", path,
                           {"allOrNone": False,
                            "records": [collection_record(object, writes[i].fields, key_field=key_field,
                                                          key=keys[i]) for i in chunk]},
                           chunk) for chunk in chunks(indices, COLLECTION_LIMIT)]


def delete_calls(ids: Sequence[str], indices: Sequence[int]) -> list[CollectionCall]:
    """DELETE ``/composite/sobjects?ids=...&allOrNone=false`` calls (§5.1)."""
    return [CollectionCall("DELETE", "/composite/sobjects?ids="
                           + ",".join(quote(ids[i], safe="") for i in chunk) + "&allOrNone=false",
                           None, chunk) for chunk in chunks(indices, COLLECTION_LIMIT)]


def parse_collection_results(body: object, n: int) -> list[tuple[str | None, bool, RecordError | None]]:
    """Per-record results of a Collections call, in input order (§5.1).

    Args:
        body: The decoded 200 body: ``[{"id","success","errors":[{"statusCode",...}],"created"?}]``.
        n: How many records were sent.

    Returns:
        ``(id, created, error)`` for each record sent.

    Raises:
        ProtocolError: The body is not a list of ``n`` results.
    """
    if not isinstance(body, list) or len(body) != n:
        got = len(body) if isinstance(body, list) else type(body).__name__
        raise ProtocolError(f"salesforce collections: expected {n} results, got {got}",
                            system=SYSTEM, operation="collections")
    out: list[tuple[str | None, bool, RecordError | None]] = []
    for item in body:
        if not isinstance(item, dict):
            out.append((None, False, RecordError(ErrorKind.PROTOCOL, "UNPARSEABLE", repr(item)[:200])))
            continue
        rid = item.get("id") if isinstance(item.get("id"), str) else None
        if item.get("success") is True:
            out.append((rid, item.get("created") is True, None))
        else:
            out.append((rid, False, record_error_from_items(parse_error_items(item.get("errors", [])))))
    return out


def composite_body(calls: Sequence[CollectionCall], data_path: str) -> dict[str, JsonValue]:
    """A ``/composite`` request carrying Collections calls as subrequests (§5.2).

    ``allOrNone`` is false so one failing subrequest does not roll the others back;
    ``collateSubrequests`` false keeps Salesforce from reordering them.
    """
    subs: list[JsonValue] = []
    for n, call in enumerate(calls):
        sub: dict[str, JsonValue] = {"method": call.method, "url": data_path + call.path,
                                     "referenceId": f"c{n}"}
        if call.body is not None:
            sub["body"] = call.body
        subs.append(sub)
    return {"allOrNone": False, "collateSubrequests": False, "compositeRequest": subs}


@dataclass(frozen=True, slots=True)
class SubResponse:
    """One ``compositeResponse`` entry."""

    status: int
    body: JsonValue
    reference_id: str


def parse_composite(body: object, n: int) -> list[SubResponse]:
    """The ``compositeResponse`` entries, ordered by our ``c<n>`` reference ids.

    Raises:
        ProtocolError: Entries are missing or malformed.
    """
    data = _expect_dict(body, "composite")
    entries = data.get("compositeResponse")
    if not isinstance(entries, list):
        raise ProtocolError("salesforce composite: no compositeResponse", system=SYSTEM,
                            operation="composite")
    by_ref: dict[str, SubResponse] = {}
    for e in entries:
        if isinstance(e, dict) and isinstance(e.get("referenceId"), str):
            status = e.get("httpStatusCode")
            by_ref[str(e["referenceId"])] = SubResponse(status if isinstance(status, int) else 0,
                                                        e.get("body"), str(e["referenceId"]))
    missing = [f"c{i}" for i in range(n) if f"c{i}" not in by_ref]
    if missing:
        raise ProtocolError(f"salesforce composite: no response for {', '.join(missing)}",
                            system=SYSTEM, operation="composite")
    return [by_ref[f"c{i}"] for i in range(n)]


def subresponse_error(sub: SubResponse) -> RecordError:
    """The record error every record of a failed Collections subrequest gets."""
    items = parse_error_items(sub.body)
    if items:
        return record_error_from_items(items)
    return record_error(ErrorItem("UNKNOWN_EXCEPTION" if sub.status >= 500 else "HTTP_" + str(sub.status),
                                  f"subrequest failed with HTTP {sub.status}"))


def results_for(call: CollectionCall, parsed: Sequence[tuple[str | None, bool, RecordError | None]]
                ) -> list[WriteResult]:
    """:class:`WriteResult` values (with input positions) for one Collections call.

    Create results carry no ``created`` key (§5.1); a successful POST did create its record.
    """
    is_create = call.method == "POST"
    return [WriteResult(index=i, id=rid, created=created or (is_create and err is None), error=err)
            for i, (rid, created, err) in zip(call.indices, parsed, strict=True)]


# --------------------------------------------------------------------------------------------
# Bulk API 2.0 CSV


def csv_value(value: JsonValue) -> str:
    """One CSV cell for Bulk 2.0: ``#N/A`` for null, ``true``/``false``, numbers as text (§6.1)."""
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    if isinstance(value, list | dict):
        raise ConfigError("nested values cannot go in a Bulk CSV; use Account.Ext__c style columns")
    return str(value)


def flatten_for_csv(fields: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """Turn ``{"Account": {"Ext__c": "A-1"}}`` references into ``Account.Ext__c`` columns (§6.1)."""
    out: dict[str, JsonValue] = {}
    for k, v in fields.items():
        if isinstance(v, dict):
            for sub_k, sub_v in v.items():
                if sub_k != "attributes":
                    out[f"{k}.{sub_k}"] = sub_v
        else:
            out[k] = v
    return out


@dataclass(frozen=True, slots=True)
class BulkCsv:
    """A CSV upload and the row signature of each input position, to align results later."""

    columns: tuple[str, ...]
    text: str
    signatures: tuple[tuple[str, ...], ...] = field(default=())


def encode_csv(rows: Sequence[Mapping[str, JsonValue]], *, first: Sequence[str] = ()) -> BulkCsv:
    """CSV (comma, LF, all cells quoted) for a Bulk 2.0 ingest job.

    Columns are the union of the rows' fields (``first`` leading); a field a row lacks is an
    empty cell, which Bulk leaves unchanged, while ``None`` becomes ``#N/A`` (null).
    """
    flat = [flatten_for_csv(r) for r in rows]
    columns = list(dict.fromkeys([*first, *(k for r in flat for k in r)]))
    for c in columns:
        soql_identifier(c)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    signatures = []
    for r in flat:
        cells = [csv_value(r[c]) if c in r else "" for c in columns]
        writer.writerow(cells)
        signatures.append(tuple(cells))
    return BulkCsv(tuple(columns), buf.getvalue(), tuple(signatures))


def decode_csv(text: str) -> list[dict[str, str]]:
    """Rows of a Bulk 2.0 result CSV as dicts (header row first; empty body = no rows)."""
    if not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text)))


def parse_bulk_error(text: str) -> RecordError:
    """``sf__Error`` of a failed row, ``CODE:message:Field1,Field2 --`` (§6.1), as a RecordError."""
    body = text.strip()
    if body.endswith("--"):
        body = body[:-2].rstrip()
    code, sep, rest = body.partition(":")
    if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]+", code):
        return record_error(ErrorItem("UNKNOWN_EXCEPTION" if not body else "BULK_ERROR", text.strip()))
    message, fields_text = rest, ""
    if ":" in rest:
        head, _, tail = rest.rpartition(":")
        if re.fullmatch(r"[A-Za-z0-9_.,\s]*", tail):
            message, fields_text = head, tail
    fields = tuple(f.strip() for f in fields_text.split(",") if f.strip())
    return record_error(ErrorItem(code, message.strip(), fields))


def align_bulk_results(upload: BulkCsv, successful: Sequence[Mapping[str, str]],
                       failed: Sequence[Mapping[str, str]], unprocessed: Sequence[Mapping[str, str]]
                       ) -> list[WriteResult]:
    """Put Bulk result rows back in input order (Bulk gives no order guarantee, §6.1).

    Each result row echoes the uploaded columns; a row is matched to the first unclaimed input
    position with the same cells. Inputs no result mentions get a PROTOCOL record error.
    """
    waiting: dict[tuple[str, ...], list[int]] = {}
    by_first: dict[str, list[int]] = {}
    for i, sig in enumerate(upload.signatures):
        waiting.setdefault(sig, []).append(i)
        if sig and sig[0] not in ("", BULK_NULL):
            by_first.setdefault(sig[0], []).append(i)
    results: dict[int, WriteResult] = {}

    def claim(row: Mapping[str, str]) -> int | None:
        # Exact echo of the uploaded cells first; else the first column (Id or the external
        # id, which Bulk echoes verbatim) for rows whose other cells came back normalised.
        for queue in (waiting.get(tuple(row.get(c, "") for c in upload.columns)),
                      by_first.get(row.get(upload.columns[0], "")) if upload.columns else None):
            while queue:
                i = queue.pop(0)
                if i not in results:
                    return i
        return None

    for row in successful:
        pos = claim(row)
        if pos is not None:
            results[pos] = WriteResult(pos, id=row.get("sf__Id") or None,
                                       created=row.get("sf__Created", "").lower() == "true")
    for row in failed:
        pos = claim(row)
        if pos is not None:
            results[pos] = WriteResult(pos, id=row.get("sf__Id") or None,
                                       error=parse_bulk_error(row.get("sf__Error", "")))
    for row in unprocessed:
        pos = claim(row)
        if pos is not None:
            results[pos] = WriteResult(pos, error=RecordError(
                ErrorKind.TRANSIENT, "UNPROCESSED", "the Bulk job ended before this row was processed"))
    return [results.get(i) or WriteResult(i, error=RecordError(
        ErrorKind.PROTOCOL, "MISSING_RESULT", "the Bulk job reported no result for this row"))
        for i in range(len(upload.signatures))]

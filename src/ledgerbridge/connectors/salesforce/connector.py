"""``SalesforceConnector``: the Salesforce side of :class:`~ledgerbridge.core.ports.SystemPort`.

Layer ``connectors``; imports ``ledgerbridge.core`` and ``ledgerbridge.transport`` only.

How each port method maps onto the API (reference/salesforce-api.md):

- ``read_changes``: SOQL ``WHERE SystemModstamp >= :since ORDER BY SystemModstamp, Id`` through
  ``/query``, following ``nextRecordsUrl`` to the end (§4); ``>=`` re-reads the boundary and the
  engine drops the overlap.
- ``read_deleted``: ``/queryAll`` of ``IsDeleted = true`` rows, with ``MasterRecordId`` for
  objects that merge (§3.5, §4).
- ``read_by_ids`` / ``find``: SOQL ``IN`` in chunks of 200 values.
- ``upsert``: sObject Collections in chunks of 200 (POST create, PATCH update by Id, PATCH upsert
  by external id; §5.1), up to 5 Collections calls carried by one ``/composite`` call (§5.2,
  one API call), and Bulk API 2.0 above ``bulk_threshold`` writes of one kind (§6).
  Results are aligned with the input in every path; per-record failures are values, and
  records that failed with a transient code (``UNABLE_TO_LOCK_ROW``) are resent.
- ``delete``: Collections DELETE; ``describe``: ``/sobjects/{T}/describe``, cached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace

import httpx2
import structlog

from ledgerbridge.connectors.salesforce.auth import TokenProvider
from ledgerbridge.connectors.salesforce.bulk import BulkApi
from ledgerbridge.connectors.salesforce.client import SalesforceClient
from ledgerbridge.connectors.salesforce.errors import SYSTEM
from ledgerbridge.connectors.salesforce.settings import SalesforceSettings
from ledgerbridge.connectors.salesforce.wire import (
    COLLECTION_LIMIT,
    COMPOSITE_COLLECTIONS_LIMIT,
    FIELDS_ALL,
    CollectionCall,
    QueryPage,
    changes_soql,
    child_relationships,
    clean_fields,
    composite_body,
    create_calls,
    delete_calls,
    deleted_soql,
    empty_children,
    in_soql,
    is_salesforce_id,
    parse_collection_results,
    parse_composite,
    parse_deleted,
    parse_describe,
    parse_query_page,
    parse_record,
    queryable_fields,
    results_for,
    select_fields,
    soql_identifier,
    strip_attributes,
    subresponse_error,
    update_calls,
    upsert_calls,
    watermark_of,
)
from ledgerbridge.core.errors import ErrorKind
from ledgerbridge.core.ports import Clock, SystemClock
from ledgerbridge.core.records import (
    Budget,
    Capabilities,
    DeletedRecord,
    JsonValue,
    ObjectSchema,
    Priority,
    ReadPage,
    Record,
    RecordError,
    System,
    Watermark,
    Write,
    WriteResult,
)
from ledgerbridge.transport.budget import DailyAllocation
from ledgerbridge.transport.http import HttpSettings, build_client
from ledgerbridge.transport.metrics import TransportMetrics, default_metrics
from ledgerbridge.transport.retry import RetryPolicy

_Rebuild = Callable[[list[int]], list[CollectionCall]]
"""Rebuilds the Collections calls for a subset of input positions (to resend failed records)."""

MAX_PAGE_SIZE = 2000
"""Largest SOQL page (default and max batchSize, reference §4)."""

_log = structlog.get_logger("ledgerbridge.connectors.salesforce")


class SalesforceConnector:
    """One Salesforce org, behind the engine's :class:`~ledgerbridge.core.ports.SystemPort`."""

    def __init__(self, settings: SalesforceSettings, http: httpx2.AsyncClient | None = None, *,
                 transport: httpx2.AsyncBaseTransport | None = None, clock: Clock | None = None,
                 retry: RetryPolicy | None = None, metrics: TransportMetrics | None = None,
                 allocation: DailyAllocation | None = None) -> None:
        """Build the connector; nothing is sent until the first call.

        Args:
            settings: The org and credentials.
            http: A shared client to use (the caller closes it); one is built from ``settings``
                when omitted (closed by :meth:`aclose`).
            transport: For the built client: a transport instead of the network (tests).
            clock: Time source for polling and JWT expiry; the system clock when omitted.
            retry: Retry policy; the default policy when omitted.
            metrics: Prometheus metrics; the shared default registry when omitted.
            allocation: Daily allocation tracker; a new one with ``settings.reserve_fraction``.
        """
        self.settings = settings
        self._owns_http = http is None
        if http is None:
            http = build_client(HttpSettings(timeout_s=settings.timeout_s,
                                             max_connections=settings.max_connections,
                                             max_keepalive_connections=settings.max_connections,
                                             ca_file=settings.ca_file, verify=settings.verify_tls),
                                transport=transport)
        self._http = http
        self._clock: Clock = clock or SystemClock()
        self.metrics = metrics or default_metrics()
        # A test clock's sleep is honoured (and instant); the real clock is left to the policy,
        # so that retry test mode (transport.retry.set_testing) can skip its waits.
        fake_sleep = None if clock is None or isinstance(clock, SystemClock) else clock.sleep
        self.retry = retry or RetryPolicy(metrics=self.metrics, sleep=fake_sleep)
        self.allocation = allocation or DailyAllocation(system=SYSTEM,
                                                        reserve_fraction=settings.reserve_fraction,
                                                        clock=self._clock)
        self.auth = TokenProvider(settings, http, clock=self._clock, retry=self.retry, metrics=self.metrics)
        self.client = SalesforceClient(settings, http, auth=self.auth, allocation=self.allocation,
                                       retry=self.retry, metrics=self.metrics)
        self.bulk = BulkApi(self.client, self._clock)
        self._schemas: dict[str, ObjectSchema] = {}

    # ---------------------------------------------------------------------------------------
    # SystemPort: identity and housekeeping

    @property
    def system(self) -> System:
        """Always :attr:`System.SALESFORCE`."""
        return System.SALESFORCE

    @property
    def capabilities(self) -> Capabilities:
        """Batches of any size up to ``max_write_batch`` (split internally), polling feed."""
        return Capabilities(max_write_batch=self.settings.max_write_batch, upsert_by_external_id=True,
                            change_feeds=("poll",), max_page_size=MAX_PAGE_SIZE)

    async def budget(self) -> Budget:
        """The daily allocation as last reported by ``Sforce-Limit-Info``."""
        return self.allocation.snapshot()

    async def aclose(self) -> None:
        """Close the HTTP client if this connector created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> SalesforceConnector:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------------------------------
    # Reads

    async def describe(self, object: str) -> ObjectSchema:
        """Describe an sObject (cached for the connector's lifetime).

        Raises:
            NotFound: The object does not exist (404 NOT_FOUND).
        """
        key = object.lower()
        if key not in self._schemas:
            body = await self.client.request_json(
                "GET", f"/sobjects/{soql_identifier(object)}/describe", operation="describe",
                priority=Priority.INTERACTIVE)
            self._schemas[key] = parse_describe(body)
        return self._schemas[key]

    async def _columns(self, object: str, fields: Sequence[str] | None) -> list[str]:
        if not fields:
            return queryable_fields(await self.describe(object))
        if any(f.strip().upper() == FIELDS_ALL for f in fields):
            own = queryable_fields(await self.describe(object))
            return [*own, *(f for f in fields if f.strip().upper() != FIELDS_ALL)]
        return list(fields)

    async def _children(self, records: list[Record], cols: Sequence[str], operation: str,
                        priority: Priority) -> list[Record]:
        """Complete the child relationships selected by subqueries: ``null`` (no rows) becomes an
        empty ``{totalSize, done, records}``, and a partial one (``done: false``) is read to the end
        through its ``nextRecordsUrl`` (reference §4, relationship queries)."""
        rels = child_relationships(cols)
        if not rels:
            return records
        out = []
        for rec in records:
            fields = dict(rec.fields)
            for rel in rels:
                value = fields.get(rel)
                if not isinstance(value, dict):
                    fields[rel] = empty_children()
                    continue
                rows = list(value.get("records") or [])  # type: ignore[arg-type]
                next_url = value.get("nextRecordsUrl")
                while value.get("done") is False and isinstance(next_url, str):
                    page = parse_query_page(await self.client.request_json(
                        "GET", next_url, operation=operation, priority=priority))
                    rows.extend(strip_attributes(dict(r)) for r in page.records)
                    value = {"done": page.done}
                    next_url = page.next_url
                fields[rel] = {"totalSize": len(rows), "done": True, "records": rows}
            out.append(replace(rec, fields=fields))
        return out

    async def query_pages(self, soql: str, *, query_all: bool = False, operation: str = "query",
                          priority: Priority = Priority.STATUS) -> AsyncIterator[QueryPage]:
        """Run SOQL and yield every page, following ``nextRecordsUrl`` to the end (§4).

        Args:
            soql: The query.
            query_all: Use ``/queryAll`` (includes deleted and archived rows).
            operation: Name for logs and metrics.
            priority: Lane of the calls.

        Yields:
            Each page as returned.
        """
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.query_batch_size}"}
        body = await self.client.request_json("GET", "/queryAll" if query_all else "/query",
                                              params={"q": soql}, headers=headers, operation=operation,
                                              priority=priority)
        page = parse_query_page(body)
        yield page
        while page.next_url:
            body = await self.client.request_json("GET", page.next_url, headers=headers,
                                                  operation=operation, priority=priority)
            page = parse_query_page(body)
            yield page

    async def query(self, soql: str, *, object: str | None = None, query_all: bool = False,
                    priority: Priority = Priority.STATUS) -> list[Record]:
        """All records of a SOQL query, as :class:`Record` values."""
        return [parse_record(r, object) async for page in self.query_pages(soql, query_all=query_all,
                                                                            priority=priority)
                for r in page.records]

    async def read_changes(self, object: str, since: Watermark | None, *,
                           fields: Sequence[str] | None = None, where: str | None = None,
                           priority: Priority = Priority.STATUS) -> AsyncIterator[ReadPage]:
        """Records with ``SystemModstamp >= since.at``, ordered by (SystemModstamp, Id), paged.

        Args:
            object: The sObject type.
            since: Where to start (None: from the beginning).
            fields: Fields to select (Id and SystemModstamp are added); all queryable fields
                from describe when omitted.
            where: An extra SOQL condition (the link's scope), ANDed in parentheses.
            priority: Lane of the calls.

        Yields:
            Pages whose ``watermark`` is the last record's (SystemModstamp, Id); the final page
            has ``has_more=False``.
        """
        cols = await self._columns(object, fields)
        soql = changes_soql(object, cols, since, where)
        last = since
        async for page in self.query_pages(soql, operation="read_changes", priority=priority):
            records = await self._children([parse_record(r, object) for r in page.records], cols,
                                           "read_changes", priority)
            if since is not None:
                # SOQL literals have whole seconds (the filter is floored): drop the sub-second
                # overlap so the port's "at or after since" holds exactly.
                records = [r for r in records if r.modified_at is None or r.modified_at >= since.at]
            last = watermark_of(records) or last
            _log.debug("salesforce.page.read", object=object, n=len(records), done=page.done)
            yield ReadPage(records=records, watermark=last, has_more=not page.done)

    async def read_deleted(self, object: str, since: Watermark | None, *,
                           priority: Priority = Priority.STATUS) -> list[DeletedRecord]:
        """Deleted records (recycle bin) since ``since``, with merge winners (``merged_into``)."""
        schema = await self.describe(object)
        soql = deleted_soql(object, since, with_master=schema.field("MasterRecordId") is not None)
        deleted = [parse_deleted(r, object)
                   async for page in self.query_pages(soql, query_all=True, operation="read_deleted",
                                                      priority=priority)
                   for r in page.records]
        if since is None:
            return deleted
        return [d for d in deleted if d.deleted_at is None or d.deleted_at >= since.at]

    async def _read_in(self, object: str, field: str, values: Sequence[object], fields: Sequence[str] | None,
                       operation: str, priority: Priority) -> list[Record]:
        cols = select_fields(await self._columns(object, fields))
        unique = list(dict.fromkeys(values))
        out: list[Record] = []
        for start in range(0, len(unique), COLLECTION_LIMIT):
            soql = in_soql(object, cols, field, unique[start:start + COLLECTION_LIMIT])
            async for page in self.query_pages(soql, operation=operation, priority=priority):
                out.extend(await self._children([parse_record(r, object) for r in page.records], cols,
                                                operation, priority))
        return out

    async def read_by_ids(self, object: str, ids: Sequence[str], *, fields: Sequence[str] | None = None,
                          priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        """Current state of the given records; ids that do not exist (or are not ids) are left out."""
        valid = [i for i in ids if is_salesforce_id(i)]
        if not valid:
            return []
        return await self._read_in(object, "Id", valid, fields, "read_by_ids", priority)

    async def filter_ids(self, object: str, ids: Sequence[str], where: str, *,
                         priority: Priority = Priority.INTERACTIVE) -> list[str]:
        """Those of ``ids`` whose records exist and satisfy the SOQL condition ``where`` (a link's
        scope): ``SELECT Id FROM <object> WHERE Id IN (...) AND (<where>)``, one query per 200 ids."""
        valid = list(dict.fromkeys(i for i in ids if is_salesforce_id(i)))
        out: list[str] = []
        for start in range(0, len(valid), COLLECTION_LIMIT):
            soql = in_soql(object, ["Id"], "Id", valid[start:start + COLLECTION_LIMIT], where)
            async for page in self.query_pages(soql, operation="filter_ids", priority=priority):
                out.extend(str(r["Id"]) for r in page.records if r.get("Id"))
        return out

    async def find(self, object: str, field: str, values: Sequence[str], *,
                   fields: Sequence[str] | None = None,
                   priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        """Records whose ``field`` equals one of ``values`` (SOQL ``IN``, literals escaped).

        Values are quoted as strings, except for a boolean field (by the cached describe), where
        ``"true"``/``"false"`` become SOQL's ``true``/``false`` (a quoted value would not compare).
        """
        if not values:
            return []
        return await self._read_in(object, field, await self._typed_values(object, field, values), fields,
                                   "find", priority)

    async def _typed_values(self, object: str, field: str, values: Sequence[str]) -> list[object]:
        """``values`` as SOQL literals take them: booleans for a boolean field. Only values that all
        read as true/false cost a describe (cached), so other look-ups make no extra call."""
        texts = [str(v).strip().lower() for v in values]
        if not all(t in {"true", "false"} for t in texts):
            return list(values)
        described = (await self.describe(object)).field(field)
        if described is None or described.type != "boolean":
            return list(values)
        return [t == "true" for t in texts]

    # ---------------------------------------------------------------------------------------
    # Writes

    async def upsert(self, object: str, writes: Sequence[Write], *, key_field: str | None = None,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        """Create, update or upsert records; one result per write, in input order.

        A write with ``id`` updates that record; one with ``external_id`` upserts by
        ``key_field`` (default ``settings.upsert_key_field``); one whose fields already carry
        ``key_field`` upserts by that value; any other write creates a record.

        Args:
            object: The sObject type.
            writes: The batch.
            key_field: The external-id field for upserts.
            priority: Lane of the calls.

        Returns:
            One :class:`WriteResult` per write (``index`` = its position); failures are values.
        """
        key = soql_identifier(key_field or self.settings.upsert_key_field)
        creates: list[int] = []
        updates: list[int] = []
        upserts: list[int] = []
        keys: list[str] = [""] * len(writes)
        for i, w in enumerate(writes):
            if w.id:
                updates.append(i)
            elif w.external_id is not None:
                keys[i] = w.external_id
                upserts.append(i)
            elif key_field and w.fields.get(key_field) not in (None, ""):
                keys[i] = str(w.fields[key_field])
                upserts.append(i)
            else:
                creates.append(i)
        results: dict[int, WriteResult] = {}
        calls: list[CollectionCall] = []
        threshold = self.settings.bulk_threshold
        for op, idxs in (("insert", creates), ("update", updates), ("upsert", upserts)):
            if len(idxs) > threshold:
                rows: list[dict[str, JsonValue]] = []
                for i in idxs:
                    fields = clean_fields(writes[i].fields, drop=(key,) if op == "upsert" else ())
                    if op == "update":
                        fields = {"Id": writes[i].id, **fields}
                    elif op == "upsert":
                        fields = {key: keys[i], **fields}
                    rows.append(fields)
                first = ("Id",) if op == "update" else (key,) if op == "upsert" else ()
                for r in await self.bulk.ingest(object, op, rows, first_columns=first, priority=priority,
                                                external_id_field=key if op == "upsert" else None):
                    pos = idxs[r.index]
                    results[pos] = WriteResult(pos, r.id, r.created, r.error)
            elif op == "insert":
                calls += create_calls(object, writes, idxs)
            elif op == "update":
                calls += update_calls(object, writes, idxs)
            else:
                calls += upsert_calls(object, key, writes, keys, idxs)
        create_set, update_set = set(creates), set(updates)

        def rebuild(idxs: list[int]) -> list[CollectionCall]:
            return [*create_calls(object, writes, [i for i in idxs if i in create_set]),
                    *update_calls(object, writes, [i for i in idxs if i in update_set]),
                    *upsert_calls(object, key, writes, keys,
                                  [i for i in idxs if i not in create_set and i not in update_set])]

        for r in await self._run_with_record_retries(calls, priority, rebuild=rebuild):
            results[r.index] = r
        return [results[i] for i in range(len(writes))]

    async def delete(self, object: str, ids: Sequence[str], *,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        """Delete records by id (to the recycle bin); one result per id, in input order."""
        results: dict[int, WriteResult] = {}
        valid: list[int] = []
        for i, rid in enumerate(ids):
            if is_salesforce_id(rid):
                valid.append(i)
            else:
                results[i] = WriteResult(i, error=RecordError(ErrorKind.RECORD, "MALFORMED_ID",
                                                              f"{rid!r} is not a Salesforce id"))
        for r in await self._run_with_record_retries(delete_calls(ids, valid), priority,
                                                     rebuild=lambda idxs: delete_calls(ids, idxs)):
            results[r.index] = r
        return [results[i] for i in range(len(ids))]

    async def _run_with_record_retries(self, calls: list[CollectionCall], priority: Priority, *,
                                       rebuild: _Rebuild) -> list[WriteResult]:
        # Records that failed with a transient code (UNABLE_TO_LOCK_ROW...) were not saved;
        # resend just those, with the policy's backoff, until attempts run out.
        results = {r.index: r for r in await self._run_calls(calls, priority)}
        attempt = 1
        while attempt < self.retry.attempts:
            again = sorted(i for i, r in results.items()
                           if r.error is not None and r.error.kind is ErrorKind.TRANSIENT)
            if not again:
                break
            self.metrics.record_retry(SYSTEM, "write.records", str(ErrorKind.TRANSIENT))
            await self.retry.wait(self.retry.backoff_s(attempt))
            attempt += 1
            for r in await self._run_calls(rebuild(again), priority):
                results[r.index] = r
        return list(results.values())

    async def _run_calls(self, calls: Sequence[CollectionCall], priority: Priority) -> list[WriteResult]:
        out: list[WriteResult] = []
        if len(calls) == 1:
            call = calls[0]
            body = await self.client.request_json(
                call.method, call.path, json=call.body, operation=_operation(call), priority=priority,
                idempotent=call.method != "POST")
            return results_for(call, parse_collection_results(body, len(call.indices)))
        for start in range(0, len(calls), COMPOSITE_COLLECTIONS_LIMIT):
            pack = calls[start:start + COMPOSITE_COLLECTIONS_LIMIT]
            body = await self.client.request_json(
                "POST", "/composite", json=composite_body(pack, self.settings.data_path),
                operation="composite", priority=priority,
                idempotent=all(c.method != "POST" for c in pack))
            for call, sub in zip(pack, parse_composite(body, len(pack)), strict=True):
                if 200 <= sub.status < 300:
                    out += results_for(call, parse_collection_results(sub.body, len(call.indices)))
                else:
                    error = subresponse_error(sub)
                    out += [WriteResult(i, error=error) for i in call.indices]
        return out


def _operation(call: CollectionCall) -> str:
    return {"POST": "create", "DELETE": "delete"}.get(call.method, "update" if call.path.endswith(
        "/composite/sobjects") else "upsert")

"""``NetSuiteConnector``: the :class:`~ledgerbridge.core.ports.SystemPort` for NetSuite.

Layer ``connectors``; imports ``ledgerbridge.transport`` and ``ledgerbridge.core`` only.

How each port method maps to SuiteTalk REST (reference/netsuite-api.md):

- ``read_changes``: SuiteQL ``SELECT id, lastmodifieddate ... ORDER BY lastmodifieddate, id``,
  1,000 rows a page by offset; past the 100,000 rows offsets can reach (§4.1) the query restarts
  after the last ``(lastmodifieddate, id)`` seen (keyset paging). The full records are then read by
  REST GET, concurrently through the governor, so ``Record.fields`` carries REST field names.
- ``read_deleted``: SuiteQL on ``deletedrecord``.
- ``read_by_ids`` / ``find``: REST GET (``eid:`` for external ids) or a SuiteQL ``IN`` lookup.
- ``upsert``: per record, PATCH by id, PUT ``eid:`` by external id, or POST (new id from
  ``Location``), concurrently through the governor; above ``batch_threshold`` records, REST batch
  jobs of up to 100 records (``async_jobs``). Results are aligned with the input and a failed
  record is a value, never an exception for the batch.
- ``delete``: REST DELETE per id.
- ``describe``: ``metadata-catalog/{type}`` as JSON Schema, cached.
- ``query_rows`` (the optional row-query port): SuiteQL with bound parameters, every page.
- ``budget``: the governor's limit, in-flight and throttle counters.

At the first call the connector reads ``governanceLimits`` when allowed (§3.12) and lowers the
governor's ceiling to what the account grants this integration.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

import httpx2

from ledgerbridge.connectors.netsuite import wire
from ledgerbridge.connectors.netsuite.async_jobs import AsyncJobs, BatchMethod, TaskResult
from ledgerbridge.connectors.netsuite.auth import build_auth
from ledgerbridge.connectors.netsuite.client import NetSuiteClient
from ledgerbridge.connectors.netsuite.errors import protocol_error, record_error
from ledgerbridge.connectors.netsuite.settings import NetSuiteSettings
from ledgerbridge.core.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    ErrorKind,
    NotFound,
    RemoteError,
    RequestRejected,
)
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
from ledgerbridge.transport import HttpSettings, RetryPolicy, TransportMetrics, build_client
from ledgerbridge.transport.governor import AdaptiveGovernor, ConcurrencyGovernor, ThrottleBackoff

# Values per ``q`` filter of the record service: the filter travels in the URL.
_Q_FILTER_VALUES = 50
T = TypeVar("T")
R = TypeVar("R")
SCHEMA_ACCEPT = {"Accept": "application/schema+json"}


class NetSuiteConnector:
    """NetSuite through SuiteTalk REST, as the engine's :class:`SystemPort`.

    Args:
        settings: Account, auth and tuning.
        http: The pooled ``httpx2.AsyncClient`` (the connector owns it from now on and closes it
            in :meth:`aclose`).
        governor: The account's concurrency governor; every connector of a process that talks
            to this account must share one. A private one sized to ``concurrency_share`` when
            omitted.
        auth: Auth flow; built from ``settings`` when omitted.
        clock: Time source for backoff, polling and token expiry.
        retry: Transient-failure policy; from ``settings`` when omitted.
        backoff: Throttled-call policy; from ``settings`` when omitted.
        metrics: Prometheus metrics; none when omitted.
        page_size: SuiteQL rows per page (at most 1000).
        max_offset_rows: Rows reachable by offset paging before switching to keyset paging.
    """

    def __init__(self, settings: NetSuiteSettings, http: httpx2.AsyncClient, *,
                 governor: ConcurrencyGovernor | None = None, auth: httpx2.Auth | None = None,
                 clock: Clock | None = None, retry: RetryPolicy | None = None,
                 backoff: ThrottleBackoff | None = None, metrics: TransportMetrics | None = None,
                 page_size: int = wire.SUITEQL_PAGE_LIMIT,
                 max_offset_rows: int = wire.SUITEQL_MAX_OFFSET_ROWS) -> None:
        if not 1 <= page_size <= wire.SUITEQL_PAGE_LIMIT:
            raise ConfigError(f"page_size must be 1..{wire.SUITEQL_PAGE_LIMIT}")
        self.settings = settings
        self.clock = clock or SystemClock()
        self.governor = governor or AdaptiveGovernor(settings.concurrency_share)
        self.client = NetSuiteClient(settings, http, auth or build_auth(settings, clock=self.clock),
                                     self.governor, clock=self.clock, retry=retry, backoff=backoff,
                                     metrics=metrics)
        self.jobs = AsyncJobs(self.client, poll_interval_s=settings.job_poll_interval_s,
                              timeout_s=settings.job_timeout_s)
        self.page_size = page_size
        self.max_offset_rows = max(page_size, max_offset_rows - max_offset_rows % page_size)
        self.governance: wire.GovernanceLimits | None = None
        self._schemas: dict[str, ObjectSchema] = {}
        self._started = False
        self._start_lock: asyncio.Lock | None = None

    @classmethod
    def from_settings(cls, settings: NetSuiteSettings, *,
                      transport: httpx2.AsyncBaseTransport | None = None,
                      governor: ConcurrencyGovernor | None = None, clock: Clock | None = None,
                      metrics: TransportMetrics | None = None) -> NetSuiteConnector:
        """Build the connector with a pooled client made from the settings.

        Args:
            settings: Account, auth and tuning.
            transport: A transport instead of the network (tests: ASGI or mock).
            governor: The account's shared governor.
            clock: Time source.
            metrics: Prometheus metrics.

        Returns:
            The connector.
        """
        http_settings = HttpSettings(
            timeout_s=settings.timeout_s,
            ca_file=str(settings.ca_file) if settings.ca_file else None,
            max_connections=max(20, settings.concurrency_share * 2),
            max_keepalive_connections=max(10, settings.concurrency_share * 2),
        )
        http = build_client(http_settings, transport=transport)
        return cls(settings, http, governor=governor, clock=clock, metrics=metrics)

    # -- SystemPort: identity and limits ------------------------------------------------------

    @property
    def system(self) -> System:
        """Always :attr:`System.NETSUITE`."""
        return System.NETSUITE

    @property
    def capabilities(self) -> Capabilities:
        """Batches of any size are accepted (split internally); SuiteQL pages of 1,000."""
        return Capabilities(max_write_batch=10_000, upsert_by_external_id=True,
                            change_feeds=("poll",), max_page_size=self.page_size)

    async def budget(self) -> Budget:
        """The governor's view: current limit, calls in flight and throttles so far."""
        stats = self.governor.stats()
        extra: dict[str, float] = {"ceiling": float(stats.ceiling),
                                   "waiting": float(sum(stats.waiting.values())),
                                   "limit_increases": float(stats.n_increases),
                                   "limit_decreases": float(stats.n_decreases)}
        if self.governance is not None and self.governance.account_limit is not None:
            extra["account_limit"] = float(self.governance.account_limit)
        return Budget(concurrency_limit=stats.limit, in_flight=stats.in_flight,
                      throttled=stats.n_throttled, extra=extra)

    async def start(self) -> None:
        """Read ``governanceLimits`` once (when allowed) and cap the governor's ceiling by it.

        Called by the first operation; calling it early is harmless.
        """
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            if self.settings.read_governance_limits:
                self.governance = await self.client.governance_limits()
                usable = self.governance.usable if self.governance else None
                if usable is not None and 0 < usable < self.settings.concurrency_share:
                    self.governor.set_ceiling(usable)
            self._started = True

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.http.aclose()

    # -- describe ------------------------------------------------------------------------------

    async def describe(self, object: str) -> ObjectSchema:
        """Fields of a record type from the metadata catalog (cached for the connector's life).

        Raises:
            NotFound: The record type does not exist or is not exposed to REST.
        """
        cached = self._schemas.get(object.lower())
        if cached is not None:
            return cached
        await self.start()
        body = await self.client.request_json(
            "GET", f"{wire.METADATA_PATH}/{object}", operation="metadata", headers=SCHEMA_ACCEPT,
            priority=Priority.INTERACTIVE)
        try:
            schema = wire.parse_schema(object, body)
        except ValueError as exc:
            raise protocol_error(str(exc), operation="metadata") from None
        self._schemas[object.lower()] = schema
        return schema

    # -- reads ---------------------------------------------------------------------------------

    async def read_changes(self, object: str, since: Watermark | None, *,
                           fields: Sequence[str] | None = None, where: str | None = None,
                           priority: Priority = Priority.STATUS) -> AsyncIterator[ReadPage]:
        """Records modified at or after ``since``, ordered by (modified, id), one page per SuiteQL page.

        Rows at exactly ``since.at`` with an id at or before ``since.last_id`` were delivered
        already and are skipped. Records deleted between the query and the GET are left out.

        Args:
            object: REST record type.
            since: Where the previous read ended; None reads everything.
            fields: Body fields to fetch (all, with sublists expanded, when None).
            where: Extra SuiteQL condition.
            priority: Governor lane.

        Yields:
            Pages; the last one has ``has_more=False``.
        """
        await self.start()
        tz = self.settings.query_time_zone
        query = wire.changes_query(object, since, where=where, tz=tz)
        offset = 0
        last: tuple[datetime, str] | None = None
        while True:
            page = await self.client.suiteql(query, limit=self.page_size, offset=offset, priority=priority)
            stamped: list[tuple[datetime, str]] = []
            for row in page.rows:
                try:
                    stamp = wire.parse_suiteql_datetime(row["lastmodified"], tz)
                    stamped.append((stamp, row["id"]))
                except (KeyError, ValueError):
                    raise protocol_error(f"unexpected SuiteQL row {sorted(row)}",
                                         operation="read_changes") from None
            fresh = [(at, rid) for at, rid in stamped if not _seen(since, at, rid)]
            records = await self._get_many(object, [rid for _, rid in fresh], fields, priority,
                                           stamps=dict((rid, at) for at, rid in fresh))
            if stamped:
                last = stamped[-1]
            watermark = Watermark(last[0], last[1]) if last else since
            reached = offset + len(page.rows)
            at_cap = reached + self.page_size > self.max_offset_rows
            # At the cap NetSuite may say hasMore=false although totalResults counts more rows.
            beyond_cap = at_cap and len(page.rows) == self.page_size and (
                page.total_results is None or page.total_results > reached)
            has_more = bool(page.rows) and (page.has_more or beyond_cap)
            yield ReadPage(records=records, watermark=watermark, has_more=has_more)
            if not has_more:
                return
            offset = reached
            if at_cap and last is not None:
                # Offsets cannot reach further (§4.1): restart after the last row seen.
                query = wire.changes_query(object, since, where=where, after=last, tz=tz)
                offset = 0

    async def read_deleted(self, object: str, since: Watermark | None, *,
                           priority: Priority = Priority.STATUS) -> list[DeletedRecord]:
        """Records of ``object`` deleted at or after ``since`` (from ``deletedrecord``)."""
        await self.start()
        tz = self.settings.query_time_zone
        query = wire.deleted_query(object, since, tz=tz)
        deleted: list[DeletedRecord] = []
        async for rows in self._all_rows(query, priority):
            for row in rows:
                record_id = row.get("recordid")
                if not record_id:
                    continue
                stamp = row.get("deleted")
                try:
                    at = wire.parse_suiteql_datetime(stamp, tz) if stamp else None
                except ValueError:
                    at = None
                deleted.append(DeletedRecord(object=object, id=record_id, deleted_at=at))
        return deleted

    async def read_by_ids(self, object: str, ids: Sequence[str], *, fields: Sequence[str] | None = None,
                          priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        """Current state of the given records, in input order; missing ids are left out."""
        await self.start()
        return await self._get_many(object, list(ids), fields, priority)

    async def find(self, object: str, field: str, values: Sequence[str], *,
                   fields: Sequence[str] | None = None,
                   priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        """Records whose ``field`` equals one of ``values``.

        ``id`` is read directly; other fields, ``externalId`` included, go through a SuiteQL ``IN``
        lookup on the lower-cased column name (one call per 1,000 values, so keys that match nothing
        cost no per-record call), or, when SuiteQL refuses the column, the record service's ``q``
        filter on the REST field name; then REST GET of the records found.

        Raises:
            RequestRejected: Neither SuiteQL nor the record service knows the field.
        """
        await self.start()
        wanted = list(dict.fromkeys(str(v) for v in values if v is not None and str(v) != ""))
        if not wanted:
            return []
        key = field.lower()
        if key in {"id", "internalid"}:
            return await self._get_many(object, wanted, fields, priority)
        ids: list[str] = []
        try:
            for start in range(0, len(wanted), wire.SUITEQL_MAX_IN_LIST):
                chunk = wanted[start:start + wire.SUITEQL_MAX_IN_LIST]
                try:
                    query = wire.find_query(object, field, chunk)
                except ValueError as exc:
                    raise ConfigError(f"cannot look NetSuite {object} up by {field!r}: {exc}") from None
                async for rows in self._all_rows(query, priority):
                    ids.extend(row["id"] for row in rows if row.get("id"))
        except RequestRejected:
            # SuiteQL column names differ from REST field names for some fields; the record
            # service's ``q`` filter takes the REST name (reference/netsuite-api.md §3.6).
            ids = await self._find_by_filter(object, field, wanted, priority)
        return await self._get_many(object, list(dict.fromkeys(ids)), fields, priority)

    async def filter_ids(self, object: str, ids: Sequence[str], where: str, *,
                         priority: Priority = Priority.INTERACTIVE) -> list[str]:
        """Those of ``ids`` whose records exist and satisfy the SuiteQL condition ``where`` (a link's
        scope): ``SELECT id FROM <table> WHERE id IN (?, ...) AND (<where>)``, the ids bound as
        parameters, one query per 1,000 ids."""
        await self.start()
        wanted = list(dict.fromkeys(str(i) for i in ids if str(i)))
        out: list[str] = []
        for start in range(0, len(wanted), wire.SUITEQL_MAX_IN_LIST):
            query = wire.find_query(object, "id", wanted[start:start + wire.SUITEQL_MAX_IN_LIST],
                                    where=where)
            async for rows in self._all_rows(query, priority):
                out.extend(row["id"] for row in rows if row.get("id"))
        return out

    async def _find_by_filter(self, object: str, field: str, values: Sequence[str],
                              priority: Priority) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(values), _Q_FILTER_VALUES):
            q = wire.q_filter(field, values[start:start + _Q_FILTER_VALUES])
            offset = 0
            while True:
                body = await self.client.request_json(
                    "GET", wire.record_path(object), operation="record.list", priority=priority,
                    params={"q": q, "limit": str(wire.SUITEQL_PAGE_LIMIT), "offset": str(offset)})
                try:
                    page_ids, has_more = wire.parse_collection_ids(body)
                except ValueError as exc:
                    raise protocol_error(str(exc), operation="record.list") from None
                ids.extend(page_ids)
                if not has_more or not page_ids:
                    break
                offset += wire.SUITEQL_PAGE_LIMIT
        return ids

    async def suiteql(self, query: str, params: Sequence[str] = (), *,
                      priority: Priority = Priority.STATUS) -> list[dict[str, str]]:
        """Every row of a SuiteQL query (all pages), for reports that read NetSuite directly.

        Args:
            query: The statement; ``?`` placeholders take ``params``.
            params: Positional parameters.
            priority: Governor lane.

        Returns:
            Rows as column name (lower case) -> text value.
        """
        await self.start()
        rows: list[dict[str, str]] = []
        async for page in self._all_rows(wire.Query(query, tuple(params)), priority):
            rows.extend(page)
        return rows

    async def query_rows(self, statement: str, params: Sequence[str]) -> list[dict[str, str]]:
        """:class:`~ledgerbridge.core.ports.RowQueryPort`: every row of a SuiteQL statement, its ``?``
        placeholders bound to ``params`` (the engine's ``options.enrich`` steps)."""
        return await self.suiteql(statement, params, priority=Priority.STATUS)

    async def _all_rows(self, query: wire.Query, priority: Priority) -> AsyncIterator[list[dict[str, str]]]:
        offset = 0
        while True:
            page = await self.client.suiteql(query, limit=self.page_size, offset=offset, priority=priority)
            yield page.rows
            if not page.has_more or not page.rows:
                return
            offset += len(page.rows)
            if offset + self.page_size > self.max_offset_rows:
                raise protocol_error("more rows than SuiteQL offsets reach; narrow the query",
                                     operation="suiteql")

    async def _get_many(self, object: str, ids: Sequence[str], fields: Sequence[str] | None,
                        priority: Priority, *, by_external_id: bool = False,
                        stamps: dict[str, datetime] | None = None) -> list[Record]:
        async def one(key: str) -> Record | None:
            return await self._get_one(object, key, fields, priority, by_external_id=by_external_id,
                                       stamp=(stamps or {}).get(key))

        found = await _gather(one, ids)
        return [r for r in found if r is not None]

    async def _get_one(self, object: str, key: str, fields: Sequence[str] | None, priority: Priority, *,
                       by_external_id: bool, stamp: datetime | None) -> Record | None:
        path = (wire.record_path(object, external_id=key) if by_external_id
                else wire.record_path(object, key))
        # ``fields`` selects body fields; the id (and links) come with every record and are not body
        # fields, so NetSuite refuses them in the list (reference/netsuite-api.md §3.1).
        body_fields = [f for f in fields or () if f.lower() not in {"id", "links"}]
        params = {"fields": ",".join(body_fields)} if body_fields else {"expandSubResources": "true"}
        try:
            body = await self.client.request_json("GET", path, operation="record.get", priority=priority,
                                                  params=params)
        except NotFound:
            return None
        try:
            doc = wire.parse_record(body, fallback_id=None if by_external_id else key)
        except ValueError as exc:
            raise protocol_error(str(exc), operation="record.get") from None
        return Record(object=object, id=doc.id, fields=doc.fields, modified_at=doc.modified_at or stamp)

    # -- writes --------------------------------------------------------------------------------

    async def upsert(self, object: str, writes: Sequence[Write], *, key_field: str | None = None,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        """Create, update (by id) or upsert (by external id) records; results aligned with ``writes``.

        Up to ``batch_threshold`` records go as single calls, concurrently through the governor;
        more go as REST batch jobs of up to 100 records each.

        Args:
            object: REST record type.
            writes: The records.
            key_field: None or ``externalId``: NetSuite upserts by external id only (§3.5).
            priority: Governor lane.

        Returns:
            One result per write; failures are values.

        Raises:
            AuthError: Credentials were refused (no write can succeed).
        """
        if key_field is not None and key_field.lower() != "externalid":
            error = RecordError(ErrorKind.CONFIG, "UNSUPPORTED_KEY",
                                f"NetSuite upserts by externalId only, not by {key_field!r}")
            return [WriteResult(index=i, error=error) for i in range(len(writes))]
        if not writes:
            return []
        await self.start()
        if len(writes) > self.settings.batch_threshold:
            return await self._upsert_batched(object, writes, priority)

        async def one(index: int) -> WriteResult:
            return await self._write_one(object, index, writes[index], priority)

        return await _gather_results(one, range(len(writes)))

    async def _write_one(self, object: str, index: int, write: Write, priority: Priority) -> WriteResult:
        if write.id is not None:
            body = wire.record_body(write.fields)
            await self.client.request("PATCH", wire.record_path(object, write.id), operation="record.update",
                                      priority=priority, json_body=body, params=wire.replace_params(body))
            return WriteResult(index=index, id=write.id)
        if write.external_id is not None:
            body = wire.record_body(write.fields, for_upsert=True)
            response = await self.client.request(
                "PUT", wire.record_path(object, external_id=write.external_id), operation="record.upsert",
                priority=priority, json_body=body, params=wire.replace_params(body))
            return WriteResult(index=index, id=wire.id_from_location(response.headers.get("Location")),
                               created=response.status_code == 201)
        response = await self.client.request(
            "POST", wire.record_path(object), operation="record.create", priority=priority,
            json_body=wire.record_body(write.fields), idempotent=False)
        new_id = wire.id_from_location(response.headers.get("Location"))
        if new_id is None:
            raise protocol_error("create answered without a Location", operation="record.create")
        return WriteResult(index=index, id=new_id, created=True)

    async def _upsert_batched(self, object: str, writes: Sequence[Write],
                              priority: Priority) -> list[WriteResult]:
        # One batch carries one ``?replace=``, so updates are grouped by the sublists they write whole.
        groups: dict[tuple[BatchMethod, str], list[int]] = {}
        for index, write in enumerate(writes):
            method: BatchMethod = "PATCH" if write.id else "PUT" if write.external_id else "POST"
            replace = "" if method == "POST" else (wire.replace_params(write.fields) or {}).get("replace", "")
            groups.setdefault((method, replace), []).append(index)
        chunks: list[tuple[BatchMethod, str, list[int]]] = []
        for (method, replace), indexes in groups.items():
            for start in range(0, len(indexes), wire.BATCH_MAX_RECORDS):
                chunks.append((method, replace, indexes[start:start + wire.BATCH_MAX_RECORDS]))

        async def run_chunk(chunk: tuple[BatchMethod, str, list[int]]) -> list[WriteResult]:
            method, replace, indexes = chunk
            items = [_batch_item(method, writes[i]) for i in indexes]
            try:
                outcomes = await self.jobs.run(method, object, items, priority=priority,
                                               params={"replace": replace} if replace else None)
            except AuthError:
                raise
            except ConnectorError as exc:
                err = _error_value(exc)
                return [WriteResult(index=i, error=err) for i in indexes]
            return [_result_from_task(i, method, writes[i], outcome) for i, outcome in zip(indexes, outcomes,
                                                                                             strict=True)]

        per_chunk = await _gather(run_chunk, chunks)
        results: dict[int, WriteResult] = {r.index: r for chunk_results in per_chunk for r in chunk_results}
        return [results[i] for i in range(len(writes))]

    async def delete(self, object: str, ids: Sequence[str], *,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        """Delete records by internal id; results aligned with ``ids`` (missing ones are NOT_FOUND values)."""
        await self.start()

        async def one(index: int) -> WriteResult:
            await self.client.request("DELETE", wire.record_path(object, ids[index]),
                                      operation="record.delete", priority=priority)
            return WriteResult(index=index, id=ids[index])

        return await _gather_results(one, range(len(ids)))


def _seen(since: Watermark | None, at: datetime, record_id: str) -> bool:
    if since is None or not since.last_id or at != since.at:
        return False
    try:
        return int(record_id) <= int(since.last_id)
    except ValueError:
        return record_id <= since.last_id


def _batch_item(method: BatchMethod, write: Write) -> dict[str, JsonValue]:
    body = wire.record_body(write.fields, external_id=write.external_id)
    if method == "PATCH" and write.id is not None:
        body["id"] = write.id
    return body


def _result_from_task(index: int, method: BatchMethod, write: Write, outcome: TaskResult) -> WriteResult:
    if outcome.error is not None:
        return WriteResult(index=index, error=outcome.error)
    return WriteResult(index=index, id=outcome.id or write.id, created=method == "POST")


def _error_value(exc: ConnectorError) -> RecordError:
    if isinstance(exc, RemoteError):
        return record_error(exc)
    return RecordError(kind=exc.kind, code=type(exc).__name__, message=str(exc))


async def _gather(fn: Callable[[T], Awaitable[R]], items: Iterable[T]) -> list[R]:
    # Every item becomes a task; the governor, not this function, bounds how many run at once.
    tasks = [asyncio.ensure_future(fn(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


async def _gather_results(fn: Callable[[int], Awaitable[WriteResult]], indexes: range) -> list[WriteResult]:
    outcomes = await asyncio.gather(*(fn(i) for i in indexes), return_exceptions=True)
    results: list[WriteResult] = []
    auth_failure: AuthError | None = None
    for index, outcome in zip(indexes, outcomes, strict=True):
        if isinstance(outcome, WriteResult):
            results.append(outcome)
        elif isinstance(outcome, AuthError):
            auth_failure = auth_failure or outcome
        elif isinstance(outcome, ConnectorError):
            results.append(WriteResult(index=index, error=_error_value(outcome)))
        elif isinstance(outcome, BaseException):
            raise outcome
    if auth_failure is not None:
        raise auth_failure
    return results

"""Bulk API 2.0: ingest jobs and query jobs (layer ``connectors``; imports core and transport only).

Lifecycle, from reference/salesforce-api.md §6:

- ingest: ``POST /jobs/ingest`` (create) -> ``PUT /jobs/ingest/{id}/batches`` (CSV upload) ->
  ``PATCH /jobs/ingest/{id}`` ``{"state": "UploadComplete"}`` -> poll ``GET /jobs/ingest/{id}``
  until ``JobComplete`` / ``Failed`` / ``Aborted`` -> ``successfulResults/``, ``failedResults/``,
  ``unprocessedrecords/``. Result rows come in no particular order and are aligned back to the
  input by the echoed columns (``wire.align_bulk_results``). A result file is only fetched when
  the job's counters say it has rows, so a clean job costs create + upload + close + poll(s) + 1.
- query: ``POST /jobs/query`` -> poll -> ``GET /jobs/query/{id}/results?locator=`` pages until
  ``Sforce-Locator`` is the literal ``null``.

Every poll is an API call, so polls are timed rather than frequent. They wait on the injected
:class:`~ledgerbridge.core.ports.Clock` (tests never sleep): the first one after the time the
job should take (rows ÷ ingest speed: the ``bulk_rows_per_s`` prior until this connection has
measured its own jobs), later ones after what the job's reported progress predicts for the
remaining rows (or a doubling interval), never sooner than ``bulk_poll_interval_s`` nor more
than 30 s apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import structlog

from ledgerbridge.connectors.salesforce.client import SalesforceClient
from ledgerbridge.connectors.salesforce.errors import SYSTEM
from ledgerbridge.connectors.salesforce.wire import (
    BULK_MAX_UPLOAD_BYTES,
    align_bulk_results,
    decode_csv,
    encode_csv,
    soql_identifier,
)
from ledgerbridge.core.errors import ErrorKind, ProtocolError, ServerError
from ledgerbridge.core.ports import Clock
from ledgerbridge.core.records import JsonValue, Priority, RecordError, WriteResult

MAX_POLL_INTERVAL_S = 30.0
FIRST_POLL_MARGIN = 1.1
"""Wait 10 % longer than the estimate: one late poll is cheaper than two early ones."""
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})

_log = structlog.get_logger("ledgerbridge.connectors.salesforce.bulk")


@dataclass(frozen=True, slots=True)
class JobInfo:
    """The fields of a Bulk 2.0 job we act on (§6.1)."""

    id: str
    state: str
    n_processed: int = 0
    n_failed: int = 0
    error_message: str | None = None


def parse_job(body: JsonValue) -> JobInfo:
    """Parse a job-info body.

    Raises:
        ProtocolError: ``id`` or ``state`` is missing.
    """
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) \
            or not isinstance(body.get("state"), str):
        raise ProtocolError("salesforce bulk: job info without id/state", system=SYSTEM, operation="bulk")

    def count(key: str) -> int:
        value = body.get(key)
        return int(value) if isinstance(value, int | float) else 0

    message = body.get("errorMessage")
    return JobInfo(str(body["id"]), str(body["state"]), count("numberRecordsProcessed"),
                   count("numberRecordsFailed"), message if isinstance(message, str) else None)


class BulkApi:
    """Bulk API 2.0 jobs over a :class:`SalesforceClient`."""

    def __init__(self, client: SalesforceClient, clock: Clock) -> None:
        """Use ``client`` for every call and ``clock`` to wait between polls."""
        self._client = client
        self._clock = clock
        self._rows_per_s = client.settings.bulk_rows_per_s
        self._measured = False

    async def ingest(self, object: str, operation: str, rows: Sequence[Mapping[str, JsonValue]], *,
                     external_id_field: str | None = None, first_columns: Sequence[str] = (),
                     priority: Priority = Priority.BACKFILL) -> list[WriteResult]:
        """Write ``rows`` with one or more ingest jobs; results aligned with ``rows``.

        Args:
            object: The sObject type.
            operation: ``insert`` | ``update`` | ``upsert`` | ``delete``.
            rows: Field values per row (``Id`` for update/delete, the external id for upsert).
            external_id_field: The upsert key.
            first_columns: Columns to put first (the key, so results can be matched on it).
            priority: Lane of the calls.

        Returns:
            One :class:`WriteResult` per row, ``index`` = its position in ``rows``.
        """
        results: list[WriteResult] = []
        for start, part in self._split(rows, first_columns):
            for r in await self._ingest_one(object, operation, part, external_id_field=external_id_field,
                                            first_columns=first_columns, priority=priority):
                results.append(WriteResult(r.index + start, r.id, r.created, r.error))
        return results

    def _split(self, rows: Sequence[Mapping[str, JsonValue]], first: Sequence[str]
               ) -> list[tuple[int, Sequence[Mapping[str, JsonValue]]]]:
        # One job takes at most 100 MB of raw CSV (§6.1); split by measured size.
        size = len(encode_csv(rows, first=first).text.encode())
        if size <= BULK_MAX_UPLOAD_BYTES or len(rows) <= 1:
            return [(0, rows)]
        n_parts = -(-size // BULK_MAX_UPLOAD_BYTES) + 1
        per = -(-len(rows) // n_parts)
        return [(i, rows[i:i + per]) for i in range(0, len(rows), per)]

    async def _ingest_one(self, object: str, operation: str, rows: Sequence[Mapping[str, JsonValue]], *,
                          external_id_field: str | None, first_columns: Sequence[str],
                          priority: Priority) -> list[WriteResult]:
        upload = encode_csv(rows, first=first_columns)
        spec: dict[str, JsonValue] = {"object": soql_identifier(object), "operation": operation,
                                      "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"}
        if external_id_field:
            spec["externalIdFieldName"] = soql_identifier(external_id_field)
        c = self._client
        job = parse_job(await c.request_json("POST", "/jobs/ingest", operation="bulk.create", json=spec,
                                             priority=priority, idempotent=False))
        _log.info("salesforce.bulk.created", job=job.id, object=object, operation=operation, n=len(rows))
        try:
            await c.request("PUT", f"/jobs/ingest/{job.id}/batches", operation="bulk.upload",
                            content=upload.text.encode(), headers={"Content-Type": "text/csv"},
                            priority=priority, idempotent=False)
            await c.request_json("PATCH", f"/jobs/ingest/{job.id}", operation="bulk.close",
                                 json={"state": "UploadComplete"}, priority=priority)
        except Exception:
            await self._abort(job.id, priority)
            raise
        info = await self._wait("ingest", job.id, priority, len(rows))
        if info.state == "Failed" and info.n_processed == 0:
            reason = info.error_message or "the job failed"
            # The job as a whole was refused (typically an unknown column): a mapping problem.
            return [WriteResult(i, error=RecordError(ErrorKind.CONFIG, "BULK_JOB_FAILED", reason))
                    for i in range(len(rows))]
        n_ok = info.n_processed - info.n_failed
        successful = await self._result_csv(job.id, "successfulResults", priority) if n_ok > 0 else []
        failed = await self._result_csv(job.id, "failedResults", priority) if info.n_failed > 0 else []
        unprocessed: list[dict[str, str]] = []
        if info.n_processed < len(rows):
            unprocessed = await self._result_csv(job.id, "unprocessedrecords", priority)
        _log.info("salesforce.bulk.done", job=job.id, state=info.state, n_ok=n_ok, n_failed=info.n_failed)
        return align_bulk_results(upload, successful, failed, unprocessed)

    async def _abort(self, job_id: str, priority: Priority) -> None:
        try:
            await self._client.request_json("PATCH", f"/jobs/ingest/{job_id}", operation="bulk.abort",
                                            json={"state": "Aborted"}, priority=priority)
        except Exception as exc:  # best effort: the original error matters more
            _log.warning("salesforce.bulk.abort_failed", job=job_id, error=type(exc).__name__)

    async def _wait(self, kind: str, job_id: str, priority: Priority, n_rows: int | None = None) -> JobInfo:
        # Every poll is an API call. The first one waits for the time the job should take
        # (rows ÷ the ingest speed this connection has measured, or the configured prior);
        # later ones for what the job's own progress predicts, else a doubling interval.
        settings = self._client.settings
        interval = settings.bulk_poll_interval_s
        started = self._clock.now()
        delay = interval
        if n_rows:
            delay = min(max(n_rows / self._rows_per_s * FIRST_POLL_MARGIN, interval), MAX_POLL_INTERVAL_S)
        while True:
            await self._clock.sleep(delay)
            info = parse_job(await self._client.request_json(
                "GET", f"/jobs/{kind}/{job_id}", operation="bulk.poll", priority=priority))
            waited = (self._clock.now() - started).total_seconds()
            if info.state in TERMINAL_STATES:
                if n_rows and info.state == "JobComplete" and waited > 0:
                    self._learn(n_rows / waited)
                return info
            if waited >= settings.bulk_timeout_s:
                raise ServerError(f"salesforce bulk {kind} job {job_id} still {info.state} after "
                                  f"{waited:.0f} s; it keeps running, see Setup > Bulk Data Load "
                                  "Jobs", system=SYSTEM, operation="bulk.poll")
            if n_rows and 0 < info.n_processed < n_rows and waited > 0:
                rate = info.n_processed / waited
                self._learn(rate)
                delay = (n_rows - info.n_processed) / rate * FIRST_POLL_MARGIN
            else:
                delay *= 2
            delay = min(max(delay, interval), MAX_POLL_INTERVAL_S)

    def _learn(self, rows_per_s: float) -> None:
        # Progress reports measure the speed; a completed job's rows ÷ elapsed is a lower bound
        # (it may have finished well before the poll). An exponential average keeps one odd
        # job from dominating the next job's first wait.
        if self._measured:
            self._rows_per_s = 0.5 * self._rows_per_s + 0.5 * rows_per_s
        else:
            self._rows_per_s = rows_per_s
            self._measured = True

    async def _result_csv(self, job_id: str, name: str, priority: Priority) -> list[dict[str, str]]:
        response = await self._client.request("GET", f"/jobs/ingest/{job_id}/{name}/",
                                              operation="bulk.results", accept="text/csv",
                                              priority=priority)
        return decode_csv(response.text)

    async def query(self, soql: str, *, query_all: bool = False, max_records: int = 50_000,
                    priority: Priority = Priority.BACKFILL) -> AsyncIterator[list[dict[str, str]]]:
        """Run a Bulk 2.0 query job and yield its result pages (CSV rows as dicts).

        Args:
            soql: The query (no ORDER BY, LIMIT, aggregates or subqueries, §6.2).
            query_all: Include deleted and archived rows.
            max_records: Rows per result page (``maxRecords``).
            priority: Lane of the calls.

        Yields:
            Each result page's rows; values are CSV text (empty string for null).
        """
        c = self._client
        job = parse_job(await c.request_json(
            "POST", "/jobs/query", operation="bulk.query",
            json={"operation": "queryAll" if query_all else "query", "query": soql}, priority=priority,
            idempotent=False))
        info = await self._wait("query", job.id, priority)
        if info.state != "JobComplete":
            raise ServerError(f"salesforce bulk query job {job.id} ended {info.state}: "
                              f"{info.error_message or 'no reason given'}", system=SYSTEM,
                              operation="bulk.query")
        locator: str | None = None
        while True:
            params = {"maxRecords": str(max_records)}
            if locator:
                params["locator"] = locator
            response = await c.request("GET", f"/jobs/query/{job.id}/results", operation="bulk.results",
                                       params=params, accept="text/csv", priority=priority)
            yield decode_csv(response.text)
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

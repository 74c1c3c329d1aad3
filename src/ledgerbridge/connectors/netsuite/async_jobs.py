"""REST batch writes as async jobs, and job polling (layer ``connectors``; imports transport and core).

A batch (reference/netsuite-api.md §3.8-§3.10) is one ``POST``/``PATCH``/``PUT`` of up to 100 records
to ``/record/v1/{type}`` with ``Prefer: respond-async`` and the collection content type. NetSuite
answers 202 with the job in ``Location``; the job is polled until ``completed``; then
``/job/{id}/task`` lists one task per record and ``/job/{id}/task/{n}/result`` gives each record's
result (the record, or an error body).

Every submission carries an ``X-NetSuite-Idempotency-Key`` chosen before the first attempt, so a
retried submission (a timeout after NetSuite had accepted it) cannot write twice: NetSuite answers
``400 IDEMPOTENCY_ERROR`` with ``Location`` pointing at the original job, which is then polled
instead. Waiting uses the injected clock; intervals double from ``poll_interval_s`` up to 10 s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import httpx2

from ledgerbridge.connectors.netsuite import wire
from ledgerbridge.connectors.netsuite.client import NetSuiteClient
from ledgerbridge.connectors.netsuite.errors import (
    IdempotencyConflict,
    parse_error_body,
    protocol_error,
    record_error_from_body,
)
from ledgerbridge.core.errors import ErrorKind, RemoteError, ServerError
from ledgerbridge.core.records import JsonValue, Priority, RecordError

BatchMethod = Literal["POST", "PATCH", "PUT"]
IDEMPOTENCY_HEADER = "X-NetSuite-Idempotency-Key"
_MAX_POLL_INTERVAL_S = 10.0


@dataclass(frozen=True, slots=True)
class TaskResult:
    """One record's outcome in a batch job."""

    id: str | None = None
    error: RecordError | None = None


class AsyncJobs:
    """Submits batch writes and collects their per-record results.

    Args:
        client: The account's client (governor, retries, auth).
        poll_interval_s: First wait between job polls.
        timeout_s: Give up waiting for a job after this long (on the client's clock).
        new_key: Source of idempotency keys (tests inject a fixed one).
    """

    def __init__(self, client: NetSuiteClient, *, poll_interval_s: float = 1.0, timeout_s: float = 900.0,
                 new_key: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.client = client
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self._new_key = new_key

    async def submit(self, method: BatchMethod, record_type: str, items: Sequence[Mapping[str, JsonValue]], *,
                     priority: Priority, idempotency_key: str | None = None,
                     params: Mapping[str, str] | None = None) -> str:
        """Submit one batch (at most 100 records); returns the job id.

        Args:
            method: POST creates, PATCH updates (items carry ``id`` or ``externalId``), PUT upserts
                (items carry ``externalId``).
            record_type: REST record type.
            items: Record bodies.
            priority: Governor lane.
            idempotency_key: Reused across retries of this submission; a new one when omitted.
            params: Query parameters of the batch (``replace`` for sublists written whole).

        Returns:
            The async job id.

        Raises:
            RemoteError: NetSuite refused the whole batch.
            ProtocolError: The answer named no job.
        """
        key = idempotency_key or self._new_key()
        headers = {"Prefer": "respond-async", IDEMPOTENCY_HEADER: key}
        try:
            response = await self.client.request(
                method, wire.record_path(record_type), operation=f"batch.{method.lower()}",
                priority=priority, json_body=wire.batch_body(items), headers=headers,
                content_type=wire.BATCH_CONTENT_TYPE, params=params)
        except IdempotencyConflict as exc:
            # An earlier attempt of this very submission was accepted; follow its job.
            job_id = wire.job_id_from_location(exc.location)
            if job_id is None:
                raise
            return job_id
        job_id = wire.job_id_from_location(response.headers.get("Location"))
        if job_id is None:
            raise protocol_error(f"batch answered {response.status_code} without a job Location",
                                 operation=f"batch.{method.lower()}")
        return job_id

    async def wait(self, job_id: str, *, priority: Priority) -> wire.JobStatus:
        """Poll a job until it completes.

        Args:
            job_id: The job.
            priority: Governor lane of the polls.

        Returns:
            The final status.

        Raises:
            ServerError: The job did not complete within ``timeout_s`` (transient: poll again later).
        """
        started = self.client.clock.now()
        interval = self.poll_interval_s
        while True:
            body = await self.client.request_json("GET", f"/async/v1/job/{job_id}", operation="job.get",
                                                  priority=priority)
            try:
                status = wire.parse_job(body)
            except ValueError as exc:
                raise protocol_error(str(exc), operation="job.get") from None
            if status.completed or status.failed:
                return status
            if (self.client.clock.now() - started).total_seconds() >= self.timeout_s:
                raise ServerError(f"NetSuite async job {job_id} not completed after {self.timeout_s:.0f} s; "
                                  "poll it again later", system="netsuite", operation="job.get")
            await self.client.clock.sleep(interval)
            interval = min(_MAX_POLL_INTERVAL_S, interval * 2)

    async def tasks(self, job_id: str, *, priority: Priority) -> list[wire.TaskRef]:
        """All tasks of a job, in id order (one per record, in submission order)."""
        tasks: list[wire.TaskRef] = []
        offset = 0
        while True:
            params = {"limit": "1000", "offset": str(offset)} if offset else None
            body = await self.client.request_json("GET", f"/async/v1/job/{job_id}/task",
                                                  operation="job.tasks", priority=priority, params=params)
            try:
                page, has_more = wire.parse_task_list(body)
            except ValueError as exc:
                raise protocol_error(str(exc), operation="job.tasks") from None
            tasks.extend(page)
            if not has_more or not page:
                return tasks
            offset += len(page)

    async def result(self, job_id: str, task: wire.TaskRef, *, priority: Priority) -> TaskResult:
        """One task's result: the record's id, or its error as a value."""
        path = f"/async/v1/job/{job_id}/task/{task.id}/result"
        try:
            response = await self.client.request("GET", path, operation="job.result", priority=priority)
        except RemoteError as exc:
            if exc.kind in {ErrorKind.RECORD, ErrorKind.NOT_FOUND, ErrorKind.AMBIGUOUS, ErrorKind.ACCESS}:
                return TaskResult(error=RecordError(exc.kind, exc.code or "ERROR", str(exc)))
            raise
        return _task_result(response)

    async def run(self, method: BatchMethod, record_type: str, items: Sequence[Mapping[str, JsonValue]], *,
                  priority: Priority, params: Mapping[str, str] | None = None) -> list[TaskResult]:
        """Submit a batch, wait for it, and return one result per item, aligned with ``items``.

        Raises:
            RemoteError: The batch as a whole was refused.
        """
        job_id = await self.submit(method, record_type, items, priority=priority, params=params)
        await self.wait(job_id, priority=priority)
        tasks = await self.tasks(job_id, priority=priority)
        results: list[TaskResult] = []
        for index in range(len(items)):
            if index >= len(tasks):
                results.append(TaskResult(error=RecordError(
                    ErrorKind.PROTOCOL, "NO_TASK", f"async job {job_id} has no task for record {index}")))
                continue
            results.append(await self.result(job_id, tasks[index], priority=priority))
        return results


def _task_result(response: httpx2.Response) -> TaskResult:
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    if isinstance(body, dict) and "o:errorDetails" in body:
        status = body.get("status")
        code = int(status) if isinstance(status, int) else 400
        return TaskResult(error=record_error_from_body(code, body))
    record_id: str | None = None
    if isinstance(body, dict) and body.get("id") is not None:
        record_id = str(body["id"])
    if record_id is None:
        record_id = wire.id_from_location(response.headers.get("Location"))
    if record_id is None and isinstance(body, dict):
        parsed = parse_error_body(body)
        if parsed.code:
            return TaskResult(error=record_error_from_body(400, body))
    return TaskResult(id=record_id)

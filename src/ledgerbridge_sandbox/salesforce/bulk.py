"""Bulk API 2.0 of the Salesforce sandbox: ingest and query jobs (reference §6).

Domain + HTTP layer for ``/jobs/ingest`` and ``/jobs/query``; imports the org, the SOQL engine
and Starlette. Jobs live in memory (they are transient, as real finished jobs are deleted after
7 days). An ingest job is processed by a background asyncio task once it is closed
(``UploadComplete -> InProgress -> JobComplete``); rows are written one by one through the same
validation as REST, 200 per event-loop turn so the server stays responsive. A query job runs
in a background task as soon as it is created. Results are CSV with every value quoted;
query pages carry ``Sforce-Locator`` (``null`` on the last page) and ``Sforce-NumberOfRecords``.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ledgerbridge_sandbox.salesforce import ids
from ledgerbridge_sandbox.salesforce.errors import ApiError, RecordError, not_found
from ledgerbridge_sandbox.salesforce.org import CallContext
from ledgerbridge_sandbox.salesforce.responses import (
    empty_response,
    endpoint,
    json_body,
    json_response,
    read_body,
)
from ledgerbridge_sandbox.salesforce.soql.engine import Plan, bind
from ledgerbridge_sandbox.salesforce.soql.parser import FieldRef, FuncCall, Query
from ledgerbridge_sandbox.salesforce.values import format_datetime

if TYPE_CHECKING:
    from ledgerbridge_sandbox.salesforce.state import SandboxState

CSV_TYPE = "text/csv; charset=UTF-8"
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
ROWS_PER_TURN = 200
RECORDS_PER_BATCH = 10_000  # each 10,000 records of an ingest job count as one batch (reference §6.3)


def _quote(value: Any) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return '"' + text.replace('"', '""') + '"'


def _csv(header: list[str], rows: list[list[Any]], line_end: str, delimiter: str) -> str:
    lines = [delimiter.join(_quote(h) for h in header)]
    lines.extend(delimiter.join(_quote(v) for v in row) for row in rows)
    return line_end.join(lines) + line_end


@dataclass
class Job:
    """One Bulk API 2.0 job."""

    id: str
    kind: str  # ingest | query
    operation: str
    object: str
    api_version: str
    created_by: str
    created: str
    modstamp: str
    state: str
    ctx: CallContext
    line_ending: str = "LF"
    column_delimiter: str = "COMMA"
    external_id_field: str | None = None
    query: str | None = None
    chunks: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[list[Any]] = field(default_factory=list)
    failed: list[list[Any]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    result_header: list[str] = field(default_factory=list)
    result_rows: list[list[Any]] = field(default_factory=list)
    processed: int = 0
    processing_ms: int = 0
    error_message: str | None = None
    task: asyncio.Task[None] | None = None

    def info(self, full: bool = True) -> dict[str, Any]:
        """Job info as the API returns it (create response when ``full`` is false)."""
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created,
            "systemModstamp": self.modstamp,
            "state": self.state,
        }
        if self.external_id_field:
            out["externalIdFieldName"] = self.external_id_field
        out["concurrencyMode"] = "Parallel"
        out["contentType"] = "CSV"
        out["apiVersion"] = float(self.api_version)
        if self.kind == "ingest":
            out["contentUrl"] = f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
        out["lineEnding"] = self.line_ending
        out["columnDelimiter"] = self.column_delimiter
        if full:
            out["jobType"] = "V2Ingest" if self.kind == "ingest" else "V2Query"
            out["numberRecordsProcessed"] = self.processed
            if self.kind == "ingest":
                out["numberRecordsFailed"] = len(self.failed)
            out["retries"] = 0
            out["totalProcessingTime"] = self.processing_ms
            if self.kind == "ingest":
                out["apiActiveProcessingTime"] = self.processing_ms
                out["apexProcessingTime"] = 0
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


def _job_error(code: str, text: str, status: int = 400) -> ApiError:
    return ApiError(status, [RecordError(code, text)])


class BulkJobs:
    """All Bulk API 2.0 jobs of a sandbox.

    Args:
        state: the sandbox state.
    """

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.jobs: dict[str, Job] = {}
        self._serial = 0
        self._batches: list[tuple[float, int]] = []

    def clear(self) -> None:
        """Cancel running jobs and forget all jobs."""
        for job in self.jobs.values():
            if job.task is not None and not job.task.done():
                job.task.cancel()
        self.jobs.clear()

    def batches_today(self) -> int:
        """Internal batches counted in the last 24 hours."""
        cutoff = self.state.org.now().timestamp() - 86400
        self._batches = [b for b in self._batches if b[0] >= cutoff]
        return sum(n for _, n in self._batches)

    def _new(self, kind: str, operation: str, obj: str, ctx: CallContext, body: dict[str, Any]) -> Job:
        line_ending = str(body.get("lineEnding") or "LF").upper()
        delimiter = str(body.get("columnDelimiter") or "COMMA").upper()
        if line_ending not in LINE_ENDINGS:
            raise _job_error("INVALIDJOB", f"Invalid line ending: {line_ending}")
        if delimiter not in DELIMITERS:
            raise _job_error("INVALIDJOB", f"Invalid column delimiter: {delimiter}")
        content = str(body.get("contentType") or "CSV").upper()
        if content != "CSV":
            raise _job_error("INVALIDJOB", f"Invalid content type: {content}")
        self._serial += 1
        now = format_datetime(self.state.org.now())
        job = Job(
            id=ids.make_id("750", self._serial),
            kind=kind,
            operation=operation,
            object=obj,
            api_version=ctx.version,
            created_by=ctx.user_id,
            created=now,
            modstamp=now,
            state="Open" if kind == "ingest" else "UploadComplete",
            ctx=ctx,
            line_ending=line_ending,
            column_delimiter=delimiter,
        )
        self.jobs[job.id] = job
        return job

    def get(self, job_id: str, kind: str) -> Job:
        """A job of that kind.

        Raises:
            ApiError: 404 NOT_FOUND.
        """
        job = self.jobs.get(ids.normalize(job_id) or job_id)
        if job is None or job.kind != kind:
            raise not_found()
        return job

    def _touch(self, job: Job, new_state: str | None = None) -> None:
        if new_state:
            job.state = new_state
        job.modstamp = format_datetime(self.state.org.now())

    # -- ingest -------------------------------------------------------------------------------

    def create_ingest(self, ctx: CallContext, body: Any) -> Job:
        """``POST /jobs/ingest``.

        Raises:
            ApiError: invalid job definition.
        """
        if not isinstance(body, dict):
            raise _job_error("INVALIDJOB", "Invalid job definition")
        operation = str(body.get("operation") or "")
        if operation not in INGEST_OPERATIONS:
            raise _job_error("INVALIDJOB", f"Invalid operation: {operation or 'null'}")
        obj = self.state.org.schema.get(str(body.get("object") or ""))
        if obj is None:
            raise _job_error("INVALIDJOB", f"Unable to find object: {body.get('object')}")
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            if not ext:
                raise _job_error("INVALIDJOB", "External ID was blank for upsert")
            field_def = obj.field(str(ext))
            if field_def is None or not (field_def.external_id or field_def.id_lookup):
                raise _job_error("INVALIDJOB", f"Field {ext} is not an external id field of {obj.name}")
            ext = field_def.name
        job = self._new("ingest", operation, obj.name, ctx, body)
        job.external_id_field = str(ext) if operation == "upsert" else None
        return job

    def upload(self, job: Job, data: bytes) -> None:
        """``PUT /jobs/ingest/{id}/batches``.

        Raises:
            ApiError: the job is not open, or the data is empty.
        """
        if job.state != "Open":
            raise _job_error("INVALIDJOBSTATE", "Job is not in the Open state", 409)
        if not data.strip():
            raise _job_error("INVALIDJOB", "Empty CSV data")
        job.chunks.append(data.decode("utf-8-sig"))
        self._touch(job)

    def change_state(self, job: Job, new_state: str) -> Job:
        """``PATCH /jobs/{kind}/{id}`` with ``UploadComplete`` or ``Aborted``.

        Raises:
            ApiError: an impossible transition.
        """
        if new_state == "Aborted":
            if job.state in {"JobComplete", "Failed", "Aborted"}:
                raise _job_error("INVALIDJOBSTATE", f"Job is already in state {job.state}", 409)
            if job.task is not None and not job.task.done():
                job.task.cancel()
            self._touch(job, "Aborted")
            return job
        if new_state == "UploadComplete" and job.kind == "ingest":
            if job.state != "Open":
                raise _job_error("INVALIDJOBSTATE", f"Job is in state {job.state}, not Open", 409)
            self._touch(job, "UploadComplete")
            job.task = asyncio.get_running_loop().create_task(self._run_ingest(job))
            return job
        raise _job_error("INVALIDJOBSTATE", f"Invalid state transition to {new_state}", 400)

    def _rows(self, job: Job) -> tuple[list[str], list[list[str]]]:
        delimiter = DELIMITERS[job.column_delimiter]
        header: list[str] = []
        rows: list[list[str]] = []
        for chunk in job.chunks:
            reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=delimiter)
            chunk_rows = [r for r in reader if r]
            if not chunk_rows:
                continue
            if not header:
                header = [h.strip() for h in chunk_rows[0]]
            rows.extend(chunk_rows[1:])
        return header, rows

    async def _run_ingest(self, job: Job) -> None:
        await asyncio.sleep(0)  # let the PATCH response go out first
        started = time.perf_counter()
        self._touch(job, "InProgress")
        header, rows = self._rows(job)
        job.header = header
        org = self.state.org
        obj = org.schema.objects[job.object]
        problem = self._check_header(job, header)
        if problem:
            job.error_message = problem
            job.unprocessed = rows
            self._touch(job, "Failed")
            return
        n_batches = max(1, -(-len(rows) // RECORDS_PER_BATCH))
        self._batches.append((org.now().timestamp(), n_batches))
        try:
            for start in range(0, len(rows), ROWS_PER_TURN):
                for row in rows[start : start + ROWS_PER_TURN]:
                    self._ingest_row(job, obj.name, header, row)
                    job.processed += 1
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            job.unprocessed = rows[job.processed :]
            raise
        job.processing_ms = int((time.perf_counter() - started) * 1000)
        self._touch(job, "JobComplete")

    def _check_header(self, job: Job, header: list[str]) -> str | None:
        obj = self.state.org.schema.objects[job.object]
        if not header:
            return "InvalidBatch : Empty CSV file"
        if job.operation in {"delete", "hardDelete"} and [h.lower() for h in header] != ["id"]:
            return "InvalidBatch : The 'delete' batch must contain only 'Id'"
        if job.operation == "update" and "id" not in [h.lower() for h in header]:
            return "InvalidBatch : Field name not found : Id"
        for name in header:
            if "." in name:
                rel, _, _ = name.partition(".")
                if obj.relationship(rel) is None:
                    return f"InvalidBatch : Field name not found : {name}"
            elif obj.field(name) is None:
                return f"InvalidBatch : Field name not found : {name}"
        return None

    def _ingest_row(self, job: Job, type_name: str, header: list[str], row: list[str]) -> None:
        org = self.state.org
        body: dict[str, Any] = {}
        record_id = ""
        for name, raw in zip(header, row, strict=False):
            if name.lower() == "id":
                record_id = raw
                continue
            if raw == "":
                continue
            value: Any = None if raw == "#N/A" else raw
            if "." in name:
                rel, _, ext_field = name.partition(".")
                body[rel] = {ext_field: value}
            else:
                body[name] = value
        ctx = job.ctx
        try:
            created = False
            if job.operation == "insert":
                rid = org.create(ctx, type_name, body)
                created = True
            elif job.operation == "update":
                org.update(ctx, type_name, record_id, body)
                rid = record_id
            elif job.operation == "upsert":
                ext = job.external_id_field or "Id"
                key = body.pop(ext, None) if ext.lower() != "id" else record_id
                if not key:
                    raise ApiError.single(
                        400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{ext}]", [ext]
                    )
                rid, created = org.upsert(ctx, type_name, ext, str(key), body)
            else:
                org.delete(ctx, type_name, record_id)
                rid = ids.normalize(record_id) or record_id
                if job.operation == "hardDelete":
                    org.store.remove(type_name, rid)
            job.successful.append([rid, "true" if created else "false", *row])
        except ApiError as err:
            job.failed.append([ids.normalize(record_id) or "", err.errors[0].bulk(), *row])

    def results(self, job: Job, which: str) -> str:
        """CSV of ``successfulResults``, ``failedResults`` or ``unprocessedrecords``."""
        line_end = LINE_ENDINGS[job.line_ending]
        delimiter = DELIMITERS[job.column_delimiter]
        header = job.header or (self._rows(job)[0] if job.chunks else [])
        if which == "successful":
            return _csv(["sf__Id", "sf__Created", *header], job.successful, line_end, delimiter)
        if which == "failed":
            return _csv(["sf__Id", "sf__Error", *header], job.failed, line_end, delimiter)
        rows = job.unprocessed
        if job.state == "Aborted" and not job.processed and not rows and job.chunks:
            rows = self._rows(job)[1]
        return _csv(header, rows, line_end, delimiter) if header else ""

    # -- query ----------------------------------------------------------------------------------

    def create_query(self, ctx: CallContext, body: Any) -> Job:
        """``POST /jobs/query``: validates the query and starts it in the background.

        Raises:
            ApiError: invalid operation or query.
        """
        if not isinstance(body, dict):
            raise _job_error("INVALIDJOB", "Invalid job definition")
        operation = str(body.get("operation") or "")
        if operation not in {"query", "queryAll"}:
            raise _job_error("INVALIDJOB", f"Invalid operation: {operation or 'null'}")
        text = str(body.get("query") or "")
        plan = bind(self.state.org, text, operation == "queryAll")
        self._check_bulk_query(plan)
        job = self._new("query", operation, plan.obj.name, ctx, body)
        job.query = text
        job.task = asyncio.get_running_loop().create_task(self._run_query(job, plan))
        return job

    def _check_bulk_query(self, plan: Plan) -> None:
        q: Query = plan.query
        unsupported = None
        if plan.is_aggregate or plan.is_count:
            unsupported = "Aggregate queries"
        elif q.group_by:
            unsupported = "GROUP BY"
        elif q.offset is not None:
            unsupported = "OFFSET"
        elif any(isinstance(s.expr, Query) for s in q.select):
            unsupported = "Parent-to-child relationship queries"
        elif any(isinstance(s.expr, FuncCall) for s in q.select):
            unsupported = "Functions in the SELECT list"
        elif any(
            plan.binder.path(s.expr).field.type == "address" for s in q.select if isinstance(s.expr, FieldRef)
        ):
            unsupported = "Compound address fields"
        if unsupported:
            raise _job_error("API_ERROR", f"{unsupported} are not supported by Bulk API 2.0 query")

    async def _run_query(self, job: Job, plan: Plan) -> None:
        await asyncio.sleep(0)
        started = time.perf_counter()
        self._touch(job, "InProgress")
        rows = plan.rows()
        job.result_header = [h for h, _ in plan.columns]
        getters = [g for _, g in plan.columns]
        for start in range(0, len(rows), 2000):
            job.result_rows.extend([[g(r) for g in getters] for r in rows[start : start + 2000]])
            await asyncio.sleep(0)
        job.processed = len(job.result_rows)
        job.processing_ms = int((time.perf_counter() - started) * 1000)
        self._touch(job, "JobComplete")

    def query_page(self, job: Job, locator: str | None, max_records: int | None) -> tuple[str, str, int]:
        """A page of query results: ``(csv, next locator or "null", rows in page)``.

        Raises:
            ApiError: the job is not complete, or the locator is invalid.
        """
        if job.state != "JobComplete":
            raise _job_error("INVALIDJOBSTATE", f"Job is not complete (state {job.state})", 400)
        offset = 0
        if locator:
            try:
                offset = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
            except (ValueError, UnicodeDecodeError):
                raise _job_error("INVALIDLOCATOR", f"Invalid locator: {locator}") from None
        size = max_records if max_records and max_records > 0 else len(job.result_rows) or 1
        page = job.result_rows[offset : offset + size]
        end = offset + len(page)
        nxt = (
            "null"
            if end >= len(job.result_rows)
            else base64.b64encode(str(end).encode()).decode().rstrip("=")
        )
        text = _csv(job.result_header, page, LINE_ENDINGS[job.line_ending], DELIMITERS[job.column_delimiter])
        return text, nxt, len(page)

    def delete(self, job: Job) -> None:
        """``DELETE /jobs/{kind}/{id}`` (only once the job has finished).

        Raises:
            ApiError: the job is still running.
        """
        if job.state in {"UploadComplete", "InProgress"}:
            raise _job_error("INVALIDJOBSTATE", "Job is still in progress", 400)
        if job.task is not None and not job.task.done():
            job.task.cancel()
        del self.jobs[job.id]


# -- HTTP handlers ------------------------------------------------------------------------------


def _jobs(request: Request) -> BulkJobs:
    state: SandboxState = request.scope["sf.state"]
    return state.bulk


def _ctx(request: Request) -> CallContext:
    base: CallContext = request.scope["sf.ctx"]
    return CallContext(
        base.user_id, base.version, base.client, "bulkapi", base.allow_save, base.include_record_details
    )


async def _one_job(request: Request, kind: str) -> Response:
    """``GET`` (info), ``PATCH`` (state change) or ``DELETE`` one job of ``kind``."""
    jobs = _jobs(request)
    job = jobs.get(request.path_params["job_id"], kind)
    if request.method == "PATCH":
        body = await json_body(request)
        jobs.change_state(job, str((body or {}).get("state") or ""))
        return json_response(request, job.info(full=False))
    if request.method == "DELETE":
        jobs.delete(job)
        return empty_response(204)
    return json_response(request, job.info())


@endpoint
async def ingest_root(request: Request) -> Response:
    """``POST /jobs/ingest`` (create) and ``GET /jobs/ingest`` (list)."""
    jobs = _jobs(request)
    if request.method == "POST":
        job = jobs.create_ingest(_ctx(request), await json_body(request))
        return json_response(request, job.info(full=False))
    records = [j.info() for j in jobs.jobs.values() if j.kind == "ingest"]
    return json_response(request, {"done": True, "records": records, "nextRecordsUrl": None})


@endpoint
async def ingest_job(request: Request) -> Response:
    """``GET|PATCH|DELETE /jobs/ingest/{id}``."""
    return await _one_job(request, "ingest")


@endpoint
async def ingest_batches(request: Request) -> Response:
    """``PUT /jobs/ingest/{id}/batches``: upload CSV (201, no body)."""
    jobs = _jobs(request)
    job = jobs.get(request.path_params["job_id"], "ingest")
    jobs.upload(job, await read_body(request))
    return empty_response(201)


@endpoint
async def ingest_results(request: Request) -> Response:
    """``GET /jobs/ingest/{id}/successfulResults|failedResults|unprocessedrecords``."""
    jobs = _jobs(request)
    job = jobs.get(request.path_params["job_id"], "ingest")
    kind = request.path_params["kind"].lower()
    which = {
        "successfulresults": "successful",
        "failedresults": "failed",
        "unprocessedrecords": "unprocessed",
    }.get(kind)
    if which is None:
        raise not_found()
    return Response(jobs.results(job, which), media_type=CSV_TYPE)


@endpoint
async def query_root(request: Request) -> Response:
    """``POST /jobs/query`` (create) and ``GET /jobs/query`` (list)."""
    jobs = _jobs(request)
    if request.method == "POST":
        job = jobs.create_query(_ctx(request), await json_body(request))
        return json_response(request, job.info(full=False))
    records = [j.info() for j in jobs.jobs.values() if j.kind == "query"]
    return json_response(request, {"done": True, "records": records, "nextRecordsUrl": None})


@endpoint
async def query_job(request: Request) -> Response:
    """``GET|PATCH|DELETE /jobs/query/{id}``."""
    return await _one_job(request, "query")


@endpoint
async def query_results(request: Request) -> Response:
    """``GET /jobs/query/{id}/results?locator=&maxRecords=``."""
    jobs = _jobs(request)
    job = jobs.get(request.path_params["job_id"], "query")
    if job.api_version != _ctx(request).version:
        raise _job_error(
            "INVALIDVERSION", "Results must be requested with the API version that created the job", 409
        )
    raw_max = request.query_params.get("maxRecords")
    try:
        max_records = int(raw_max) if raw_max else None
    except ValueError:
        raise _job_error("INVALIDPARAMETER", f"Invalid maxRecords: {raw_max}") from None
    text, locator, n = jobs.query_page(job, request.query_params.get("locator"), max_records)
    return Response(
        text, media_type=CSV_TYPE, headers={"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(n)}
    )

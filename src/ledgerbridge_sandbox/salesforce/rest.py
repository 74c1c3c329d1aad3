"""REST resources of the Salesforce sandbox: versions, limits, describe, sObject rows, SOQL.

HTTP layer; imports Starlette, the state and the domain modules. One handler per resource of
reference §2-§4; each returns Salesforce's shapes and status codes (201 create, 204
update/delete, 200/201/300 upsert, array error bodies).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime as format_datetime_http
from email.utils import parsedate_to_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ledgerbridge_sandbox.salesforce import ids
from ledgerbridge_sandbox.salesforce.errors import ApiError, MultipleChoices, not_found
from ledgerbridge_sandbox.salesforce.org import CallContext
from ledgerbridge_sandbox.salesforce.responses import (
    dumps,
    empty_response,
    endpoint,
    json_body,
    json_response,
)
from ledgerbridge_sandbox.salesforce.soql.service import batch_size_from_header
from ledgerbridge_sandbox.salesforce.state import SandboxState
from ledgerbridge_sandbox.salesforce.values import parse_datetime

_SEASONS = ("Winter", "Spring", "Summer")


def state_of(request: Request) -> SandboxState:
    """The sandbox state serving this request."""
    state: SandboxState = request.scope["sf.state"]
    return state


def ctx_of(request: Request) -> CallContext:
    """The call context (user, version, client) the gateway attached."""
    ctx: CallContext = request.scope["sf.ctx"]
    return ctx


def release_label(version: str) -> str:
    """The release name of an API version (v20.0 = Winter '11, three releases a year)."""
    n = int(float(version)) - 20
    return f"{_SEASONS[n % 3]} '{11 + n // 3:02d}"


def _version(request: Request) -> str:
    return str(request.path_params["version"])


@endpoint
async def versions(request: Request) -> Response:
    """``GET /services/data/``: the versions served (no auth, not counted)."""
    state = state_of(request)
    return json_response(
        request,
        [
            {"label": release_label(v), "url": f"/services/data/v{v}", "version": v}
            for v in state.config.api_versions
        ],
    )


@endpoint
async def resources(request: Request) -> Response:
    """``GET /services/data/vNN.0/``: resource name to path."""
    base = f"/services/data/v{_version(request)}"
    names = [
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "jobs",
        "limits",
        "sobjects",
        "queryAll",
        "query",
        "composite",
        "search",
        "recent",
        "serviceTemplates",
        "analytics",
        "identity",
    ]
    out = {name: f"{base}/{name}" for name in sorted(names)}
    out["jobs"] = f"{base}/jobs"
    out["identity"] = f"{request.base_url}id/{state_of(request).org_id}/{ctx_of(request).user_id}"
    return json_response(request, out)


@endpoint
async def limits(request: Request) -> Response:
    """``GET /limits``: org limits; ``DailyApiRequests`` reflects the real counter."""
    state = state_of(request)
    usage = state.org.usage
    api = {"Max": usage.allocation, "Remaining": usage.remaining}
    fixed = {
        "ConcurrentAsyncGetReportInstances": 200,
        "ConcurrentSyncReportRuns": 20,
        "DailyAsyncApexExecutions": 250000,
        "DailyBulkApiBatches": 15000,
        "DailyBulkV2QueryFileStorageMB": 976562,
        "DailyBulkV2QueryJobs": 10000,
        "DailyDurableStreamingApiEvents": 1000000,
        "DailyGenericStreamingApiEvents": 10000,
        "DailyStreamingApiEvents": 1000000,
        "DailyWorkflowEmails": 1000000,
        "DataStorageMB": 1024,
        "DurableStreamingApiConcurrentClients": 2000,
        "FileStorageMB": 10240,
        "HourlyAsyncReportRuns": 1200,
        "HourlyDashboardRefreshes": 200,
        "HourlyODataCallout": 20000,
        "HourlySyncReportRuns": 500,
        "MassEmail": 5000,
        "SingleEmail": 5000,
        "StreamingApiConcurrentClients": 2000,
    }
    out: dict[str, Any] = {name: {"Max": n, "Remaining": n} for name, n in fixed.items()}
    out["DailyApiRequests"] = api
    out["DailyBulkApiBatches"]["Remaining"] = max(0, 15000 - state.bulk.batches_today())
    return json_response(request, dict(sorted(out.items())))


@endpoint
async def record_count(request: Request) -> Response:
    """``GET /limits/recordCount?sObjects=A,B``: counts of live records (empty types omitted)."""
    org = state_of(request).org
    names = [n for n in (request.query_params.get("sObjects") or "").split(",") if n.strip()]
    if not names:
        names = list(org.schema.objects)
    out = []
    for name in names:
        obj = org.schema.get(name.strip())
        if obj is None:
            continue
        n = org.store.count(obj.name)
        if n:
            out.append({"count": n, "name": obj.name})
    return json_response(request, {"sObjects": out})


def _cached_describe(request: Request, data: Any) -> Response:
    """A describe result with ``ETag``/``Last-Modified``; 304 when ``If-Modified-Since`` or
    ``If-None-Match`` shows the client's copy is current (reference §3.1)."""
    state = state_of(request)
    etag = '"' + hashlib.sha1(dumps(data)).hexdigest()[:8] + '"'
    stamp = state.schema_loaded.replace(microsecond=0)
    headers = {"ETag": etag, "Last-Modified": format_datetime_http(stamp, usegmt=True)}
    if request.headers.get("if-none-match") == etag:
        return empty_response(304, headers)
    since = request.headers.get("if-modified-since")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None and stamp <= when:
            return empty_response(304, headers)
    return json_response(request, data, headers=headers)


@endpoint
async def describe_global(request: Request) -> Response:
    """``GET /sobjects``: describeGlobal."""
    return _cached_describe(request, state_of(request).org.schema.describe_global(_version(request)))


@endpoint
async def sobject_root(request: Request) -> Response:
    """``GET /sobjects/{Type}``: basic info; ``POST``: create a record."""
    state = state_of(request)
    org = state.org
    obj = org.object(request.path_params["sobject"])
    version = _version(request)
    if request.method == "POST":
        body = await json_body(request)
        rid = org.create(ctx_of(request), obj.name, body)
        return json_response(
            request,
            {"id": rid, "success": True, "errors": []},
            201,
            headers={"Location": org.url(obj.name, rid, version)},
        )
    recent = [
        {
            "attributes": {"type": obj.name, "url": org.url(obj.name, r["Id"], version)},
            "Id": r["Id"],
            **({"Name": r.get("Name")} if "Name" in obj.fields else {}),
        }
        for r in list(org.live(obj.name))[-5:]
    ]
    return json_response(request, {"objectDescribe": obj.global_entry(version), "recentItems": recent})


@endpoint
async def describe(request: Request) -> Response:
    """``GET /sobjects/{Type}/describe``."""
    obj = state_of(request).org.object(request.path_params["sobject"])
    return _cached_describe(request, obj.describe(_version(request)))


@endpoint
async def updated(request: Request) -> Response:
    """``GET /sobjects/{Type}/updated?start=&end=`` (getUpdated)."""
    q = request.query_params
    return json_response(
        request, state_of(request).org.updated(request.path_params["sobject"], q.get("start"), q.get("end"))
    )


@endpoint
async def deleted(request: Request) -> Response:
    """``GET /sobjects/{Type}/deleted?start=&end=`` (getDeleted)."""
    q = request.query_params
    return json_response(
        request, state_of(request).org.deleted(request.path_params["sobject"], q.get("start"), q.get("end"))
    )


def _fields_param(request: Request) -> list[str] | None:
    raw = request.query_params.get("fields")
    return [f for f in raw.split(",") if f.strip()] if raw else None


@endpoint
async def record(request: Request) -> Response:
    """``GET|PATCH|DELETE /sobjects/{Type}/{id}``, with conditional request headers.

    GET answers with ``ETag`` and ``Last-Modified`` and honours ``If-None-Match`` /
    ``If-Modified-Since`` (304); PATCH and DELETE honour ``If-Match`` / ``If-Unmodified-Since``
    (412 PRECONDITION_FAILED when the record changed meanwhile).
    """
    state = state_of(request)
    org = state.org
    type_name = request.path_params["sobject"]
    rid = request.path_params["record_id"]
    if request.method == "GET":
        body = org.retrieve(type_name, rid, _version(request), _fields_param(request))
        stored = org.store.get(org.object(type_name).name, ids.normalize(rid) or rid) or {}
        etag, modified = _record_validators(stored)
        headers = {"ETag": etag, "Last-Modified": format_datetime_http(modified, usegmt=True)}
        if request.headers.get("if-none-match") == etag:
            return empty_response(304, headers)
        since = _http_date(request.headers.get("if-modified-since"))
        if since is not None and modified <= since:
            return empty_response(304, headers)
        return json_response(request, body, headers=headers)
    _check_preconditions(request, rid, type_name)
    if request.method == "PATCH":
        body = await json_body(request)
        org.update(ctx_of(request), type_name, rid, body)
        return empty_response(204)
    org.delete(ctx_of(request), type_name, rid)
    return empty_response(204)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else None


def _record_validators(rec: dict[str, Any]) -> tuple[str, datetime]:
    stamp = str(rec.get("SystemModstamp", ""))
    etag = '"' + hashlib.sha1(f"{rec.get('Id')}{stamp}".encode()).hexdigest()[:16] + '"'
    modified = parse_datetime(str(rec.get("LastModifiedDate", ""))) or datetime(1970, 1, 1, tzinfo=UTC)
    return etag, modified.replace(microsecond=0)


def _check_preconditions(request: Request, record_id: str, type_name: str) -> None:
    if_match = request.headers.get("if-match")
    unmodified = _http_date(request.headers.get("if-unmodified-since"))
    if if_match is None and unmodified is None:
        return
    org = state_of(request).org
    canonical = ids.normalize(record_id)
    rec = org.get_live(org.object(type_name).name, canonical) if canonical else None
    if rec is None:
        return  # the operation itself reports NOT_FOUND / ENTITY_IS_DELETED
    etag, modified = _record_validators(rec)
    if (if_match is not None and if_match not in (etag, "*")) or (
        unmodified is not None and modified > unmodified
    ):
        # Error text from memory; the status (412) is documented (reference §7.1).
        raise ApiError.single(
            412,
            "PRECONDITION_FAILED",
            "The requested resource has been modified since "
            "the conditions in the request headers were evaluated",
        )


@endpoint
async def external(request: Request) -> Response:
    """``GET|PATCH|DELETE /sobjects/{Type}/{ExtField}/{value}``: by external id; PATCH upserts."""
    org = state_of(request).org
    ctx = ctx_of(request)
    type_name, field_name = request.path_params["sobject"], request.path_params["field"]
    value = request.path_params["value"]
    version = _version(request)
    if request.method == "PATCH":
        body = await json_body(request)
        rid, created = org.upsert(ctx, type_name, field_name, value, body)
        out = {"id": rid, "success": True, "errors": [], "created": created}
        headers = {"Location": org.url(org.object(type_name).name, rid, version)} if created else None
        return json_response(request, out, 201 if created else 200, headers=headers)
    obj, matches = org.find_by_external(type_name, field_name, value)
    if len(matches) > 1:
        raise MultipleChoices([org.url(obj.name, m, version) for m in matches])
    if not matches:
        raise not_found()
    if request.method == "GET":
        return json_response(request, org.retrieve(obj.name, matches[0], version, _fields_param(request)))
    if request.method == "DELETE":
        org.delete(ctx, obj.name, matches[0])
        return empty_response(204)
    raise ApiError.single(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. Allowed are GET,PATCH,DELETE"
    )


async def _run_query(request: Request, include_deleted: bool) -> Response:
    state = state_of(request)
    text = request.query_params.get("q")
    version = _version(request)
    if text is None:
        raise ApiError.single(400, "MALFORMED_QUERY", "A query string has to be specified")
    batch = batch_size_from_header(request.headers.get("sforce-query-options"))
    result = state.queries.query(text, include_deleted=include_deleted, version=version, batch_size=batch)
    return json_response(request, result)


@endpoint
async def query(request: Request) -> Response:
    """``GET /query?q=``."""
    return await _run_query(request, False)


@endpoint
async def query_all(request: Request) -> Response:
    """``GET /queryAll?q=`` (deleted rows included)."""
    return await _run_query(request, True)


@endpoint
async def query_more(request: Request) -> Response:
    """``GET /query/{locator}-{offset}``: a later page (``nextRecordsUrl``)."""
    raw = request.path_params["locator"]
    locator, _, offset = raw.rpartition("-")
    if not locator or not offset.isdigit():
        raise ApiError.single(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return json_response(request, state_of(request).queries.more(locator, int(offset), _version(request)))

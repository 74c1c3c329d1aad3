"""The Starlette application: SuiteTalk REST routes, governance, faults and the admin API.

Layer: HTTP; imports every other module of the package. ``create_app(config)`` is the entry point;
the app works in-process with ``httpx2.ASGITransport`` and on a socket under uvicorn.

Routes (all under ``/services/rest``, as on ``{account}.suitetalk.api.netsuite.com``):

- ``record/v1/{type}`` GET (list, ``q``, paging; batch read with ``expandRecords=true&ids=``),
  POST (create; batch create with ``type=collection``), PATCH/PUT (batch), DELETE (``ids=`` batch);
- ``record/v1/{type}/{id}`` GET, PATCH, PUT (``eid:`` upsert), DELETE;
- ``record/v1/{type}/{id}/!transform/{toType}`` POST;
- ``record/v1/{type}/{id}/!attach|!detach/{otherType}/{otherId}`` POST (customer <-> contact);
- ``record/v1/{type}/{id}/{sublist}[/{line}[/{sub}]]`` GET;
- ``record/v1/metadata-catalog[/{type}]`` GET;
- ``query/v1/suiteql`` POST (``Prefer: transient``);
- ``async/v1/job/{id}[/task[/{taskId}[/result]]]`` GET;
- ``auth/oauth2/v1/token`` POST; ``system/v1/governanceLimits`` GET.

Governance wraps every ``/services/rest`` request (token requests included): one pool per account,
``concurrency_limit`` slots counted over requests in flight (including the latency, which is the whole
server-side time of a call, processing included); one more answers 429 CONCURRENCY_LIMIT_EXCEEDED at once.
Admin routes live under ``/__sandbox__`` and are neither authenticated nor governed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ledgerbridge_sandbox.netsuite.auth import (
    TOKEN_PATH,
    OAuth2Error,
    OAuth2Server,
    Principal,
    TBAVerifier,
    ensure_m2m_key,
)
from ledgerbridge_sandbox.netsuite.clock import ManualClock
from ledgerbridge_sandbox.netsuite.config import NetSuiteSandboxConfig
from ledgerbridge_sandbox.netsuite.errors import (
    ERROR_MEDIA_TYPE,
    AuthFailure,
    NetSuiteError,
    QueryError,
    concurrency_exceeded,
)
from ledgerbridge_sandbox.netsuite.jobs import Job, JobStore, TaskResult
from ledgerbridge_sandbox.netsuite.metadata import catalog, json_schema, openapi, openapi_many
from ledgerbridge_sandbox.netsuite.push import install_push
from ledgerbridge_sandbox.netsuite.records import RecordService, WriteOptions, collection_page, page_params
from ledgerbridge_sandbox.netsuite.schema import build_schema
from ledgerbridge_sandbox.netsuite.seed import seed_account
from ledgerbridge_sandbox.netsuite.store import Store
from ledgerbridge_sandbox.netsuite.suiteql import SuiteQLEngine
from ledgerbridge_sandbox.netsuite.tables import build_tables
from ledgerbridge_sandbox.netsuite.wire import format_datetime, parse_datetime

_LOG = logging.getLogger("ledgerbridge_sandbox.netsuite")
SINGULAR = "application/vnd.oracle.resource+json; type=singular"
COLLECTION = "application/vnd.oracle.resource+json; type=collection"
BATCH_LIMIT = 100
"""Most records in one batch request (reference §3.10)."""


class NSJSONResponse(JSONResponse):
    """JSON with NetSuite's media types and compact separators."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(err: NetSuiteError, *, debug_reason: str | None = None) -> Response:
    """A NetSuite error answer."""
    headers = dict(err.headers)
    if debug_reason:
        headers["X-Sandbox-Auth-Reason"] = debug_reason
    return NSJSONResponse(err.body(), status_code=err.status, headers=headers, media_type=ERROR_MEDIA_TYPE)


@dataclass
class RequestLog:
    """Counts of REST requests by method, route template and status."""

    counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    rejected: int = 0
    by_integration: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        """The log as JSON."""
        rows = [
            {"method": m, "route": r, "status": s, "count": c} for (m, r, s), c in sorted(self.counts.items())
        ]
        return {
            "total": sum(self.counts.values()),
            "counts": rows,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "rejected": self.rejected,
        }

    def clear(self) -> None:
        """Zero the counters (in-flight requests keep counting)."""
        self.counts.clear()
        self.rejected = 0
        self.max_in_flight = self.in_flight


class Sandbox:
    """Everything one running sandbox account holds."""

    def __init__(
        self,
        config: NetSuiteSandboxConfig,
        *,
        seed: str = "empty",
        scale: int | None = None,
        reset: bool = False,
    ) -> None:
        """Open the account's state (and seed it when it is new).

        Args:
            config: settings.
            seed: ``empty`` or ``demo``: data to create when the database has none.
            scale: demo size (customers drawn from the shared company).
            reset: reseed even when the database already holds an account.
        """
        self.config = config
        self.seed_name = seed
        self.scale = scale
        self.m2m_key = None
        if config.key_dir is not None:
            self.m2m_key = ensure_m2m_key(config.key_dir)
            config.oauth2_certificates.setdefault(
                config.oauth2_certificate_id, self.m2m_key.certificate_pem()
            )
        self.schema = build_schema(config.custom_fields_file)
        self.tables = build_tables(self.schema)
        self.store = Store(config.data_path, self.tables)
        self.records = RecordService(config, self.schema, self.store, self.tables)
        self.suiteql = SuiteQLEngine(
            self.store.conn,
            self.tables,
            lock=self.store.lock,
            now=config.clock.now,
            tz=lambda: self.records.tz,
            date_format=lambda: self.config.date_format,
        )
        self.tba = TBAVerifier(config)
        self.oauth2 = OAuth2Server(config)
        self.jobs = JobStore(config.clock, lambda: self.config.async_job_delay_s)
        self.log = RequestLog()
        self.rng = random.Random(config.rng_seed)
        self.rng_lock = threading.Lock()
        self.integration_in_flight: Counter[str] = Counter()
        if reset or self.store.get_meta("seeded") is None:
            self.reseed(seed, scale)
        else:
            self.records.refresh_aging(force=True)

    def reseed(self, seed: str, scale: int | None = None) -> dict[str, int]:
        """Wipe the account and load a seed.

        Returns:
            Record counts per type.
        """
        with self.store.lock:
            self.store.wipe()
            self.jobs.clear()
            self.records.invalidate_price_levels()
            self.store.drop_indexes()
            try:
                counts = seed_account(self.records, seed, scale=scale)
            finally:
                self.store.create_indexes()
            self.store.set_meta("seeded", seed)
            self.records.mark_aged()
        return counts

    def random(self) -> float:
        """Next value of the seeded fault RNG."""
        with self.rng_lock:
            return self.rng.random()

    def uniform(self, lo: float, hi: float) -> float:
        """A value of the seeded RNG in a range."""
        with self.rng_lock:
            return self.rng.uniform(lo, hi) if hi > lo else lo


# --- governance middleware -----------------------------------------------------------------------


class Governance:
    """Concurrency pool, latency, and the request log, around the whole request (pure ASGI)."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox, routes: list[Route]) -> None:
        self.app = app
        self.sandbox = sandbox
        self.routes = routes

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return route.path
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/services/rest/"):
            await self.app(scope, receive, send)
            return
        sb = self.sandbox
        cfg = sb.config
        log = sb.log
        template = self._template(scope)
        integration = _integration_of(scope) if cfg.integration_concurrency_limit else ""
        status_box = [500]
        # The configured latency is the whole time a call takes on the server, processing included
        # (what a client measures of a real service); the response is held until it has passed.
        # A rejection (429) answers at once; an admitted call sets ``target`` below.
        target = [0.0]
        started = time.monotonic()

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
                remaining = target[0] - (time.monotonic() - started)
                if remaining > 0:
                    await asyncio.sleep(remaining)
            await send(message)

        over_integration = (
            bool(integration)
            and cfg.integration_concurrency_limit is not None
            and (sb.integration_in_flight[integration] >= cfg.integration_concurrency_limit)
        )
        if log.in_flight + cfg.occupied_slots >= cfg.concurrency_limit or over_integration:
            log.rejected += 1
            log.counts[(scope["method"], template, 429)] += 1
            await error_response(concurrency_exceeded())(scope, receive, send_wrapper)
            return
        log.in_flight += 1
        if integration:
            sb.integration_in_flight[integration] += 1
        log.max_in_flight = max(log.max_in_flight, log.in_flight + cfg.occupied_slots)
        lo, hi = (
            cfg.latency_read_ms
            if scope["method"] == "GET" or "/query/" in scope["path"]
            else cfg.latency_write_ms
        )
        if hi > 0:
            target[0] = sb.uniform(lo, hi) / 1000.0
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            log.in_flight -= 1
            if integration:
                sb.integration_in_flight[integration] -= 1
            log.counts[(scope["method"], template, status_box[0])] += 1


def _integration_of(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            text = value.decode("latin-1")
            if text.lower().startswith("oauth"):
                for part in text.split(","):
                    if "oauth_consumer_key" in part:
                        return str(part.split("=", 1)[1].strip().strip('"'))
            return "bearer"
    return ""


# --- request helpers -----------------------------------------------------------------------------


def _base(request: Request, config: NetSuiteSandboxConfig) -> str:
    if config.base_url:
        return config.base_url.rstrip("/") + "/services/rest"
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}/services/rest"


def _request_urls(request: Request, config: NetSuiteSandboxConfig) -> list[str]:
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    query = request.url.query
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    urls = [f"{request.url.scheme}://{host}{path}" + (f"?{query}" if query else "")]
    if config.base_url:
        urls.append(config.base_url.rstrip("/") + path + (f"?{query}" if query else ""))
    return urls


def _flag(request: Request, name: str) -> bool:
    for key, value in request.query_params.items():
        if key.lower() == name.lower():
            return value.lower() == "true"
    return False


def _param(request: Request, name: str) -> str | None:
    for key, value in request.query_params.items():
        if key.lower() == name.lower():
            return value
    return None


def _int_param(request: Request, name: str) -> int | None:
    raw = _param(request, name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise NetSuiteError(
            400, "INVALID_PARAMETER", f"Invalid value for the {name} parameter: {raw}.", query_param=name
        ) from None


def _prefer(request: Request) -> set[str]:
    values: set[str] = set()
    for raw in request.headers.getlist("prefer"):
        for part in raw.split(","):
            values.add(part.strip().lower())
    return values


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise NetSuiteError(
            400, "INVALID_CONTENT", "Error while accessing resource: The request body is not valid JSON."
        ) from None


def _write_options(request: Request, *, context: str = "restWebServices") -> WriteOptions:
    replace = _param(request, "replace") or ""
    return WriteOptions(
        replace=frozenset(r.strip() for r in replace.split(",") if r.strip()),
        replace_selected=_flag(request, "replaceSelectedFields"),
        name_validation=request.headers.get("x-netsuite-propertynamevalidation", "warning"),
        value_validation=request.headers.get("x-netsuite-propertyvaluevalidation", "error"),
        context=context,
    )


Handler = Callable[[Request, Sandbox, Principal | None], Awaitable[Response]]


def api(
    sandbox: Sandbox, handler: Handler, *, write: bool = False, authenticate: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a REST handler: authentication, injected faults, NetSuite error answers."""

    async def endpoint(request: Request) -> Response:
        cfg = sandbox.config
        principal: Principal | None = None
        try:
            if authenticate:
                principal = await _authenticate(request, sandbox)
                if cfg.invalid_login_rate > 0 and sandbox.random() < cfg.invalid_login_rate:
                    raise AuthFailure("SimulatedUnderLoad")
            sandbox.records.refresh_aging()
            is_write = write and request.method in {"POST", "PATCH", "PUT", "DELETE"}
            if cfg.error_rate > 0 and sandbox.random() < cfg.error_rate:
                if is_write and cfg.error_after_write:
                    await handler(request, sandbox, principal)
                raise _unexpected(sandbox)
            if is_write and cfg.record_changed_rate > 0 and sandbox.random() < cfg.record_changed_rate:
                raise NetSuiteError(
                    400, "RCRD_HAS_BEEN_CHANGED", "Error while accessing a resource. Record has been changed."
                )
            response = await handler(request, sandbox, principal)
            if sandbox.records.warnings:
                response.headers["X-NetSuite-Warning"] = "; ".join(sandbox.records.warnings)[:500]
                sandbox.records.warnings = []
            return response
        except AuthFailure as failure:
            return error_response(failure, debug_reason=failure.reason if cfg.debug_auth_header else None)
        except NetSuiteError as err:
            return error_response(err)
        except Exception:  # never a traceback on the wire: NetSuite's 500 shape
            _LOG.exception("sandbox handler failed: %s %s", request.method, request.url.path)
            return error_response(_unexpected(sandbox))

    return endpoint


def _unexpected(sandbox: Sandbox) -> NetSuiteError:
    letters = "abcdefghijklmnopqrstuvwxyz"
    with sandbox.rng_lock:
        ident = "".join(sandbox.rng.choice(letters) for _ in range(20))
    return NetSuiteError(500, "UNEXPECTED_ERROR", f"An unexpected error occurred. Error ID: {ident}")


async def _authenticate(request: Request, sandbox: Sandbox) -> Principal:
    host = (request.headers.get("host") or "").split(":", 1)[0].lower()
    if host.endswith(".api.netsuite.com") and host.split(".", 1)[0] != sandbox.config.host_slug:
        raise AuthFailure("WrongAccountHost")
    header = request.headers.get("authorization")
    if not header:
        raise AuthFailure("MissingAuthorization")
    if header.lower().startswith("bearer "):
        return sandbox.oauth2.verify(header[7:].strip())
    extra: list[tuple[str, str]] = []
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        extra = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return sandbox.tba.verify(request.method, _request_urls(request, sandbox.config), header, extra)


def _location(base: str, path_type: str, rid: int) -> dict[str, str]:
    return {"Location": f"{base}/record/v1/{path_type}/{rid}"}


def _no_content(headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=204, headers=headers or {}, media_type=None)


# --- record handlers -----------------------------------------------------------------------------


async def _collection(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    path_type = request.path_params["rtype"]
    rtype = sb.records.record_type(path_type)
    base = _base(request, sb.config)
    method = request.method
    is_batch_body = "type=collection" in request.headers.get("content-type", "").replace(" ", "").lower()
    prefer = _prefer(request)
    if method == "GET":
        if _flag(request, "expandRecords") or _param(request, "ids") is not None:
            return _batch_get(request, sb, rtype, path_type, base, prefer)
        page = sb.records.collection(
            rtype,
            q=_param(request, "q"),
            limit=_int_param(request, "limit"),
            offset=_int_param(request, "offset"),
            base=base,
            path_type=path_type,
        )
        return NSJSONResponse(page, media_type=COLLECTION)
    if method == "DELETE":
        return _batch_delete(request, sb, rtype, path_type, prefer)
    body = await _json_body(request)
    if is_batch_body or (method in {"PATCH", "PUT"}):
        return _batch_write(request, sb, rtype, path_type, base, body, prefer)
    opts = _write_options(request)
    if "respond-async" in prefer:
        return _async(request, sb, [lambda: _task_create(sb, rtype, path_type, base, body, opts)])
    rid = sb.records.create(rtype, body, opts)
    return _no_content(_location(base, path_type, rid))


def _task_create(
    sb: Sandbox, rtype: str, path_type: str, base: str, body: Any, opts: WriteOptions
) -> TaskResult:
    try:
        rid = sb.records.create(rtype, body, opts)
        record = sb.records.get(rtype, str(rid), base=base, path_type=path_type)
        return TaskResult(200, record, _location(base, path_type, rid))
    except NetSuiteError as err:
        return TaskResult(err.status, err.body())


def _task_update(
    sb: Sandbox,
    rtype: str,
    path_type: str,
    base: str,
    ident: str,
    body: Any,
    opts: WriteOptions,
    *,
    upsert: bool = False,
) -> TaskResult:
    try:
        if upsert:
            rid, _ = sb.records.upsert(rtype, ident, body, opts)
        else:
            rid = sb.records.update(rtype, ident, body, opts)
        record = sb.records.get(rtype, str(rid), base=base, path_type=path_type)
        return TaskResult(200, record, _location(base, path_type, rid))
    except NetSuiteError as err:
        return TaskResult(err.status, err.body())


def _task_delete(sb: Sandbox, rtype: str, ident: str) -> TaskResult:
    try:
        sb.records.delete(rtype, ident)
        return TaskResult(204)
    except NetSuiteError as err:
        return TaskResult(err.status, err.body())


def _task_get(sb: Sandbox, rtype: str, path_type: str, base: str, ident: str, request: Request) -> TaskResult:
    try:
        record = sb.records.get(
            rtype,
            ident,
            base=base,
            path_type=path_type,
            fields=_param(request, "fields"),
            expand=_flag(request, "expandSubResources"),
            simple_enum=_flag(request, "simpleEnumFormat"),
        )
        return TaskResult(200, record)
    except NetSuiteError as err:
        return TaskResult(err.status, err.body())


def _ids(request: Request) -> list[str]:
    raw = _param(request, "ids") or ""
    out = []
    for part in raw.split(","):
        part = part.strip()
        if part.lower().startswith("eid:"):
            value = part[4:].strip().strip("'\"")
            part = f"eid:{value}"
        if part:
            out.append(part)
    return out


def _check_batch_size(n: int) -> None:
    if n == 0:
        raise NetSuiteError(400, "INVALID_REQUEST", "The batch request contains no records.")
    if n > BATCH_LIMIT:
        raise NetSuiteError(
            400, "INVALID_REQUEST", f"The batch request contains {n} records. The maximum is {BATCH_LIMIT}."
        )


def _batch_get(
    request: Request, sb: Sandbox, rtype: str, path_type: str, base: str, prefer: set[str]
) -> Response:
    ids = _ids(request)
    _check_batch_size(len(ids))
    work: list[Callable[[], TaskResult]] = [
        functools.partial(_task_get, sb, rtype, path_type, base, i, request) for i in ids
    ]
    if "respond-async" in prefer:
        return _async(request, sb, work)
    items = [t().body for t in work]
    return NSJSONResponse(
        {
            "links": [{"rel": "self", "href": str(request.url)}],
            "count": len(items),
            "hasMore": False,
            "items": items,
            "offset": 0,
            "totalResults": len(items),
        },
        media_type=COLLECTION,
    )


def _batch_delete(request: Request, sb: Sandbox, rtype: str, path_type: str, prefer: set[str]) -> Response:
    ids = _ids(request)
    _check_batch_size(len(ids))
    work: list[Callable[[], TaskResult]] = [functools.partial(_task_delete, sb, rtype, i) for i in ids]
    if "respond-async" in prefer:
        return _async(request, sb, work)
    results = [t() for t in work]
    failed = next((r for r in results if not r.ok), None)
    if failed is not None:
        return NSJSONResponse(failed.body, status_code=failed.status, media_type=ERROR_MEDIA_TYPE)
    return _no_content()


def _batch_write(
    request: Request, sb: Sandbox, rtype: str, path_type: str, base: str, body: Any, prefer: set[str]
) -> Response:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise NetSuiteError(
            400,
            "INVALID_CONTENT",
            'Error while accessing resource: A batch request body must be {"items": [...]}.',
        )
    if "respond-async" not in prefer:
        raise NetSuiteError(
            400,
            "INVALID_REQUEST",
            "Batch operations are executed asynchronously. Send the Prefer: respond-async header.",
        )
    items = body["items"]
    _check_batch_size(len(items))
    opts = _write_options(request)
    work: list[Callable[[], TaskResult]] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise NetSuiteError(
                400,
                "INVALID_CONTENT",
                "Error while accessing resource: Invalid batch item.",
                path=f"items[{n}]",
            )
        fields = {k.lower(): k for k in item}
        if request.method == "POST":
            work.append(functools.partial(_task_create, sb, rtype, path_type, base, item, opts))
        elif request.method == "PATCH":
            ident: str | None = None
            if "id" in fields and item[fields["id"]] is not None:
                ident = str(item[fields["id"]])
            elif "externalid" in fields and item[fields["externalid"]] is not None:
                ident = "eid:" + str(item[fields["externalid"]])
            if ident is None:
                raise NetSuiteError(
                    400,
                    "INVALID_CONTENT",
                    "Error while accessing resource: Each item of a batch "
                    "update needs an id or an externalId.",
                    path=f"items[{n}]",
                )
            payload = {k: v for k, v in item.items() if k.lower() != "id"}
            work.append(functools.partial(_task_update, sb, rtype, path_type, base, ident, payload, opts))
        else:
            if "externalid" not in fields or item[fields["externalid"]] is None:
                raise NetSuiteError(
                    400,
                    "INVALID_CONTENT",
                    "Error while accessing resource: Each item of a batch upsert needs an externalId.",
                    path=f"items[{n}]",
                )
            ident = "eid:" + str(item[fields["externalid"]])
            payload = {k: v for k, v in item.items() if k.lower() not in {"id", "externalid"}}
            work.append(
                functools.partial(_task_update, sb, rtype, path_type, base, ident, payload, opts, upsert=True)
            )
    return _async(request, sb, work)


def _async(request: Request, sb: Sandbox, work: list[Callable[[], TaskResult]]) -> Response:
    base = _base(request, sb.config)
    key = request.headers.get("x-netsuite-idempotency-key")
    existing = sb.jobs.existing(key)
    if existing is not None:
        raise NetSuiteError(
            400,
            "IDEMPOTENCY_ERROR",
            'A request with the same idempotency key is already submitted. See the "Location" header for the '
            "link to the original request.",
            headers={"Location": f"{base}/async/v1/job/{existing.id}"},
            title="Conflict",
            type_uri="https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.10",
        )
    job = sb.jobs.submit(work, key=key)
    return Response(
        status_code=202,
        headers={"Location": f"{base}/async/v1/job/{job.id}", "Preference-Applied": "respond-async"},
    )


async def _single(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    path_type = request.path_params["rtype"]
    rtype = sb.records.record_type(path_type)
    ident = request.path_params["rid"]
    base = _base(request, sb.config)
    prefer = _prefer(request)
    method = request.method
    if method == "GET":
        task = _task_get(sb, rtype, path_type, base, ident, request)
        if "respond-async" in prefer:
            return _async(request, sb, [lambda: task])
        if not task.ok:
            return NSJSONResponse(task.body, status_code=task.status, media_type=ERROR_MEDIA_TYPE)
        return NSJSONResponse(task.body, media_type=SINGULAR)
    if method == "DELETE":
        if "respond-async" in prefer:
            return _async(request, sb, [lambda: _task_delete(sb, rtype, ident)])
        sb.records.delete(rtype, ident)
        return _no_content()
    body = await _json_body(request)
    opts = _write_options(request)
    if method == "PATCH":
        if "respond-async" in prefer:
            return _async(request, sb, [lambda: _task_update(sb, rtype, path_type, base, ident, body, opts)])
        rid = sb.records.update(rtype, ident, body or {}, opts)
        return _no_content(_location(base, path_type, rid))
    if method == "PUT":
        if "respond-async" in prefer:
            return _async(
                request,
                sb,
                [lambda: _task_update(sb, rtype, path_type, base, ident, body or {}, opts, upsert=True)],
            )
        rid, _created = sb.records.upsert(rtype, ident, body or {}, opts)
        return _no_content(_location(base, path_type, rid))
    raise NetSuiteError(405, "INVALID_REQUEST", f"The {method} method is not supported on this resource.")


async def _transform(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    from_type = sb.records.record_type(request.path_params["rtype"])
    to_path = request.path_params["to"]
    to_type = sb.records.record_type(to_path)
    base = _base(request, sb.config)
    body = await _json_body(request)
    opts = _write_options(request)

    def run() -> TaskResult:
        try:
            rid = sb.records.transform(from_type, request.path_params["rid"], to_type, body, opts)
            record = sb.records.get(to_type, str(rid), base=base, path_type=to_path)
            return TaskResult(200, record, _location(base, to_path, rid))
        except NetSuiteError as err:
            return TaskResult(err.status, err.body())

    if "respond-async" in _prefer(request):
        return _async(request, sb, [run])
    rid = sb.records.transform(from_type, request.path_params["rid"], to_type, body, opts)
    return _no_content(_location(base, to_path, rid))


async def _attach(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    """``POST {type}/{id}/!attach/{otherType}/{otherId}`` (and ``!detach``): customer <-> contact."""
    rtype = sb.records.record_type(request.path_params["rtype"])
    other = sb.records.record_type(request.path_params["other"])
    body = await _json_body(request) or {}
    attach = "/!attach/" in request.url.path
    pair = {rtype, other}
    if pair != {"customer", "contact"}:
        raise NetSuiteError(
            400, "INVALID_REQUEST", f"Attaching a {other} record to a {rtype} record is not supported."
        )
    ids = {rtype: request.path_params["rid"], other: request.path_params["oid"]}
    customer_id = sb.records.resolve_id("customer", ids["customer"])
    changes: dict[str, Any] = {"company": {"id": str(customer_id)} if attach else None}
    role = body.get("role") if isinstance(body, dict) else None
    if attach and role is not None:
        changes["contactRole"] = role
    sb.records.update("contact", ids["contact"], changes, _write_options(request))
    return _no_content()


async def _subresource(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    path_type = request.path_params["rtype"]
    rtype = sb.records.record_type(path_type)
    parts = [p for p in request.path_params["sub"].split("/") if p]
    if request.method != "GET":
        raise NetSuiteError(
            405, "INVALID_REQUEST", f"The {request.method} method is not supported on this resource."
        )
    result = sb.records.sub_resource(
        rtype,
        request.path_params["rid"],
        parts,
        base=_base(request, sb.config),
        path_type=path_type,
        expand=_flag(request, "expandSubResources"),
        simple_enum=_flag(request, "simpleEnumFormat"),
    )
    media = COLLECTION if "items" in result and "totalResults" in result else SINGULAR
    return NSJSONResponse(result, media_type=media)


async def _metadata(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    base = _base(request, sb.config)
    name = request.path_params.get("rtype")
    if name is None:
        select = _param(request, "select")
        wanted = [s.strip() for s in select.split(",")] if select else None
        if "swagger+json" in request.headers.get("accept", ""):
            types = [sb.records.record_type(w) for w in wanted] if wanted else list(sb.schema.records)
            return NSJSONResponse(openapi_many(sb.schema, types, base), media_type="application/swagger+json")
        return NSJSONResponse(catalog(sb.schema, base, wanted), media_type="application/json")
    if "," in name or " " in name:
        raise NetSuiteError(
            400,
            "INVALID_REQUEST",
            "The request could not be understood by the server due to malformed syntax.",
        )
    rtype = sb.records.record_type(name)
    accept = request.headers.get("accept", "")
    if "schema+json" in accept:
        return NSJSONResponse(json_schema(sb.schema, rtype), media_type="application/schema+json")
    return NSJSONResponse(openapi(sb.schema, rtype, base), media_type="application/swagger+json")


# --- SuiteQL, jobs, token, governance --------------------------------------------------------------


async def _suiteql(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    cfg = sb.config
    if cfg.require_transient and "transient" not in _prefer(request):
        raise NetSuiteError(
            400, "INVALID_REQUEST", "The request header 'Prefer: transient' is required for SuiteQL queries."
        )
    body = await _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("q"), str):
        raise NetSuiteError(
            400, "INVALID_PARAMETER", "The request body must contain the query in the 'q' field."
        )
    params = body.get("params") or []
    if not isinstance(params, list):
        raise NetSuiteError(400, "INVALID_PARAMETER", "The 'params' field must be an array.")
    limit, offset = page_params(_int_param(request, "limit"), _int_param(request, "offset"))
    if offset >= cfg.suiteql_max_rows:
        raise NetSuiteError(
            400,
            "INVALID_PARAMETER",
            f"Invalid value for the offset parameter: {offset}. A query can return at most "
            f"{cfg.suiteql_max_rows} results.",
            query_param="offset",
        )
    try:
        result = sb.suiteql.run(body["q"], params, limit=limit, offset=offset)
    except NetSuiteError:
        raise
    except Exception:  # a construct the translator does not handle: NetSuite's answer, not a 500
        _LOG.exception("SuiteQL translation failed: %s", body["q"][:200])
        raise QueryError("Search error occurred: Invalid or unsupported search.") from None
    items = [{"links": [], **row} for row in result.rows]
    page = collection_page(
        items,
        total=result.total,
        limit=limit,
        offset=offset,
        href=f"{_base(request, cfg)}/query/v1/suiteql",
        max_rows=cfg.suiteql_max_rows,
    )
    return NSJSONResponse(page, media_type=COLLECTION)


def _job(request: Request, sb: Sandbox) -> Job:
    try:
        job = sb.jobs.get(int(request.path_params["jid"]))
    except ValueError:
        job = None
    if job is None:
        raise NetSuiteError(404, "NONEXISTENT_ID", "The asynchronous job does not exist.")
    return job


async def _job_get(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    job = _job(request, sb)
    base = _base(request, sb.config)
    done = sb.jobs.completed(job)
    href = f"{base}/async/v1/job/{job.id}"
    return NSJSONResponse(
        {
            "links": [{"rel": "self", "href": href}],
            "id": str(job.id),
            "completed": done,
            "progress": sb.jobs.progress(job, done),
            "task": {"links": [{"rel": "self", "href": f"{href}/task"}]},
        },
        media_type=SINGULAR,
    )


async def _job_tasks(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    job = _job(request, sb)
    href = f"{_base(request, sb.config)}/async/v1/job/{job.id}/task"
    items = [{"links": [{"rel": "self", "href": f"{href}/{t.id}"}], "id": str(t.id)} for t in job.tasks]
    return NSJSONResponse(
        {
            "links": [{"rel": "self", "href": href}],
            "count": len(items),
            "hasMore": False,
            "items": items,
            "offset": 0,
            "totalResults": len(items),
        },
        media_type=COLLECTION,
    )


def _task_of(request: Request, sb: Sandbox, job: Job) -> Any:
    try:
        tid = int(request.path_params["tid"])
    except ValueError:
        tid = -1
    task = next((t for t in job.tasks if t.id == tid), None)
    if task is None:
        raise NetSuiteError(404, "NONEXISTENT_ID", "The asynchronous task does not exist.")
    return task


async def _task_get_route(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    job = _job(request, sb)
    task = _task_of(request, sb, job)
    done = sb.jobs.completed(job)
    href = f"{_base(request, sb.config)}/async/v1/job/{job.id}/task/{task.id}"
    body: dict[str, Any] = {
        "links": [{"rel": "related", "href": f"{href}/result"}, {"rel": "self", "href": href}],
        "id": str(task.id),
        "completed": done,
        "progress": ("succeeded" if task.result.ok else "failed") if done else "pending",
    }
    if done:
        body["startTime"] = format_datetime(task.start)
        body["endTime"] = format_datetime(max(task.end, job.completes_at))
    return NSJSONResponse(body, media_type=SINGULAR)


async def _task_result(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    job = _job(request, sb)
    task = _task_of(request, sb, job)
    if not sb.jobs.completed(job):
        raise NetSuiteError(
            404, "NONEXISTENT_ID", "The result of the asynchronous task is not available yet."
        )
    result = task.result
    if result.body is None:
        return Response(status_code=result.status, headers=result.headers)
    media = SINGULAR if result.ok else ERROR_MEDIA_TYPE
    return NSJSONResponse(result.body, status_code=result.status, headers=result.headers, media_type=media)


async def _token(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    raw = (await request.body()).decode("utf-8", "replace")
    form = dict(parse_qsl(raw, keep_blank_values=True))
    host = request.headers.get("host", "")
    slug = sb.config.host_slug
    audiences = {
        f"{request.url.scheme}://{host}{TOKEN_PATH}",
        f"https://{slug}.suitetalk.api.netsuite.com{TOKEN_PATH}",
        f"https://{slug}.restlets.api.netsuite.com{TOKEN_PATH}",
    }
    if sb.config.base_url:
        audiences.add(sb.config.base_url.rstrip("/") + TOKEN_PATH)
    try:
        token = sb.oauth2.issue(form, audiences)
    except OAuth2Error as err:
        headers = {"X-Sandbox-Auth-Reason": err.reason} if sb.config.debug_auth_header else {}
        return JSONResponse({"error": err.error}, status_code=err.status, headers=headers)
    return JSONResponse(token, headers={"Cache-Control": "no-store"})


async def _governance(request: Request, sb: Sandbox, _: Principal | None) -> Response:
    cfg = sb.config
    body: dict[str, Any] = {"accountConcurrencyLimit": cfg.concurrency_limit}
    if cfg.integration_concurrency_limit is not None:
        body["accountUnallocatedConcurrencyLimit"] = max(
            1, cfg.concurrency_limit - cfg.integration_concurrency_limit
        )
        body["integrationConcurrencyLimit"] = cfg.integration_concurrency_limit
        body["integrationLimitType"] = "integrationSpecific"
    else:
        body["accountUnallocatedConcurrencyLimit"] = cfg.concurrency_limit
        body["integrationLimitType"] = "accountLimit"
    return NSJSONResponse(body, media_type=SINGULAR)


# --- admin ---------------------------------------------------------------------------------------


def _admin(sb: Sandbox, info: Callable[[], dict[str, Any]]) -> list[Route]:
    async def reset(request: Request) -> Response:
        body = await _admin_body(request)
        seed = str(body.get("seed") or sb.seed_name)
        scale = body.get("scale", sb.scale)
        counts = sb.reseed(seed, int(scale) if scale is not None else None)
        return JSONResponse({"seed": seed, "counts": counts})

    async def seed(request: Request) -> Response:
        body = await _admin_body(request)
        name = str(body.get("seed") or "demo")
        scale = body.get("scale")
        if name not in {"empty", "demo"}:
            return JSONResponse({"error": f"unknown seed {name!r}"}, status_code=400)
        counts = sb.reseed(name, int(scale) if scale is not None else None)
        return JSONResponse({"seed": name, "counts": counts})

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            sb.log.clear()
            return Response(status_code=204)
        return JSONResponse(sb.log.snapshot())

    async def config(request: Request) -> Response:
        if request.method == "PUT":
            body = await _admin_body(request)
            try:
                sb.config.update_tunables(body)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(sb.config.tunables())

    async def occupy(request: Request) -> Response:
        if request.method == "DELETE":
            sb.config.occupied_slots = 0
        else:
            body = await _admin_body(request)
            try:
                sb.config.occupied_slots = max(0, int(body.get("slots", 0)))
            except (TypeError, ValueError):
                return JSONResponse({"error": "slots must be an integer"}, status_code=400)
        return JSONResponse(
            {"occupied_slots": sb.config.occupied_slots, "limit": sb.config.concurrency_limit}
        )

    async def info_route(request: Request) -> Response:
        return JSONResponse(info())

    async def clock(request: Request) -> Response:
        clk = sb.config.clock
        if request.method == "POST":
            if not isinstance(clk, ManualClock):
                return JSONResponse({"error": "the sandbox runs on the system clock"}, status_code=400)
            body = await _admin_body(request)
            if "set" in body:
                clk.set(parse_datetime(str(body["set"])))
            clk.advance(float(body.get("advance_s", 0.0)), days=float(body.get("advance_days", 0.0)))
            sb.records.refresh_aging()
        return JSONResponse({"now": clk.now().isoformat(), "manual": isinstance(clk, ManualClock)})

    async def ui_record(request: Request) -> Response:
        """Edits "made in the NetSuite UI": no auth, no governance, source userInterface."""
        try:
            path_type = request.path_params["rtype"]
            rtype = sb.records.record_type(path_type)
            rid = request.path_params.get("rid")
            base = _base(request, sb.config)
            opts = _write_options(request, context="userInterface")
            if rid is None and request.method == "POST":
                new_id = sb.records.create(rtype, await _json_body(request), opts)
                return JSONResponse(
                    {"id": str(new_id)}, status_code=201, headers=_location(base, path_type, new_id)
                )
            if rid is None:
                return JSONResponse({"error": "record id required"}, status_code=400)
            if request.method == "PATCH":
                sb.records.update(rtype, rid, await _json_body(request) or {}, opts)
                return Response(status_code=204)
            if request.method == "DELETE":
                sb.records.delete(rtype, rid, context="userInterface")
                return Response(status_code=204)
            return NSJSONResponse(
                sb.records.get(rtype, rid, base=base, path_type=path_type, expand=True), media_type=SINGULAR
            )
        except NetSuiteError as err:
            return error_response(err)

    prefix = "/__sandbox__"
    return [
        Route(f"{prefix}/reset", reset, methods=["POST"]),
        Route(f"{prefix}/seed", seed, methods=["POST"]),
        Route(f"{prefix}/requests", requests, methods=["GET", "DELETE"]),
        Route(f"{prefix}/config", config, methods=["GET", "PUT"]),
        Route(f"{prefix}/occupy", occupy, methods=["POST", "DELETE"]),
        Route(f"{prefix}/info", info_route, methods=["GET"]),
        Route(f"{prefix}/clock", clock, methods=["GET", "POST"]),
        Route(f"{prefix}/ui/record/{{rtype}}", ui_record, methods=["POST"]),
        Route(f"{prefix}/ui/record/{{rtype}}/{{rid}}", ui_record, methods=["GET", "PATCH", "DELETE"]),
    ]


async def _admin_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def build_routes(sb: Sandbox) -> list[Route]:
    """The REST routes of a sandbox (templates as NetSuite's URL schema)."""
    rest = "/services/rest"
    rec = f"{rest}/record/v1"
    return [
        Route(f"{rec}/metadata-catalog", api(sb, _metadata), methods=["GET"]),
        Route(f"{rec}/metadata-catalog/{{rtype}}", api(sb, _metadata), methods=["GET"]),
        Route(
            f"{rec}/{{rtype}}",
            api(sb, _collection, write=True),
            methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        ),
        Route(
            f"{rec}/{{rtype}}/{{rid}}",
            api(sb, _single, write=True),
            methods=["GET", "PATCH", "PUT", "DELETE"],
        ),
        Route(
            f"{rec}/{{rtype}}/{{rid}}/!transform/{{to}}", api(sb, _transform, write=True), methods=["POST"]
        ),
        Route(
            f"{rec}/{{rtype}}/{{rid}}/!attach/{{other}}/{{oid}}",
            api(sb, _attach, write=True),
            methods=["POST"],
        ),
        Route(
            f"{rec}/{{rtype}}/{{rid}}/!detach/{{other}}/{{oid}}",
            api(sb, _attach, write=True),
            methods=["POST"],
        ),
        Route(f"{rec}/{{rtype}}/{{rid}}/{{sub:path}}", api(sb, _subresource), methods=["GET"]),
        Route(f"{rest}/query/v1/suiteql", api(sb, _suiteql), methods=["POST"]),
        Route(f"{rest}/async/v1/job/{{jid}}", api(sb, _job_get), methods=["GET"]),
        Route(f"{rest}/async/v1/job/{{jid}}/task", api(sb, _job_tasks), methods=["GET"]),
        Route(f"{rest}/async/v1/job/{{jid}}/task/{{tid}}", api(sb, _task_get_route), methods=["GET"]),
        Route(f"{rest}/async/v1/job/{{jid}}/task/{{tid}}/result", api(sb, _task_result), methods=["GET"]),
        Route(TOKEN_PATH, api(sb, _token, authenticate=False), methods=["POST"]),
        Route(f"{rest}/system/v1/governanceLimits", api(sb, _governance), methods=["GET"]),
    ]


def create_app(
    config: NetSuiteSandboxConfig | None = None,
    *,
    seed: str = "empty",
    scale: int | None = None,
    info: Callable[[], dict[str, Any]] | None = None,
    reset: bool = False,
) -> Starlette:
    """Build the sandbox application.

    Args:
        config: settings (defaults: account 1234567, in-memory data, limit 5, no latency).
        seed: data for a new database: ``empty`` (lists only) or ``demo``.
        scale: demo size.
        info: returns the connection details served at ``/__sandbox__/info``.
        reset: reseed even when ``config.data_path`` already holds an account.

    Returns:
        The Starlette app; ``app.state.sandbox`` is the ``Sandbox``.
    """
    sb = Sandbox(config or NetSuiteSandboxConfig(), seed=seed, scale=scale, reset=reset)
    routes = build_routes(sb)

    def default_info() -> dict[str, Any]:
        cfg = sb.config
        out: dict[str, Any] = {
            "account_id": cfg.account_id,
            "realm": cfg.realm,
            "consumer_key": cfg.consumer_key,
            "consumer_secret": cfg.consumer_secret,
            "token_id": cfg.token_id,
            "token_secret": cfg.token_secret,
            "oauth2_client_id": cfg.oauth2_client_id,
        }
        out["oauth2_certificate_id"] = cfg.oauth2_certificate_id
        if sb.m2m_key is not None:
            out["oauth2_private_key_file"] = str(sb.m2m_key.private_key_file)
        return out

    app = Starlette(routes=[*routes, *_admin(sb, info or default_info)])
    app.state.sandbox = sb
    app.add_middleware(Governance, sandbox=sb, routes=routes)
    install_push(app)  # the User Event script's push calls for UI edits (off until configured)
    return app

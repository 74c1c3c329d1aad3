"""sObject Collections and the composite resources of the Salesforce sandbox (reference §5).

HTTP layer; imports Starlette, the state and the org. Collections (``/composite/sobjects``)
write up to 200 records with per-record results aligned with the input and ``allOrNone``
rollback. ``/composite`` runs up to 25 subrequests through the same route table (``@{ref.field}``
references, ``allOrNone``), ``/composite/batch`` independent ones, ``/composite/tree`` nested
inserts, ``/composite/graph`` several all-or-nothing composite graphs. A composite call counts
as one API call, like the real one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from ledgerbridge_sandbox.salesforce import ids
from ledgerbridge_sandbox.salesforce.errors import MESSAGES, ApiError, RecordError
from ledgerbridge_sandbox.salesforce.org import CallContext
from ledgerbridge_sandbox.salesforce.responses import endpoint, json_body, json_response
from ledgerbridge_sandbox.salesforce.state import SandboxState
from ledgerbridge_sandbox.salesforce.store import Rollback

MAX_COLLECTION = 200  # records per sObject Collections call (reference §5.1)
MAX_SUBREQUESTS = 25  # subrequests per composite / batch call (reference §5.2, §5.3)
MAX_TREE = 200  # records per sObject tree call (reference §5.3)
MAX_GRAPH_NODES = 500  # nodes per composite graph (reference §5.4)
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[^}.\[]+|\[\d+\])*)\}")
_REF_ID_RE = re.compile(r"^[A-Za-z0-9_]+$")
_VERSION_RE = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
_FORBIDDEN_SUB_HEADERS = {"accept", "authorization", "content-type"}


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.scope["sf.state"]
    return state


def _ctx(request: Request) -> CallContext:
    ctx: CallContext = request.scope["sf.ctx"]
    return ctx


def _rolled_back() -> dict[str, Any]:
    return RecordError(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK", MESSAGES["ALL_OR_NONE_OPERATION_ROLLED_BACK"], []
    ).collection()


def _failure(err: ApiError, record_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if record_id:
        out["id"] = record_id
    out["success"] = False
    out["errors"] = [e.collection() for e in err.errors]
    return out


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _limit_error() -> ApiError:
    return ApiError.single(
        400,
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
    )


def _records_body(body: Any) -> tuple[list[Any], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError.single(400, "JSON_PARSER_ERROR", "The request body must hold a 'records' array")
    records: list[Any] = body["records"]
    if len(records) > MAX_COLLECTION:
        raise _limit_error()
    return records, _flag(body.get("allOrNone", False))


def _type_of(record: Any) -> str:
    attrs = record.get("attributes") if isinstance(record, dict) else None
    type_name = attrs.get("type") if isinstance(attrs, dict) else None
    if not type_name:
        raise ApiError.single(400, "INVALID_TYPE", "No SObject Type defined in attributes")
    return str(type_name)


def _item_id(item: Any) -> str | None:
    raw = item if isinstance(item, str) else (item.get("Id") if isinstance(item, dict) else None)
    return ids.normalize(str(raw)) if raw else None


def _run_collection(
    state: SandboxState, all_or_none: bool, items: list[Any], work: Callable[[Any], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run ``work(item)`` per item inside one transaction; roll everything back when required."""
    results: list[dict[str, Any]] = []
    failed = False
    store = state.org.store
    with store.transaction():
        for item in items:
            try:
                with store.transaction():
                    results.append(work(item))
            except ApiError as err:
                failed = True
                results.append(_failure(err, _item_id(item)))
        if failed and all_or_none:
            results = [
                r if not r["success"] else {"success": False, "errors": [_rolled_back()]} for r in results
            ]
            raise Rollback()
    return results


@endpoint
async def collections(request: Request) -> Response:
    """``POST|PATCH|DELETE /composite/sobjects``: create, update or delete up to 200 records."""
    state = _state(request)
    org = state.org
    ctx = _ctx(request)
    if request.method == "DELETE":
        raw = request.query_params.get("ids") or ""
        id_list = [i.strip() for i in raw.split(",") if i.strip()]
        if not id_list:
            raise ApiError.single(400, "REQUIRED_FIELD_MISSING", "At least 1 Id is required.")
        if len(id_list) > MAX_COLLECTION:
            raise _limit_error()

        def remove(rid: str) -> dict[str, Any]:
            org.delete(ctx, None, rid)
            return {"id": ids.normalize(rid), "success": True, "errors": []}

        all_or_none = _flag(request.query_params.get("allOrNone", "false"))
        return json_response(request, _run_collection(state, all_or_none, id_list, remove))
    records, all_or_none = _records_body(await json_body(request))

    if request.method == "POST":

        def create(rec: Any) -> dict[str, Any]:
            type_name = _type_of(rec)
            if isinstance(rec, dict) and rec.get("Id"):
                raise ApiError.single(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            return {"id": org.create(ctx, type_name, rec), "success": True, "errors": []}

        return json_response(request, _run_collection(state, all_or_none, records, create))

    def update(rec: Any) -> dict[str, Any]:
        type_name = _type_of(rec)
        rid = rec.get("Id") if isinstance(rec, dict) else None
        if not rid:
            raise ApiError.single(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        body = {k: v for k, v in rec.items() if k != "Id"}
        org.update(ctx, type_name, str(rid), body)
        return {"id": ids.normalize(str(rid)), "success": True, "errors": []}

    return json_response(request, _run_collection(state, all_or_none, records, update))


@endpoint
async def collections_typed(request: Request) -> Response:
    """``GET|POST /composite/sobjects/{Type}``: retrieve records by id (``null`` for unknown ids)."""
    state = _state(request)
    org = state.org
    obj = org.object(request.path_params["sobject"])
    version = _ctx(request).version
    if request.method == "POST":
        body = await json_body(request)
        id_list = [str(i) for i in (body.get("ids") or [])] if isinstance(body, dict) else []
        fields = [str(f) for f in (body.get("fields") or [])] if isinstance(body, dict) else []
    else:
        id_list = [i for i in (request.query_params.get("ids") or "").split(",") if i.strip()]
        fields = [f for f in (request.query_params.get("fields") or "").split(",") if f.strip()]
    if not id_list:
        raise ApiError.single(400, "REQUIRED_FIELD_MISSING", "At least 1 Id is required.")
    field_defs = org.resolve_fields(obj, fields) if fields else None
    out: list[Any] = []
    for raw in id_list:
        rid = ids.normalize(raw.strip())
        rec = org.get_live(obj.name, rid) if rid and rid[:3] == obj.key_prefix else None
        out.append(org.render(obj, rec, version, field_defs) if rec is not None else None)
    return json_response(request, out)


@endpoint
async def collections_upsert(request: Request) -> Response:
    """``PATCH /composite/sobjects/{Type}/{ExtField}``: upsert up to 200 records of one type."""
    state = _state(request)
    org = state.org
    ctx = _ctx(request)
    obj = org.object(request.path_params["sobject"])
    field_def = org.external_field(obj, request.path_params["field"])
    records, all_or_none = _records_body(await json_body(request))

    def upsert(rec: Any) -> dict[str, Any]:
        if not isinstance(rec, dict):
            raise ApiError.single(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        rec_type = (rec.get("attributes") or {}).get("type")
        if rec_type and str(rec_type).lower() != obj.name.lower():
            raise ApiError.single(400, "INVALID_TYPE", f"Record type {rec_type} does not match {obj.name}")
        key = next((v for k, v in rec.items() if k.lower() == field_def.lname), None)
        if key is None or key == "":
            raise ApiError.single(
                400, "MISSING_ARGUMENT", f"{field_def.name} not specified", [field_def.name]
            )
        body = {k: v for k, v in rec.items() if k.lower() != field_def.lname}
        rid, created = org.upsert(ctx, obj.name, field_def.name, str(key), body)
        return {"id": rid, "success": True, "errors": [], "created": created}

    return json_response(request, _run_collection(state, all_or_none, records, upsert))


# -- internal dispatch for composite subrequests ------------------------------------------------


async def dispatch(
    request: Request, method: str, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """Run one subrequest through the app's routes (no auth, no counting).

    Returns:
        The status, the headers worth passing on (``Location``...), and the parsed body.
    """
    state = _state(request)
    parts = urlsplit(url)
    path = unquote(parts.path)
    if len(path) > 1:
        path = path.rstrip("/")
    m = _VERSION_RE.match(path)
    if m is None or m.group(1) not in state.config.api_versions:
        return 404, {}, [{"errorCode": "NOT_FOUND", "message": MESSAGES["NOT_FOUND"]}]
    base_ctx = _ctx(request)
    ctx = CallContext(
        base_ctx.user_id,
        m.group(1),
        base_ctx.client,
        base_ctx.api,
        base_ctx.allow_save,
        base_ctx.include_record_details,
    )
    raw = b"" if body is None else json.dumps(body).encode()
    header_list = [(b"content-type", b"application/json")]
    header_list += [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": method.upper(),
        "path": path,
        "raw_path": parts.path.encode(),
        "root_path": "",
        "scheme": request.url.scheme,
        "query_string": parts.query.encode(),
        "headers": header_list,
        "client": request.scope.get("client"),
        "server": request.scope.get("server"),
        "app": request.scope.get("app"),
        "sf.state": state,
        "sf.ctx": ctx,
        "state": {},
    }
    router = request.scope["app"].router
    chosen = None
    partial = False
    for route in router.routes:
        match, child = route.matches(scope)
        if match == Match.FULL:
            scope.update(child)
            chosen = route
            break
        if match == Match.PARTIAL:
            partial = True
    if chosen is None:
        if partial:
            return (
                405,
                {},
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{method.upper()}' not allowed.",
                    }
                ],
            )
        return 404, {}, [{"errorCode": "NOT_FOUND", "message": MESSAGES["NOT_FOUND"]}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await chosen.handle(scope, receive, send)
    start = next(msg for msg in sent if msg["type"] == "http.response.start")
    data = b"".join(msg.get("body", b"") for msg in sent if msg["type"] == "http.response.body")
    out_headers = {k.decode().title(): v.decode() for k, v in start.get("headers", [])}
    parsed: Any = None
    if data:
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data.decode("utf-8", "replace")
    keep = {k: v for k, v in out_headers.items() if k in {"Location", "Etag", "Last-Modified"}}
    return int(start["status"]), keep, parsed


class _Unresolved(Exception):
    def __init__(self, expression: str, ref: str) -> None:
        super().__init__(expression)
        self.expression = expression
        self.ref = ref


def _walk(value: Any, path: str) -> Any:
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        if key:
            if not isinstance(value, dict) or key not in value:
                raise KeyError(key)
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(index)
            value = value[int(index)]
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):

        def lookup(m: re.Match[str]) -> Any:
            ref, path = m.group(1), m.group(2)
            if ref not in results:
                raise _Unresolved(m.group(0), ref)
            try:
                return _walk(results[ref], path)
            except KeyError:
                raise _Unresolved(m.group(0), ref) from None

        whole = _REF_RE.fullmatch(value)
        if whole:
            return lookup(whole)
        return _REF_RE.sub(lambda m: str(lookup(m)), value)
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    return value


def _halted() -> list[dict[str, str]]:
    return [{"errorCode": "PROCESSING_HALTED", "message": MESSAGES["PROCESSING_HALTED"]}]


async def _run_composite(
    request: Request, subrequests: list[dict[str, Any]], all_or_none: bool
) -> tuple[list[dict[str, Any]], bool]:
    """Run composite subrequests in one transaction; returns the responses and whether all succeeded."""
    store = _state(request).org.store
    responses: list[dict[str, Any]] = []
    results: dict[str, Any] = {}
    ok = True
    with store.transaction():
        for sub in subrequests:
            ref = str(sub.get("referenceId"))
            if not ok and all_or_none:
                responses.append(
                    {"body": _halted(), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref}
                )
                continue
            try:
                url = _substitute(str(sub.get("url") or ""), results)
                body = _substitute(sub.get("body"), results)
            except _Unresolved as exc:
                ok = False
                text = (
                    f"Invalid reference specified. No value for {exc.expression[2:-1]} found in {exc.ref}. "
                    f"Provided referenceId ('{exc.ref}') is case-sensitive."
                )
                responses.append(
                    {
                        "body": [{"errorCode": "PROCESSING_HALTED", "message": text}],
                        "httpHeaders": {},
                        "httpStatusCode": 400,
                        "referenceId": ref,
                    }
                )
                continue
            with store.transaction():
                status, headers, out = await dispatch(
                    request, str(sub.get("method") or "GET"), str(url), body, sub.get("httpHeaders") or None
                )
                responses.append(
                    {"body": out, "httpHeaders": headers, "httpStatusCode": status, "referenceId": ref}
                )
                if status >= 400:
                    ok = False
                    raise Rollback()
                results[ref] = out
        if not ok and all_or_none:
            responses = [
                r
                if r["httpStatusCode"] >= 400
                else {
                    "body": _halted(),
                    "httpHeaders": {},
                    "httpStatusCode": 400,
                    "referenceId": r["referenceId"],
                }
                for r in responses
            ]
            raise Rollback()
    return responses, ok


def _check_subrequests(subrequests: Any, limit: int) -> list[dict[str, Any]]:
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError.single(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty array")
    if len(subrequests) > limit:
        raise ApiError.single(
            400,
            "LIMIT_EXCEEDED",
            f"Limit exceeded: Composite requests cannot have more than {limit} subrequests",
        )
    seen: set[str] = set()
    for sub in subrequests:
        if not isinstance(sub, dict):
            raise ApiError.single(400, "JSON_PARSER_ERROR", "Each subrequest must be a JSON object")
        ref = sub.get("referenceId")
        if not isinstance(ref, str) or not _REF_ID_RE.match(ref):
            raise ApiError.single(400, "INVALID_INPUT", f"Invalid referenceId: {ref}")
        if ref in seen:
            raise ApiError.single(
                400, "INVALID_INPUT", f"Duplicate referenceId provided in the request: {ref}"
            )
        seen.add(ref)
        for name in sub.get("httpHeaders") or {}:
            if str(name).lower() in _FORBIDDEN_SUB_HEADERS:
                raise ApiError.single(
                    400, "INVALID_INPUT", f"The header {name} is not allowed in a subrequest"
                )
    return subrequests


@endpoint
async def composite(request: Request) -> Response:
    """``POST /composite``: up to 25 subrequests with references, optionally all-or-none."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError.single(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    subrequests = _check_subrequests(body.get("compositeRequest"), MAX_SUBREQUESTS)
    responses, _ = await _run_composite(request, subrequests, _flag(body.get("allOrNone", False)))
    return json_response(request, {"compositeResponse": responses})


@endpoint
async def graph(request: Request) -> Response:
    """``POST /composite/graph``: several graphs, each all-or-nothing."""
    body = await json_body(request)
    graphs = body.get("graphs") if isinstance(body, dict) else None
    if not isinstance(graphs, list) or not graphs:
        raise ApiError.single(400, "JSON_PARSER_ERROR", "graphs must be a non-empty array")
    out = []
    for g in graphs:
        subrequests = _check_subrequests((g or {}).get("compositeRequest"), MAX_GRAPH_NODES)
        responses, ok = await _run_composite(request, subrequests, True)
        out.append(
            {
                "graphId": g.get("graphId"),
                "graphResponse": {"compositeResponse": responses},
                "isSuccessful": ok,
            }
        )
    return json_response(request, {"graphs": out})


@endpoint
async def batch(request: Request) -> Response:
    """``POST /composite/batch``: up to 25 independent subrequests."""
    body = await json_body(request)
    subrequests = body.get("batchRequests") if isinstance(body, dict) else None
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError.single(400, "JSON_PARSER_ERROR", "batchRequests must be a non-empty array")
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ApiError.single(
            400,
            "LIMIT_EXCEEDED",
            f"Limit exceeded: Batch requests cannot have more than {MAX_SUBREQUESTS} subrequests",
        )
    halt = _flag(body.get("haltOnError", False))
    results: list[dict[str, Any]] = []
    has_errors = False
    for sub in subrequests:
        if has_errors and halt:
            results.append(
                {
                    "statusCode": 412,
                    "result": [
                        {
                            "errorCode": "BATCH_PROCESSING_HALTED",
                            "message": "Batch processing halted per request",
                        }
                    ],
                }
            )
            continue
        url = str((sub or {}).get("url") or "")
        if not url.startswith("/"):
            url = "/services/data/" + url
        status, _, out = await dispatch(request, str(sub.get("method") or "GET"), url, sub.get("richInput"))
        has_errors = has_errors or status >= 400
        results.append({"statusCode": status, "result": out})
    return json_response(request, {"hasErrors": has_errors, "results": results})


@endpoint
async def tree(request: Request) -> Response:
    """``POST /composite/tree/{Type}``: insert records with nested children, all or nothing."""
    state = _state(request)
    org = state.org
    ctx = _ctx(request)
    root = org.object(request.path_params["sobject"])
    body = await json_body(request)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        raise ApiError.single(400, "JSON_PARSER_ERROR", "records must be a non-empty array")
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    count = 0

    def insert(obj_name: str, rec: dict[str, Any], parent_field: str | None, parent_id: str | None) -> None:
        nonlocal count
        count += 1
        attrs = rec.get("attributes") or {}
        ref = str(attrs.get("referenceId") or "")
        obj = org.object(str(attrs.get("type") or obj_name))
        values: dict[str, Any] = {}
        nested: list[tuple[str, Any]] = []
        for key, value in rec.items():
            if key == "attributes":
                continue
            if obj.child(key) is not None and isinstance(value, dict):
                nested.append((key, value))
            else:
                values[key] = value
        if parent_field and parent_id:
            values[parent_field] = parent_id
        try:
            rid = org.create(ctx, obj.name, values)
        except ApiError as err:
            errors.append({"referenceId": ref, "errors": [e.collection() for e in err.errors]})
            return
        results.append({"referenceId": ref, "id": rid})
        for key, value in nested:
            rel = obj.child(key)
            assert rel is not None
            for child in value.get("records") or []:
                insert(rel.child, child, rel.field, rid)

    with org.store.transaction():
        for rec in records:
            insert(root.name, rec, None, None)
        if count > MAX_TREE:
            raise ApiError.single(
                400, "LIMIT_EXCEEDED", f"Limit exceeded: cannot insert more than {MAX_TREE} records"
            )
        if errors:
            raise Rollback()
    if errors:
        return json_response(request, {"hasErrors": True, "results": errors}, 400)
    return json_response(request, {"hasErrors": False, "results": results}, 201)

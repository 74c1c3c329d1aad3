"""JSON endpoints under ``/api/...``: the same data and actions as the pages, for scripts and tools.

Layer ``dashboard``; imports ``core`` and the dashboard's own modules. Values are the backend's
dataclasses turned into JSON (datetimes and dates as ISO 8601, decimals as strings, enums as
their values). Reads need a session or ``Authorization: Bearer <token>``; POSTs also need the
session's ``X-CSRF-Token`` header unless they use a bearer token.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from starlette.responses import JSONResponse, Response

from ledgerbridge.core.records import JsonValue
from ledgerbridge.core.store import DeadLetterStatus, ReviewStatus
from ledgerbridge.dashboard.backend import ConflictChoice, ReviewDecision, ReviewKind
from ledgerbridge.dashboard.layout import Ctx

__all__ = ["ACTION_ROUTES", "READ_ROUTES", "to_json"]


def to_json(value: object) -> JsonValue:
    """A backend value (dataclasses, enums, datetimes, decimals, mappings, sequences) as plain JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return to_json(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _ok(value: object, status_code: int = 200) -> Response:
    return JSONResponse(to_json(value), status_code=status_code)


async def _body(ctx: Ctx) -> dict[str, JsonValue]:
    try:
        value = json.loads(await ctx.request.body() or b"{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"the request body is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ValueError("the request body must be a JSON object")
    return value


def _param(ctx: Ctx, name: str) -> str | None:
    return ctx.request.query_params.get(name) or None


async def _overview(ctx: Ctx) -> Response:
    return _ok(await ctx.backend.overview())


async def _records(ctx: Ctx) -> Response:
    return _ok(await ctx.backend.search_records(ctx.request.query_params.get("q", "")))


async def _lineage(ctx: Ctx) -> Response:
    return _ok(await ctx.backend.lineage(str(ctx.request.path_params["record_id"]), link=_param(ctx, "link")))


async def _dead_letters(ctx: Ctx) -> Response:
    status_text = ctx.request.query_params.get("status", "open")
    status = None if status_text == "all" else DeadLetterStatus(status_text)
    return _ok(await ctx.backend.list_dead_letters(link=_param(ctx, "link"), status=status,
                                                   code=_param(ctx, "code")))


async def _dead_letter(ctx: Ctx) -> Response:
    return _ok(await ctx.backend.get_dead_letter(str(ctx.request.path_params["id"])))


async def _reviews(ctx: Ctx) -> Response:
    kind = _param(ctx, "kind")
    status_text = ctx.request.query_params.get("status", "open")
    status = None if status_text == "all" else ReviewStatus(status_text)
    return _ok(await ctx.backend.list_reviews(kind=ReviewKind(kind) if kind else None,
                                              link=_param(ctx, "link"), status=status))


async def _review(ctx: Ctx) -> Response:
    return _ok(await ctx.backend.get_review(str(ctx.request.path_params["id"])))


async def _conflicts(ctx: Ctx) -> Response:
    return _ok(await ctx.backend.list_conflicts(link=_param(ctx, "link")))


async def _flows(ctx: Ctx) -> Response:
    return _ok(await ctx.backend.list_mappings())


async def _forecast(ctx: Ctx) -> Response:
    return _ok(await ctx.backend.forecast(granularity=ctx.request.query_params.get("granularity", "month")))


async def _retry(ctx: Ctx) -> Response:
    body = await _body(ctx)
    payload = body.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise ValueError("payload must be a JSON object")
    return _ok(await ctx.backend.retry_dead_letter(str(ctx.request.path_params["id"]), payload))


async def _retry_many(ctx: Ctx) -> Response:
    ids = (await _body(ctx)).get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("ids must be a list of dead-letter ids")
    return _ok(await ctx.backend.retry_dead_letters([str(i) for i in ids]))


async def _discard(ctx: Ctx) -> Response:
    reason = (await _body(ctx)).get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("reason is required")
    return _ok(await ctx.backend.discard_dead_letter(str(ctx.request.path_params["id"]), reason.strip()))


async def _resolve_review(ctx: Ctx) -> Response:
    body = await _body(ctx)
    candidate = body.get("candidate_id")
    return _ok(await ctx.backend.resolve_review(str(ctx.request.path_params["id"]),
                                                ReviewDecision(str(body.get("decision"))),
                                                candidate if isinstance(candidate, str) else None))


async def _resolve_conflict(ctx: Ctx) -> Response:
    body = await _body(ctx)
    return _ok(await ctx.backend.resolve_conflict(str(ctx.request.path_params["id"]),
                                                  ConflictChoice(str(body.get("choice"))), body.get("value")))


Handler = Callable[[Ctx], Awaitable[Response]]

READ_ROUTES: list[tuple[str, Handler]] = [
    ("/api/overview", _overview),
    ("/api/records", _records),
    ("/api/records/{record_id:path}", _lineage),
    ("/api/dead-letters", _dead_letters),
    ("/api/dead-letters/{id}", _dead_letter),
    ("/api/reviews", _reviews),
    ("/api/reviews/{id}", _review),
    ("/api/conflicts", _conflicts),
    ("/api/flows", _flows),
    ("/api/forecast", _forecast),
]

ACTION_ROUTES: list[tuple[str, Handler]] = [
    ("/api/dead-letters/retry", _retry_many),
    ("/api/dead-letters/{id}/retry", _retry),
    ("/api/dead-letters/{id}/discard", _discard),
    ("/api/reviews/{id}/resolve", _resolve_review),
    ("/api/conflicts/{id}/resolve", _resolve_conflict),
]

"""Admin API of the Salesforce sandbox under ``/__sandbox__`` (not part of Salesforce).

HTTP layer; imports Starlette and the state. Calls here are neither authenticated with a
Salesforce session nor counted against the API allocation (an optional admin token guards
them). Routes:

- ``GET  /__sandbox__`` and ``/__sandbox__/info``: the start-up JSON (URLs, credentials).
- ``POST /__sandbox__/reset`` ``{"seed"?, "scale"?}``, ``POST /__sandbox__/seed`` ``{"seed", "scale"?}``.
- ``GET|DELETE /__sandbox__/requests``: the request log (counts per method, route, status).
- ``GET  /__sandbox__/changes?after=&entity=&limit=``: change events after a replay id.
- ``GET|PATCH /__sandbox__/config``: faults, API allocation, token lifetime, duplicate and
  validation rules.
- ``POST /__sandbox__/api-usage`` ``{"used": n}``, ``POST /__sandbox__/clock`` ``{"advance_s": s}``.
- ``POST /__sandbox__/sessions/expire``, ``POST /__sandbox__/tokens`` ``{"username"?}``.
- ``POST /__sandbox__/leads/{id}/convert``, ``POST /__sandbox__/records/{id}/undelete``.
- ``POST /__sandbox__/records/{Type}``, ``PATCH|DELETE /__sandbox__/records/{Type}/{id}``: edits
  as a person in the UI would make them (no API call counted, empty ``changeOrigin``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ledgerbridge_sandbox.salesforce.config import ValidationRule
from ledgerbridge_sandbox.salesforce.errors import ApiError
from ledgerbridge_sandbox.salesforce.responses import empty_response, endpoint, json_body, json_response
from ledgerbridge_sandbox.salesforce.seed import SEEDS
from ledgerbridge_sandbox.salesforce.state import SandboxState


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.scope["sf.state"]
    return state


async def _optional_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError.single(400, "JSON_PARSER_ERROR", "expected a JSON object")
    return body


def base_url(request: Request) -> str:
    """The sandbox's own URL as the client reached it."""
    state = _state(request)
    return state.public_url or str(request.base_url).rstrip("/")


@endpoint
async def info(request: Request) -> Response:
    """The start-up JSON line."""
    state = _state(request)
    return json_response(request, state.info(base_url(request), getattr(state, "ca_file", None)))


async def _reseed(request: Request, require_seed: bool) -> Response:
    state = _state(request)
    body = await _optional_body(request)
    seed = body.get("seed")
    if require_seed and seed is None:
        raise ApiError.single(400, "REQUIRED_FIELD_MISSING", f"seed is required: one of {', '.join(SEEDS)}")
    if seed is not None and seed not in SEEDS:
        raise ApiError.single(400, "INVALID_INPUT", f"unknown seed {seed!r}: use one of {', '.join(SEEDS)}")
    scale = body.get("scale")
    if scale is not None and (not isinstance(scale, int) or scale < 0):
        raise ApiError.single(400, "INVALID_INPUT", "scale must be a non-negative integer")
    state.reset(seed, scale)
    counts = {
        name: state.org.store.count(name)
        for name in ("Account", "Contact", "Lead", "Opportunity", "OpportunityLineItem", "Product2", "User")
    }
    return json_response(request, {"seed": state.config.seed, "scale": scale, "counts": counts})


@endpoint
async def reset(request: Request) -> Response:
    """Wipe the org and reload the configured (or given) seed."""
    return await _reseed(request, False)


@endpoint
async def seed(request: Request) -> Response:
    """Wipe the org and load a seed."""
    return await _reseed(request, True)


@endpoint
async def requests_log(request: Request) -> Response:
    """The request log; DELETE zeroes it."""
    state = _state(request)
    if request.method == "DELETE":
        state.requests.clear()
        return empty_response(204)
    return json_response(request, state.requests.as_json())


@endpoint
async def changes(request: Request) -> Response:
    """Change events with a replay id above ``after``."""
    state = _state(request)
    q = request.query_params
    try:
        after = int(q.get("after", "0"))
        limit = min(int(q.get("limit", "1000")), 10_000)
    except ValueError:
        raise ApiError.single(400, "INVALID_INPUT", "after and limit must be integers") from None
    log = state.org.changes
    events = log.read_after(after, limit, q.get("entity"))
    return json_response(
        request,
        {
            "events": [e.as_json() for e in events],
            "latestReplayId": log.latest_replay_id(),
            "earliestReplayId": log.earliest_replay_id(),
        },
    )


def _config_json(state: SandboxState) -> dict[str, Any]:
    cfg = state.config
    return {
        "faults": state.org.faults.as_json(),
        "api_allocation": state.org.usage.allocation,
        "api_usage": state.org.usage.used,
        "token_lifetime_s": state.sessions.lifetime_s,
        "duplicate_rules": cfg.duplicate_rules,
        "duplicate_rule_action": cfg.duplicate_rule_action,
        "validation_rules": [vars(r) for r in cfg.validation_rules],
        "multi_currency": cfg.multi_currency,
        "api_version": cfg.api_version,
    }


@endpoint
async def config(request: Request) -> Response:
    """Show (GET) or change (PATCH) the runtime knobs."""
    state = _state(request)
    if request.method == "PATCH":
        body = await _optional_body(request)
        faults = state.org.faults.faults
        try:
            if "latency_ms" in body:
                faults.latency_ms = float(body["latency_ms"] or 0)
            if "latency_jitter_ms" in body:
                jitter = body["latency_jitter_ms"]
                faults.latency_jitter_ms = (float(jitter[0]), float(jitter[1])) if jitter else None
            if "server_error_rate" in body:
                faults.server_error_rate = float(body["server_error_rate"])
            if "lock_row_rate" in body:
                faults.lock_row_rate = float(body["lock_row_rate"])
            if "seed" in body:
                state.org.faults.reseed(int(body["seed"]))
            if "api_allocation" in body:
                state.org.usage.allocation = int(body["api_allocation"])
            if "token_lifetime_s" in body:
                state.sessions.lifetime_s = state.config.token_lifetime_s = float(body["token_lifetime_s"])
            if "duplicate_rules" in body:
                state.config.duplicate_rules = bool(body["duplicate_rules"])
            if "duplicate_rule_action" in body:
                if body["duplicate_rule_action"] not in ("alert", "block"):
                    raise ValueError("duplicate_rule_action must be alert or block")
                state.config.duplicate_rule_action = str(body["duplicate_rule_action"])
            if "validation_rules" in body:
                rules = [ValidationRule(**r) for r in body["validation_rules"] or []]
                state.org.set_validation_rules(rules)
        except (TypeError, ValueError, IndexError) as exc:
            raise ApiError.single(400, "INVALID_INPUT", str(exc)) from None
    return json_response(request, _config_json(state))


@endpoint
async def api_usage(request: Request) -> Response:
    """Set the number of API calls counted in the current window."""
    state = _state(request)
    body = await _optional_body(request)
    used = body.get("used")
    if not isinstance(used, int) or used < 0:
        raise ApiError.single(400, "INVALID_INPUT", "used must be a non-negative integer")
    state.org.usage.set_used(used)
    return json_response(request, {"used": state.org.usage.used, "allocation": state.org.usage.allocation})


@endpoint
async def clock(request: Request) -> Response:
    """Move the sandbox clock forward by ``advance_s`` seconds."""
    state = _state(request)
    body = await _optional_body(request)
    try:
        state.config.clock.advance(float(body.get("advance_s", 0)))
    except (TypeError, ValueError):
        raise ApiError.single(400, "INVALID_INPUT", "advance_s must be a number") from None
    return json_response(request, {"now": state.org.now().isoformat()})


@endpoint
async def expire_sessions(request: Request) -> Response:
    """Invalidate every access token (clients must re-authenticate)."""
    return json_response(request, {"expired": _state(request).sessions.expire_all()})


@endpoint
async def tokens(request: Request) -> Response:
    """Issue an access token for a user (default: the integration user)."""
    state = _state(request)
    body = await _optional_body(request)
    username = body.get("username")
    user_id = state.org.user_id
    if username:
        users = [
            u for u in state.org.live("User") if str(u.get("Username", "")).lower() == str(username).lower()
        ]
        if not users:
            raise ApiError.single(404, "NOT_FOUND", f"no user {username}")
        user_id = users[0]["Id"]
    return json_response(request, {"access_token": state.sessions.issue(user_id), "user_id": user_id})


@endpoint
async def convert_lead(request: Request) -> Response:
    """Convert a lead as the UI would (account, contact and optionally an opportunity)."""
    state = _state(request)
    body = await _optional_body(request)
    result = state.org.convert_lead(
        request.path_params["record_id"],
        account_id=body.get("accountId"),
        contact_id=body.get("contactId"),
        create_opportunity=not bool(body.get("doNotCreateOpportunity", False)),
        opportunity_name=body.get("opportunityName"),
        converted_status=str(body.get("convertedStatus") or "Closed - Converted"),
    )
    return json_response(request, result)


@endpoint
async def undelete(request: Request) -> Response:
    """Restore a record from the recycle bin."""
    state = _state(request)
    state.org.undelete(state.org.system_context(), request.path_params["record_id"])
    return json_response(request, {"id": request.path_params["record_id"], "success": True, "errors": []})


@endpoint
async def ui_records(request: Request) -> Response:
    """Create a record as a person in the UI would."""
    state = _state(request)
    org = state.org
    rid = org.create(org.system_context(), request.path_params["sobject"], await json_body(request))
    return json_response(request, {"id": rid, "success": True, "errors": []}, 201)


@endpoint
async def ui_record(request: Request) -> Response:
    """Update or delete a record as a person in the UI would."""
    state = _state(request)
    org = state.org
    type_name, rid = request.path_params["sobject"], request.path_params["record_id"]
    if request.method == "DELETE":
        org.delete(org.system_context(), type_name, rid)
    else:
        org.update(org.system_context(), type_name, rid, await json_body(request))
    return empty_response(204)

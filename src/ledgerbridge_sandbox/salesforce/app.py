"""The Salesforce sandbox as a Starlette ASGI application: ``create_app(config)``.

HTTP composition layer; imports every handler module and the state. A pure-ASGI ``Gateway``
in front of the routes does what Salesforce does around every data call (reference §2, §10):
checks the API version, the ``Authorization: Bearer`` session (401 INVALID_SESSION_ID), the
daily allocation (403 REQUEST_LIMIT_EXCEEDED), counts the call, adds ``Sforce-Limit-Info``,
injects latency and 503s, and records each call in the request log. OAuth and SOAP login,
the versions list and the ``/__sandbox__`` admin API are not counted.

Usage in tests without sockets::

    app = create_app(SalesforceSandboxConfig(seed="empty"))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sf") as c:
        ...
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerbridge_sandbox.salesforce import admin, bulk, composite, rest
from ledgerbridge_sandbox.salesforce.auth import (
    JWT_BEARER,
    OAuthError,
    parse_soap_login,
    soap_fault,
    soap_login_response,
    token_response,
    verify_jwt,
)
from ledgerbridge_sandbox.salesforce.config import SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.errors import MESSAGES
from ledgerbridge_sandbox.salesforce.org import CallContext
from ledgerbridge_sandbox.salesforce.responses import dumps, json_response
from ledgerbridge_sandbox.salesforce.state import SandboxState

_DATA = "/services/data/v"
_NO_CACHE = {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}


def _error_body(code: str, message: str) -> bytes:
    return dumps([{"message": message, "errorCode": code}])


async def _send_plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json;charset=UTF-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _call_options(value: str | None) -> str | None:
    if not value:
        return None
    for part in value.split(","):
        key, _, val = part.strip().partition("=")
        if key.strip().lower() == "client":
            return val.strip() or None
    return None


def _duplicate_header(value: str | None) -> tuple[bool, bool]:
    if not value:
        return False, False
    opts = {}
    for part in value.replace(",", ";").split(";"):
        key, _, val = part.strip().partition("=")
        opts[key.strip().lower()] = val.strip().lower() == "true"
    return opts.get("allowsave", False), opts.get("includerecorddetails", False)


class Gateway:
    """Auth, limits, faults, headers and request logging around the routes (pure ASGI).

    Args:
        app: the wrapped application.
        state: the sandbox state.
    """

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
            scope["path"] = path
        scope["sf.state"] = self.state
        if path.startswith("/__sandbox__"):
            token = self.state.config.admin_token
            if token and _header(scope, b"authorization") != f"Bearer {token}":
                await _send_plain(send, 401, _error_body("INVALID_SESSION_ID", "admin token required"), [])
                return
            await self.app(scope, receive, send)
            return
        if not path.startswith(_DATA):
            await self._logged(scope, receive, send, [])
            return
        await self._data_call(scope, receive, send, path)

    async def _logged(
        self, scope: Scope, receive: Receive, send: Send, extra_headers: list[tuple[bytes, bytes]]
    ) -> None:
        status = 500

        async def wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if extra_headers:
                    message = {**message, "headers": [*message.get("headers", []), *extra_headers]}
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            self.state.requests.add(scope["method"], template, status)

    async def _data_call(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        state = self.state
        version = path[len(_DATA) :].split("/", 1)[0]
        method = scope["method"]
        if version not in state.config.api_versions:
            state.requests.add(method, "/services/data/v{version}(unsupported)", 404)
            await _send_plain(send, 404, _error_body("NOT_FOUND", MESSAGES["NOT_FOUND"]), [])
            return
        auth = _header(scope, b"authorization") or ""
        scheme, _, token = auth.partition(" ")
        user_id = state.sessions.user_of(token.strip()) if scheme.lower() in {"bearer", "oauth"} else None
        if user_id is None:
            state.requests.add(method, "(unauthenticated)", 401)
            await _send_plain(
                send,
                401,
                _error_body("INVALID_SESSION_ID", MESSAGES["INVALID_SESSION_ID"]),
                [(b"www-authenticate", b'Token realm="Salesforce"')],
            )
            return
        usage = state.org.usage
        if usage.exhausted():
            state.requests.add(method, "(limit exceeded)", 403)
            await _send_plain(
                send,
                403,
                _error_body("REQUEST_LIMIT_EXCEEDED", MESSAGES["REQUEST_LIMIT_EXCEEDED"]),
                [(b"sforce-limit-info", usage.header().encode())],
            )
            return
        usage.count()
        faults = state.org.faults
        delay = faults.latency_s()
        if delay > 0:
            await asyncio.sleep(delay)
        limit_header = [(b"sforce-limit-info", usage.header().encode())]
        if faults.server_error():
            state.requests.add(method, "(injected 503)", 503)
            await _send_plain(
                send, 503, _error_body("SERVER_UNAVAILABLE", MESSAGES["SERVER_UNAVAILABLE"]), limit_header
            )
            return
        allow_save, details = _duplicate_header(_header(scope, b"sforce-duplicate-rule-header"))
        scope["sf.ctx"] = CallContext(
            user_id,
            version,
            _call_options(_header(scope, b"sforce-call-options")),
            "rest",
            allow_save,
            details,
        )
        await self._logged(scope, receive, send, limit_header)


# -- OAuth 2.0 token endpoint, SOAP login, identity ----------------------------------------------


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.scope["sf.state"]
    return state


def _base_url(request: Request) -> str:
    state = _state(request)
    return state.public_url or str(request.base_url).rstrip("/")


def _find_user(state: SandboxState, username: str) -> dict[str, Any] | None:
    wanted = username.lower()
    for user in state.org.live("User"):
        if str(user.get("Username", "")).lower() == wanted and user.get("IsActive", True):
            return user
    return None


def _oauth_error(err: OAuthError) -> Response:
    return Response(
        dumps(err.body()),
        status_code=err.status,
        media_type="application/json;charset=UTF-8",
        headers=_NO_CACHE,
    )


def _check_client(
    state: SandboxState, client_id: str | None, client_secret: str | None, secret_required: bool = True
) -> None:
    cfg = state.config
    if not client_id or client_id != cfg.client_id:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if (secret_required or client_secret) and client_secret != cfg.client_secret:
        raise OAuthError("invalid_client", "invalid client credentials")


async def oauth_token(request: Request) -> Response:
    """``POST /services/oauth2/token``: JWT bearer, client credentials, password, refresh token."""
    state = _state(request)
    cfg = state.config
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    if "json" in content_type:
        return _oauth_error(OAuthError("invalid_request", "grant type is missing"))
    form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    form.update({k: v for k, v in request.query_params.items() if k not in form})
    grant = form.get("grant_type")
    base = _base_url(request)
    now = state.org.now()
    try:
        if not grant:
            raise OAuthError("invalid_request", "grant type is missing")
        scope: str | None = None
        if grant == JWT_BEARER:
            subject = verify_jwt(
                form.get("assertion", ""),
                state.jwt_public_key,
                client_id=cfg.client_id,
                audiences=[*cfg.jwt_audiences, base],
                now=now,
            )
            user = _find_user(state, subject)
            if user is None:
                raise OAuthError("invalid_grant", "user hasn't approved this consumer")
            scope = "api"
        elif grant == "client_credentials":
            client_id, secret = form.get("client_id"), form.get("client_secret")
            basic = request.headers.get("authorization", "")
            if basic.lower().startswith("basic "):
                try:
                    client_id, _, secret = base64.b64decode(basic[6:].strip()).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise OAuthError("invalid_client", "invalid client credentials") from None
            host = (request.headers.get("host") or "").lower()
            if host.startswith(("login.", "test.")):
                raise OAuthError("invalid_grant", "request not supported on this domain")
            _check_client(state, client_id, secret)
            user = state.org.get_live("User", state.org.user_id)
            scope = "api"
        elif grant == "password":
            _check_client(state, form.get("client_id"), form.get("client_secret"))
            user = _find_user(state, form.get("username", ""))
            if (
                user is None
                or user["Id"] != state.org.user_id
                or form.get("password") != cfg.password + cfg.security_token
            ):
                raise OAuthError("invalid_grant", "authentication failure")
        elif grant == "refresh_token":
            _check_client(state, form.get("client_id"), form.get("client_secret"), secret_required=False)
            user_id = state.sessions.user_of(form.get("refresh_token", ""), "refresh")
            if user_id is None:
                raise OAuthError("invalid_grant", "expired access/refresh token")
            user = state.org.get_live("User", user_id)
            scope = "refresh_token api"
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        if user is None:
            raise OAuthError("invalid_grant", "authentication failure")
    except OAuthError as err:
        return _oauth_error(err)
    token = state.sessions.issue(user["Id"])
    body = token_response(
        access_token=token,
        instance_url=base,
        org_id=state.org_id,
        user_id=user["Id"],
        client_secret=cfg.client_secret,
        issued=now,
        scope=scope,
    )
    return Response(dumps(body), media_type="application/json;charset=UTF-8", headers=_NO_CACHE)


async def oauth_revoke(request: Request) -> Response:
    """``POST /services/oauth2/revoke``: invalidate a token (200 even if unknown)."""
    state = _state(request)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    token = form.get("token") or request.query_params.get("token") or ""
    state.sessions.revoke(token)
    return Response(status_code=200)


async def soap_login(request: Request) -> Response:
    """``POST /services/Soap/u/NN.0`` (and ``/c/``): the partner API ``login`` call."""
    state = _state(request)
    cfg = state.config
    version = request.path_params["version"]
    login = parse_soap_login(await request.body())

    def fault(code: str, text: str) -> Response:
        return Response(soap_fault(code, text), status_code=500, media_type="text/xml; charset=utf-8")

    if login is None:
        return fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
    user = _find_user(state, login.username)
    good = login.password == cfg.password + cfg.security_token or (
        login.password == cfg.password
        and login.organization_id is not None
        and login.organization_id[:15] == state.org_id[:15]
    )
    if user is None or user["Id"] != state.org.user_id or not good:
        return fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
    token = state.sessions.issue(user["Id"])
    xml = soap_login_response(
        instance_url=_base_url(request),
        version=version,
        org_id=state.org_id,
        org_name=cfg.org_name,
        session_id=token,
        user=user,
        lifetime_s=state.sessions.lifetime_s,
        currency=cfg.corporate_currency,
        multi_currency=cfg.multi_currency,
    )
    return Response(xml, media_type="text/xml; charset=utf-8")


async def identity(request: Request) -> Response:
    """``GET /id/{orgId}/{userId}``: the identity URL of the token response (Bearer required)."""
    state = _state(request)
    auth = request.headers.get("authorization", "")
    user_id = state.sessions.user_of(auth.partition(" ")[2].strip())
    if user_id is None:
        return Response("Bad_OAuth_Token", status_code=403)
    user = state.org.get_live("User", request.path_params["user_id"])
    if user is None or request.path_params["org_id"][:15] != state.org_id[:15]:
        return Response("Bad_Id", status_code=404)
    base = _base_url(request)
    return json_response(
        request,
        {
            "id": f"{base}/id/{state.org_id}/{user['Id']}",
            "asserted_user": user["Id"] == user_id,
            "user_id": user["Id"],
            "organization_id": state.org_id,
            "username": user["Username"],
            "nick_name": user.get("CommunityNickname"),
            "display_name": user.get("Name"),
            "email": user.get("Email"),
            "email_verified": True,
            "first_name": user.get("FirstName"),
            "last_name": user.get("LastName"),
            "timezone": user.get("TimeZoneSidKey"),
            "active": True,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "last_modified_date": user.get("LastModifiedDate"),
            "urls": {
                "rest": f"{base}/services/data/v{{version}}/",
                "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
                "query": f"{base}/services/data/v{{version}}/query/",
            },
        },
    )


async def not_found(request: Request, exc: Exception) -> Response:
    """Unknown routes answer like Salesforce."""
    status = getattr(exc, "status_code", 404)
    if status == 405:
        body = [
            {"errorCode": "METHOD_NOT_ALLOWED", "message": f"HTTP Method '{request.method}' not allowed."}
        ]
        return json_response(request, body, 405)
    return json_response(request, [{"errorCode": "NOT_FOUND", "message": MESSAGES["NOT_FOUND"]}], 404)


def routes() -> list[Route]:
    """The route table (paths without trailing slashes; the gateway strips them)."""
    d = "/services/data/v{version}"
    rw = ["GET", "PATCH", "DELETE"]
    return [
        Route("/services/data", rest.versions, methods=["GET"]),
        Route(d, rest.resources, methods=["GET"]),
        Route(d + "/limits", rest.limits, methods=["GET"]),
        Route(d + "/limits/recordCount", rest.record_count, methods=["GET"]),
        Route(d + "/sobjects", rest.describe_global, methods=["GET"]),
        Route(d + "/sobjects/{sobject}", rest.sobject_root, methods=["GET", "POST"]),
        Route(d + "/sobjects/{sobject}/describe", rest.describe, methods=["GET"]),
        Route(d + "/sobjects/{sobject}/updated", rest.updated, methods=["GET"]),
        Route(d + "/sobjects/{sobject}/deleted", rest.deleted, methods=["GET"]),
        Route(d + "/sobjects/{sobject}/{record_id}", rest.record, methods=rw),
        Route(d + "/sobjects/{sobject}/{field}/{value:path}", rest.external, methods=rw),
        Route(d + "/query", rest.query, methods=["GET"]),
        Route(d + "/query/{locator}", rest.query_more, methods=["GET"]),
        Route(d + "/queryAll", rest.query_all, methods=["GET"]),
        Route(d + "/queryAll/{locator}", rest.query_more, methods=["GET"]),
        Route(d + "/composite", composite.composite, methods=["POST"]),
        Route(d + "/composite/batch", composite.batch, methods=["POST"]),
        Route(d + "/composite/graph", composite.graph, methods=["POST"]),
        Route(d + "/composite/tree/{sobject}", composite.tree, methods=["POST"]),
        Route(d + "/composite/sobjects", composite.collections, methods=["POST", "PATCH", "DELETE"]),
        Route(d + "/composite/sobjects/{sobject}", composite.collections_typed, methods=["GET", "POST"]),
        Route(d + "/composite/sobjects/{sobject}/{field}", composite.collections_upsert, methods=["PATCH"]),
        Route(d + "/jobs/ingest", bulk.ingest_root, methods=["GET", "POST"]),
        Route(d + "/jobs/ingest/{job_id}", bulk.ingest_job, methods=rw),
        Route(d + "/jobs/ingest/{job_id}/batches", bulk.ingest_batches, methods=["PUT"]),
        Route(d + "/jobs/ingest/{job_id}/{kind}", bulk.ingest_results, methods=["GET"]),
        Route(d + "/jobs/query", bulk.query_root, methods=["GET", "POST"]),
        Route(d + "/jobs/query/{job_id}", bulk.query_job, methods=rw),
        Route(d + "/jobs/query/{job_id}/results", bulk.query_results, methods=["GET"]),
        Route("/services/oauth2/token", oauth_token, methods=["POST"]),
        Route("/services/oauth2/revoke", oauth_revoke, methods=["POST"]),
        Route("/services/Soap/u/{version}", soap_login, methods=["POST"]),
        Route("/services/Soap/c/{version}", soap_login, methods=["POST"]),
        Route("/services/Soap/u/{version}/{org}", soap_login, methods=["POST"]),
        Route("/id/{org_id}/{user_id}", identity, methods=["GET"]),
        Route("/__sandbox__", admin.info, methods=["GET"]),
        Route("/__sandbox__/info", admin.info, methods=["GET"]),
        Route("/__sandbox__/reset", admin.reset, methods=["POST"]),
        Route("/__sandbox__/seed", admin.seed, methods=["POST"]),
        Route("/__sandbox__/requests", admin.requests_log, methods=["GET", "DELETE"]),
        Route("/__sandbox__/changes", admin.changes, methods=["GET"]),
        Route("/__sandbox__/config", admin.config, methods=["GET", "PATCH"]),
        Route("/__sandbox__/api-usage", admin.api_usage, methods=["POST"]),
        Route("/__sandbox__/clock", admin.clock, methods=["POST"]),
        Route("/__sandbox__/sessions/expire", admin.expire_sessions, methods=["POST"]),
        Route("/__sandbox__/tokens", admin.tokens, methods=["POST"]),
        Route("/__sandbox__/leads/{record_id}/convert", admin.convert_lead, methods=["POST"]),
        Route("/__sandbox__/records/{record_id}/undelete", admin.undelete, methods=["POST"]),
        Route("/__sandbox__/records/{sobject}", admin.ui_records, methods=["POST"]),
        Route("/__sandbox__/records/{sobject}/{record_id}", admin.ui_record, methods=["PATCH", "DELETE"]),
    ]


def create_app(
    config: SalesforceSandboxConfig | None = None, *, state: SandboxState | None = None
) -> Starlette:
    """Build the sandbox ASGI app.

    Args:
        config: the org settings (defaults: in-memory, demo seed).
        state: an existing state to serve instead of building one from ``config``.

    Returns:
        The Starlette app; its ``state.sandbox`` attribute is the ``SandboxState``.
    """
    sandbox = state or SandboxState(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sandbox.loop = asyncio.get_running_loop()
        yield
        sandbox.bulk.clear()

    app = Starlette(
        routes=routes(),
        middleware=[Middleware(GZipMiddleware, minimum_size=1024), Middleware(Gateway, state=sandbox)],
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    return app

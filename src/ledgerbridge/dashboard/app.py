"""The dashboard application: routes, login, sessions, CSRF checks, health and metrics endpoints.

Layer ``dashboard`` (a front end): imports ``ledgerbridge.core`` and the dashboard's own modules;
the data comes from a :class:`~ledgerbridge.dashboard.backend.DashboardBackend` given by the caller.

Request handling, in order: the ``Host`` header must be allowed (DNS-rebinding guard); the
session cookie is checked (signature, expiry, revocation); without a login, pages redirect to
``/login`` and the JSON API answers 401 (a bearer token also works there); every POST must come
from our own origin and carry the session's CSRF token (bearer-token calls are exempt: browsers
never add that header by themselves). Every response gets a strict Content Security Policy.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import structlog
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerbridge.core.ports import Clock, SystemClock
from ledgerbridge.dashboard import api, views
from ledgerbridge.dashboard.backend import DashboardBackend
from ledgerbridge.dashboard.layout import Ctx, Flash, page
from ledgerbridge.dashboard.markup import Safe, render
from ledgerbridge.dashboard.security import LoginThrottle, Session, SessionCodec, Signer, matches_any
from ledgerbridge.dashboard.settings import DashboardSettings, require_auth_for_host

__all__ = ["SESSION_COOKIE", "create_dashboard", "dashboard_server", "serve_dashboard"]

SESSION_COOKIE = "lb_session"
FLASH_COOKIE = "lb_flash"
STATIC_DIR = Path(__file__).parent / "static"
Kind = Literal["page", "action", "api", "api_action", "metrics"]
Handler = Callable[[Ctx], Awaitable[Response]]

_log = structlog.get_logger("ledgerbridge.dashboard")

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
_SECURITY_HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin")  # "no-referrer" would make POSTs send "Origin: null",
]


class _SecurityHeaders:
    """Adds the security headers to every response, and ``no-store`` to everything but static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_SECURITY_HEADERS)
                if not is_static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error_message(exc: Exception) -> str:
    # KeyError's str() is its repr; show the message a person should read.
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _safe_next(value: str | None) -> str:
    """Only same-site absolute paths are followed after login (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class _Dashboard:
    """Holds the backend, settings and session machinery; builds guarded endpoints."""

    def __init__(self, backend: DashboardBackend, settings: DashboardSettings, clock: Clock) -> None:
        self.backend = backend
        self.settings = settings
        self.clock = clock
        secret = (settings.session_secret.get_secret_value().encode() if settings.session_secret
                  else secrets.token_bytes(32))
        # The key also depends on the credentials: changing the password ends every session, and a
        # session made while no password was set is worthless once one is.
        fingerprint = hashlib.sha256("\x00".join(settings.credentials()).encode()).digest()
        key = hmac.new(secret, b"ledgerbridge.dashboard\x00" + fingerprint, hashlib.sha256).digest()
        self.signer = Signer(key)
        self.sessions = SessionCodec(self.signer, settings.session_ttl_s)
        self.throttle = LoginThrottle(settings.max_login_failures)
        self.trusted_origins = {o.rstrip("/").lower() for o in settings.trusted_origins}

    # -- plumbing ---------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now().timestamp()

    def _bearer_ok(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token) and matches_any(token.strip(),
                                                                          self.settings.credentials())

    def _same_origin(self, request: Request) -> bool:
        if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
            return False
        origin = request.headers.get("origin") or request.headers.get("referer")
        if not origin or origin == "null":
            return origin is None
        parts = urlsplit(origin)
        if f"{parts.scheme}://{parts.netloc}".lower() in self.trusted_origins:
            return True  # behind a proxy that rewrites Host
        return parts.netloc.lower() == request.headers.get("host", "").lower()

    def _set_session(self, response: Response, session: Session, request: Request) -> None:
        response.set_cookie(SESSION_COOKIE, self.sessions.encode(session),
                            max_age=max(1, int(session.expires_at - self.now())), httponly=True,
                            samesite="strict", path="/",
                            secure=self.settings.secure_cookies or request.url.scheme == "https")

    def _flash_in(self, request: Request) -> Flash | None:
        raw = request.cookies.get(FLASH_COOKIE)
        value = self.signer.unsign("flash", raw) if raw else None
        if not value:
            return None
        level, message = value.get("l"), value.get("m")
        if level not in ("ok", "error", "info") or not isinstance(message, str):
            return None
        return Flash(level, message)

    def _finish(self, response: Response, ctx: Ctx, request: Request,
                new_session: Session | None) -> Response:
        if new_session is not None:
            self._set_session(response, new_session, request)
        if ctx.next_flash is not None:
            response.set_cookie(FLASH_COOKIE, self.signer.sign("flash", {"l": ctx.next_flash.level,
                                                                         "m": ctx.next_flash.message[:1500]}),
                                max_age=60, httponly=True, samesite="strict", path="/")
        elif ctx.flash is not None:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def _ctx(self, request: Request, session: Session | None) -> Ctx:
        return Ctx(request=request, backend=self.backend, settings=self.settings, now=self.clock.now(),
                   csrf=session.csrf if session else "", show_logout=self.settings.auth_required and
                   session is not None and session.authenticated)

    def _forbidden(self, request: Request, kind: Kind, why: str) -> Response:
        _log.warning("dashboard.request.forbidden", path=request.url.path, reason=why)
        if kind in ("api", "api_action", "metrics"):
            return JSONResponse({"error": why}, status_code=403)
        ctx = self._ctx(request, None)
        return page(ctx, title="Forbidden", active="", status_code=403, bare=True, body=render(
            '<p>$why</p><p><a href="$back">Back to the dashboard</a></p>', why=why, back=ctx.url("/")))

    def guard(self, handler: Handler, kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler with authentication, CSRF and origin checks, and error pages."""

        async def endpoint(request: Request) -> Response:
            now = self.now()
            session = self.sessions.decode(request.cookies.get(SESSION_COOKIE), now)
            bearer = kind != "page" and kind != "action" and self._bearer_ok(request)
            new_session: Session | None = None
            logged_in = session is not None and session.authenticated
            if self.settings.auth_required and not logged_in and not bearer:
                if kind in ("page", "action"):
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    ctx = self._ctx(request, None)
                    if session is None and request.cookies.get(SESSION_COOKIE):
                        ctx.flash_next("info", "Your session has ended; please log in again.")
                    return self._finish(RedirectResponse(ctx.url("/login", next=target), status_code=303),
                                        ctx, request, None)
                return JSONResponse({"error": "authentication required"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Bearer realm="ledgerbridge"'})
            if not self.settings.auth_required and session is None:
                session = new_session = self.sessions.new(now, authenticated=True)
            if request.method not in ("GET", "HEAD", "OPTIONS") and not bearer:
                if not self._same_origin(request):
                    return self._forbidden(request, kind, "Cross-origin request refused.")
                token = request.headers.get("x-csrf-token")
                if token is None and kind == "action":
                    token = str((await request.form()).get("csrf", ""))
                if session is None or new_session is not None or not token or \
                        not hmac.compare_digest(token, session.csrf):
                    return self._forbidden(request, kind, "Missing or wrong CSRF token; reload the page "
                                                          "and try again.")
            ctx = self._ctx(request, session)
            ctx.flash = self._flash_in(request)
            try:
                response = await handler(ctx)
            except LookupError as exc:
                response = self._error(ctx, kind, 404, "Not found", _error_message(exc))
            except ValueError as exc:
                response = self._error(ctx, kind, 400, "Cannot do that", _error_message(exc))
            return self._finish(response, ctx, request, new_session)

        return endpoint

    def _error(self, ctx: Ctx, kind: Kind, status: int, title: str, message: str) -> Response:
        if kind in ("api", "api_action", "metrics"):
            return JSONResponse({"error": message}, status_code=status)
        referer = ctx.request.headers.get("referer", "")
        if kind == "action" and referer and urlsplit(referer).netloc == ctx.request.headers.get("host"):
            ctx.flash_next("error", message)
            parts = urlsplit(referer)
            return RedirectResponse(parts.path + (f"?{parts.query}" if parts.query else ""), status_code=303)
        return page(ctx, title=title, active="", status_code=status,
                    body=render('<p class="error-box">$m</p><p><a href="$u">Back to the overview</a></p>',
                                m=message, u=ctx.url("/")))

    # -- login ------------------------------------------------------------------------------------
    def _login_form(self, request: Request, session: Session, *, message: str = "",
                    status_code: int = 200, next_: str | None = None) -> Response:
        ctx = self._ctx(request, session)
        nxt = _safe_next(next_ if next_ is not None else request.query_params.get("next"))
        body = render(
            '<form class="login" method="post" action="$a">$csrf$msg<label for="password">Password or '
            'access token</label><input type="password" id="password" name="password" '
            'autocomplete="current-password" required autofocus><input type="hidden" name="next" '
            'value="$next"><button type="submit">Log in</button></form>',
            a=ctx.url("/login"), csrf=ctx.csrf_field(), next=nxt,
            msg=render('<p class="flash error" role="alert">$m</p>', m=message) if message else Safe(""))
        ctx.flash = self._flash_in(request)
        response = page(ctx, title="Log in", active="", body=body, status_code=status_code, bare=True)
        return self._finish(response, ctx, request, None)

    async def login_get(self, request: Request) -> Response:
        """The login form (with a pre-login session that carries its CSRF token)."""
        if not self.settings.auth_required:
            return RedirectResponse(self._ctx(request, None).url("/"), status_code=303)
        now = self.now()
        session = self.sessions.decode(request.cookies.get(SESSION_COOKIE), now)
        if session is not None and session.authenticated:
            return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        fresh = session is None
        session = session or self.sessions.new(now, authenticated=False)
        response = self._login_form(request, session)
        if fresh:
            self._set_session(response, session, request)
        return response

    async def login_post(self, request: Request) -> Response:
        """Check the password; on success start a new session (a new id: no session fixation)."""
        if not self.settings.auth_required:
            return RedirectResponse(self._ctx(request, None).url("/"), status_code=303)
        now = self.now()
        session = self.sessions.decode(request.cookies.get(SESSION_COOKIE), now)
        form = await request.form()
        token = str(form.get("csrf", ""))
        if not self._same_origin(request):
            return self._forbidden(request, "action", "Cross-origin login refused.")
        if session is None:  # the pre-login session ran out while the form was open: offer a fresh one
            session = self.sessions.new(now, authenticated=False)
            response = self._login_form(request, session, message="The login form expired; please try again.",
                                        status_code=400, next_=str(form.get("next", "")))
            self._set_session(response, session, request)
            return response
        if not hmac.compare_digest(token, session.csrf):
            return self._forbidden(request, "action", "The login form came from another page; reload it.")
        client = request.client.host if request.client else "unknown"
        if self.throttle.is_blocked(client, now):
            _log.warning("dashboard.login.throttled", client=client)
            return self._login_form(request, session, message="Too many failed logins; wait a few minutes.",
                                    status_code=429, next_=str(form.get("next", "")))
        if not matches_any(str(form.get("password", "")), self.settings.credentials()):
            self.throttle.failed(client, now)
            _log.warning("dashboard.login.failed", client=client)
            return self._login_form(request, session, message="Wrong password.", status_code=401,
                                    next_=str(form.get("next", "")))
        self.throttle.succeeded(client)
        _log.info("dashboard.login.ok", client=client)
        self.sessions.revoke(session, now)
        response = RedirectResponse(_safe_next(str(form.get("next", ""))), status_code=303)
        self._set_session(response, self.sessions.new(now, authenticated=True), request)
        return response

    async def logout(self, ctx: Ctx) -> Response:
        """End the session (its cookie stops working even if copied)."""
        now = self.now()
        session = self.sessions.decode(ctx.request.cookies.get(SESSION_COOKIE), now)
        if session is not None:
            self.sessions.revoke(session, now)
        target = "/login" if self.settings.auth_required else "/"
        response = RedirectResponse(ctx.url(target), status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- health and metrics -----------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        """Liveness: the process answers."""
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        """Readiness: the backend says it can serve."""
        try:
            ready = await self.backend.ready()
        except Exception as exc:  # readiness must answer, whatever the backend does
            _log.warning("dashboard.ready.error", error=type(exc).__name__)
            return PlainTextResponse("not ready", status_code=503)
        if ready.ok:
            return PlainTextResponse("ready")
        return PlainTextResponse(f"not ready: {ready.detail}".rstrip(": "), status_code=503)

    async def metrics(self, ctx: Ctx) -> Response:
        """Prometheus text exposition of the configured registry."""
        registry = self.settings.registry if self.settings.registry is not None else REGISTRY
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _path(name: str) -> Callable[[Ctx], str]:
    return lambda ctx: str(ctx.request.path_params[name])


def create_dashboard(backend: DashboardBackend, settings: DashboardSettings | None = None, *,
                     clock: Clock | None = None) -> Starlette:
    """Build the dashboard ASGI application.

    Args:
        backend: where every page gets its data and sends its actions.
        settings: authentication, session and export settings (defaults: no login, loopback hosts).
        clock: time source for sessions and "5 min ago" labels (tests inject a fixed one).

    Returns:
        A Starlette app; serve it with :func:`serve_dashboard` or any ASGI server.
    """
    settings = settings or DashboardSettings()
    d = _Dashboard(backend, settings, clock or SystemClock())
    dl_id, rv_id, rec_id = _path("id"), _path("id"), _path("record_id")

    async def form(ctx: Ctx) -> FormData:
        return await ctx.request.form()

    pages: list[tuple[str, Handler]] = [
        ("/", views.overview_page),
        ("/records", views.records_page),
        ("/records/{record_id:path}", lambda c: views.lineage_page(c, rec_id(c))),
        ("/dead-letters", views.dead_letters_page),
        ("/dead-letters/{id}", lambda c: views.dead_letter_page(c, dl_id(c))),
        ("/reviews", views.reviews_page),
        ("/reviews/{id}", lambda c: views.review_page(c, rv_id(c))),
        ("/conflicts", views.conflicts_page),
        ("/flows", views.flows_page),
        ("/forecast", views.forecast_page),
        ("/forecast.csv", views.forecast_csv),
    ]

    async def retry(c: Ctx) -> Response:
        return await views.dead_letter_retry(c, dl_id(c), await form(c))

    async def retry_many(c: Ctx) -> Response:
        return await views.dead_letters_retry_many(c, await form(c))

    async def discard(c: Ctx) -> Response:
        return await views.dead_letter_discard(c, dl_id(c), await form(c))

    async def review(c: Ctx) -> Response:
        return await views.resolve_review(c, rv_id(c), await form(c))

    async def conflicts(c: Ctx) -> Response:
        return await views.resolve_conflicts(c, await form(c))

    async def control(c: Ctx) -> Response:
        return await views.link_control(c, _path("link")(c), _path("action")(c))

    actions: list[tuple[str, Handler]] = [
        ("/dead-letters/retry", retry_many),
        ("/dead-letters/{id}/retry", retry),
        ("/dead-letters/{id}/discard", discard),
        ("/reviews/{id}", review),
        ("/conflicts/resolve", conflicts),
        ("/links/{link}/{action}", control),
        ("/logout", d.logout),
    ]
    routes: list[BaseRoute] = [
        Route("/login", d.login_get, methods=["GET"]),
        Route("/login", d.login_post, methods=["POST"]),
        Route("/healthz", d.healthz, methods=["GET"]),
        Route("/readyz", d.readyz, methods=["GET"]),
        Route("/metrics", d.guard(d.metrics, "metrics"), methods=["GET"]),
        *(Route(path, d.guard(h, "action"), methods=["POST"]) for path, h in actions),
        *(Route(path, d.guard(h, "page"), methods=["GET"]) for path, h in pages),
        *(Route(path, d.guard(h, "api"), methods=["GET"]) for path, h in api.READ_ROUTES),
        *(Route(path, d.guard(h, "api_action"), methods=["POST"]) for path, h in api.ACTION_ROUTES),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = [Middleware(_SecurityHeaders),
                  Middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.dashboard_settings = settings
    return app


def dashboard_server(app: Starlette, host: str = "127.0.0.1", port: int = 8765, *,
                     log_level: str = "warning") -> uvicorn.Server:
    """A configured uvicorn server for the dashboard, after checking the bind address is safe.

    Args:
        app: what :func:`create_dashboard` returned.
        host: address to bind (loopback by default).
        port: TCP port (0 picks a free one).
        log_level: uvicorn's log level.

    Returns:
        The server; ``await server.serve()`` runs it, ``server.should_exit = True`` stops it.

    Raises:
        ConfigError: ``host`` is not loopback and the dashboard has no password or access token.
    """
    settings = getattr(app.state, "dashboard_settings", None)
    require_auth_for_host(host, settings if isinstance(settings, DashboardSettings) else DashboardSettings())
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            lifespan="off", server_header=False)
    return uvicorn.Server(config)


async def serve_dashboard(app: Starlette, host: str = "127.0.0.1", port: int = 8765, *,
                          log_level: str = "warning") -> None:
    """Serve the dashboard with uvicorn until cancelled (see :func:`dashboard_server`).

    Raises:
        ConfigError: ``host`` is not loopback and the dashboard has no password or access token.
    """
    await dashboard_server(app, host, port, log_level=log_level).serve()

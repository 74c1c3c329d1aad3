"""Push calls as the LedgerBridge User Event script would send them, for changes made "in the UI".

Layer: sandbox service around the app (pure ASGI); imports nothing of the sandbox but its request
paths. The script (``integrations/netsuite/ledgerbridge_ue.js``) runs afterSubmit on every record save
except those made through web services, and posts::

    POST <url>
    Content-Type: application/json
    X-LedgerBridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

    {"recordType":"customer","id":"647","eventType":"edit"}

In the sandbox the admin API's ``/__sandbox__/ui/record/...`` routes stand for the NetSuite UI, and
the REST web services for everything an integration does. :class:`PushMiddleware` watches the UI
routes: after a successful create (201), edit (PATCH, 204) or delete (DELETE, 204) it sends the call
above in the background, so the "save" never waits for it and never fails because of it (as in the
script, errors are only counted). REST writes are never pushed, which is how LedgerBridge's own
writes do not echo back.

Configure it with ``--push-url URL --push-secret SECRET`` on the command line, or at run time::

    PUT    /__sandbox__/push   {"url": "http://127.0.0.1:8780/webhooks/netsuite", "secret": "..."}
    GET    /__sandbox__/push   -> {"enabled", "url", "sent", "failed", "pending", "last_error"}
    DELETE /__sandbox__/push   (stop pushing)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SIGNATURE_HEADER", "PushMiddleware", "Pusher", "configure_push", "install_push", "sign"]

SIGNATURE_HEADER = "X-LedgerBridge-Signature"
ADMIN_PATH = "/__sandbox__/push"
_UI_RECORD = re.compile(r"^/__sandbox__/ui/record/(?P<rtype>[^/]+)(?:/(?P<rid>[^/]+))?/?$")
_EVENTS = {("POST", 201): "create", ("PATCH", 204): "edit", ("DELETE", 204): "delete"}


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value the script computes: ``t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Pusher:
    """Where to push and what happened so far.

    Attributes:
        url: the webhook URL (``None``: pushing is off).
        secret: the shared HMAC key.
        timeout_s: per call (NetSuite allows 5 s to connect, 45 s in all).
        now: unix seconds for the signature timestamp.
    """

    url: str | None = None
    secret: str = ""
    timeout_s: float = 10.0
    now: Callable[[], float] = time.time
    sent: int = 0
    failed: int = 0
    last_error: str | None = None
    _tasks: set[asyncio.Task[bool]] = field(default_factory=set)
    _client: httpx2.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        """Whether calls are sent."""
        return bool(self.url and self.secret)

    def status(self) -> dict[str, Any]:
        """The admin API's view (the secret is never shown)."""
        return {"enabled": self.enabled, "url": self.url, "sent": self.sent, "failed": self.failed,
                "pending": len(self._tasks), "last_error": self.last_error}

    def schedule(self, record_type: str, record_id: str, event_type: str) -> None:
        """Send one call in the background (the caller never waits)."""
        if not self.enabled:
            return
        task = asyncio.create_task(self.deliver(record_type, record_id, event_type))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, record_type: str, record_id: str, event_type: str) -> bool:
        """Send one call now; True when the receiver answered 2xx."""
        url, secret = self.url, self.secret
        if not url or not secret:
            return False
        body = json.dumps({"recordType": record_type, "id": record_id, "eventType": event_type},
                          separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body, int(self.now()))}
        try:
            if self._client is None:
                self._client = httpx2.AsyncClient(timeout=self.timeout_s, trust_env=False)
            response = await self._client.post(url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            self.failed += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        if response.is_success:
            self.sent += 1
            return True
        self.failed += 1
        self.last_error = f"HTTP {response.status_code}: {response.text[:200]}"
        return False

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for calls in flight (tests; shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def aclose(self) -> None:
        """Finish calls in flight and close the HTTP client."""
        await self.drain()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class PushMiddleware:
    """Sends push calls after successful UI-route writes and serves ``/__sandbox__/push``.

    Args:
        app: the sandbox app.
        pusher: the settings and counters.
        resolve: ``(path type, URL id) -> (record type, internal id)``; turns ``eid:`` ids and
            URL spellings into what the script would see (``None``: the record is unknown).
    """

    def __init__(self, app: ASGIApp, pusher: Pusher,
                 resolve: Callable[[str, str | None], tuple[str, str | None] | None]) -> None:
        self.app = app
        self.pusher = pusher
        self.resolve = resolve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        if path.rstrip("/") == ADMIN_PATH:
            await self._admin(scope, receive, send)
            return
        match = _UI_RECORD.match(path)
        method = str(scope["method"])
        if match is None or not self.pusher.enabled or method not in {"POST", "PATCH", "DELETE"}:
            await self.app(scope, receive, send)
            return
        # Resolve before the call: after a delete the record (and its eid:) is gone.
        target = self.resolve(match["rtype"], match["rid"])
        status = [0]
        chunks: list[bytes] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            elif message["type"] == "http.response.body" and method == "POST":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        await self.app(scope, receive, watch)
        event = _EVENTS.get((method, status[0]))
        if event is None or target is None:
            return
        record_type, record_id = target
        if record_id is None:  # a create: the new id is in the answer
            try:
                record_id = str(json.loads(b"".join(chunks))["id"])
            except (ValueError, KeyError, TypeError):
                return
        self.pusher.schedule(record_type, record_id, event)

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope["method"])
        status = 200
        if method == "PUT":
            raw = b""
            more = True
            while more:
                message = await receive()
                raw += bytes(message.get("body", b""))
                more = bool(message.get("more_body"))
            try:
                body = json.loads(raw or b"{}")
                url, secret = body["url"], body["secret"]
                if not isinstance(url, str) or not re.match(r"^https?://", url):
                    raise ValueError("url must be an http(s) URL")
                if not isinstance(secret, str) or not secret:
                    raise ValueError("secret must be a non-empty string")
            except (ValueError, KeyError, TypeError) as exc:
                await _json(send, 400, {"error": f"send {{\"url\": ..., \"secret\": ...}}: {exc}"})
                return
            self.pusher.url, self.pusher.secret = url, secret
        elif method == "DELETE":
            self.pusher.url, self.pusher.secret = None, ""
        elif method != "GET":
            status = 405
        await _json(send, status, self.pusher.status() if status == 200 else {"error": "GET, PUT or DELETE"})


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def install_push(app: Starlette) -> Pusher:
    """Add :class:`PushMiddleware` to a sandbox app (off until configured); return its settings."""
    pusher = Pusher()
    sandbox = app.state.sandbox

    def resolve(path_type: str, ident: str | None) -> tuple[str, str | None] | None:
        try:
            rtype = str(sandbox.records.record_type(path_type))
            return rtype, (str(sandbox.records.resolve_id(rtype, ident)) if ident is not None else None)
        except Exception:  # unknown type or id: the call fails and nothing is pushed
            return None

    app.add_middleware(PushMiddleware, pusher=pusher, resolve=resolve)
    app.state.pusher = pusher
    return pusher


def configure_push(app: Starlette, url: str | None, secret: str | None) -> Pusher:
    """Point an installed pusher at a webhook (both ``None``: leave it off)."""
    pusher: Pusher = app.state.pusher
    if url and secret:
        pusher.url, pusher.secret = url, secret
    return pusher

"""The NetSuite push receiver: a small ASGI app that turns signed "record X changed" calls into changes.

Layer ``app`` (imports ``ledgerbridge.core`` only). The sender is the SuiteScript User Event in
``integrations/netsuite/ledgerbridge_ue.js``; the wire contract is:

- ``POST`` with a JSON body of exactly ``{"recordType": str, "id": str, "eventType": str}`` — ids
  only, never field data (the engine is level-triggered and reads the record itself);
- header ``X-LedgerBridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
  (:func:`sign_webhook` builds it).

Checks, in order, each answered with a JSON error and nothing queued: rate (429), body size counted
while streaming (413), signature present, well-formed, fresh (``|now - t|`` within the replay window),
correct for one of the configured secrets (several may be active while a secret is rotated) and not
seen before within the window (401), body shape (400). A good call is answered ``202`` at once and
handed to ``submit`` as a :class:`~ledgerbridge.core.records.Change`; the work happens elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog
from pydantic import SecretBytes, SecretStr
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ledgerbridge.core.ports import SystemClock
from ledgerbridge.core.records import Change, ChangeKind, System

__all__ = [
    "SIGNATURE_HEADER",
    "WebhookClock",
    "create_webhook_app",
    "sign_webhook",
]

SIGNATURE_HEADER = "X-LedgerBridge-Signature"

# context.UserEventType values the push script sends (NetSuite help, "afterSubmit(context)");
# everything but a delete means "the record may have changed".
EVENT_KINDS: dict[str, ChangeKind] = {
    "create": ChangeKind.UPSERT,
    "edit": ChangeKind.UPSERT,
    "xedit": ChangeKind.UPSERT,
    "approve": ChangeKind.UPSERT,
    "reject": ChangeKind.UPSERT,
    "cancel": ChangeKind.UPSERT,
    "pack": ChangeKind.UPSERT,
    "ship": ChangeKind.UPSERT,
    "markcomplete": ChangeKind.UPSERT,
    "delete": ChangeKind.DELETE,
}
_FIELDS = ("recordType", "id", "eventType")
_RECORD_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
_INTERNAL_ID = re.compile(r"[1-9][0-9]{0,19}")  # NetSuite internal ids are positive integers
_MAX_SIGNATURE_HEADER = 512
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")

Secret = SecretStr | SecretBytes | str | bytes
Submit = Callable[[Change], Awaitable[None] | None]

log = structlog.get_logger("ledgerbridge.webhooks")


def _log(level: str, event: str, **fields: object) -> None:
    """Log, but never let a logging failure (a closed stream, a bad processor) fail the call."""
    try:
        getattr(log, level)(event, **fields)
    except Exception:  # the receiver must answer whatever the log configuration does
        pass


class WebhookClock(Protocol):
    """The time source the receiver needs (``core.ports.Clock`` satisfies it)."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


def _secret_bytes(secret: Secret) -> bytes:
    if isinstance(secret, SecretStr):
        return secret.get_secret_value().encode()
    if isinstance(secret, SecretBytes):
        return secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign_webhook(secret: Secret, body: bytes | str, timestamp: int | datetime) -> str:
    """Build the ``X-LedgerBridge-Signature`` header value for a body.

    Args:
        secret: the shared secret.
        body: the exact bytes that will be sent (a ``str`` is encoded as UTF-8).
        timestamp: when the call is made (unix seconds, or an aware datetime).

    Returns:
        ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
    """
    t = int(timestamp.timestamp()) if isinstance(timestamp, datetime) else int(timestamp)
    raw = body.encode() if isinstance(body, str) else body
    return f"t={t},v1={_digest(_secret_bytes(secret), t, raw)}"


class _Rejected(Exception):
    """A request refused with an HTTP status and a message safe to show the caller."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "message": self.message}, status_code=self.status,
                            headers=self.headers)


class _TokenBucket:
    """``rate`` requests per second on average, ``burst`` at once; time from the injected clock."""

    def __init__(self, rate: float, burst: float, clock: WebhookClock) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock.now().timestamp()

    def take(self) -> float:
        """Take one token; return 0 on success, else the seconds until one is available."""
        now = self._clock.now().timestamp()
        if now > self._at:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


@dataclass(frozen=True, slots=True)
class _Signature:
    timestamp: int
    digests: tuple[str, ...]


def _parse_signature(header: str | None) -> _Signature:
    if header is None or not header.strip():
        raise _Rejected(401, "missing_signature", f"the {SIGNATURE_HEADER} header is required")
    if len(header) > _MAX_SIGNATURE_HEADER:
        raise _Rejected(401, "invalid_signature", f"the {SIGNATURE_HEADER} header is too long")
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise _Rejected(401, "invalid_signature",
                            f"{SIGNATURE_HEADER} must look like t=<unix seconds>,v1=<hex>")
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit() or len(value) > 12:
                raise _Rejected(401, "invalid_signature", "the signature timestamp t= is not unix seconds")
            timestamp = int(value)
        elif key == "v1":
            if not _HEX_DIGEST.fullmatch(value):
                raise _Rejected(401, "invalid_signature", "v1= must be 64 hex digits (HMAC-SHA256)")
            digests.append(value.lower())
        # Other keys (a future v2=) are ignored so senders can add schemes before receivers drop v1.
    if timestamp is None or not digests:
        raise _Rejected(401, "invalid_signature", f"{SIGNATURE_HEADER} needs both t= and v1=")
    return _Signature(timestamp, tuple(digests))


class _Verifier:
    """Checks signatures against the configured secrets and remembers the ones already used."""

    def __init__(self, secrets: Sequence[bytes], window_s: float, clock: WebhookClock) -> None:
        self._secrets = secrets
        self._window_s = window_s
        self._clock = clock
        self._seen: dict[str, float] = {}  # digest -> when it may be forgotten (unix seconds)

    def verify(self, header: str | None, body: bytes) -> None:
        signature = _parse_signature(header)
        now = self._clock.now().timestamp()
        if abs(now - signature.timestamp) > self._window_s:
            raise _Rejected(401, "expired_signature",
                            f"the signature timestamp is more than {self._window_s:g} s from this "
                            "server's clock (check both clocks)")
        expected = [_digest(key, signature.timestamp, body) for key in self._secrets]
        matched = next((digest for digest in signature.digests
                        if any(hmac.compare_digest(digest, good) for good in expected)), None)
        if matched is None:
            raise _Rejected(401, "invalid_signature", "the signature does not match the body")
        self._forget_expired(now)
        if matched in self._seen:
            raise _Rejected(401, "replayed_signature", "this signature was already used")
        # A timestamp in the future is accepted up to the window, so remember until t + window.
        self._seen[matched] = signature.timestamp + self._window_s

    def _forget_expired(self, now: float) -> None:
        for digest in [d for d, until in self._seen.items() if until < now]:
            del self._seen[digest]


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _Rejected(400, "invalid_body", f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_change(body: bytes, received_at: datetime) -> Change:
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Rejected(400, "invalid_body", "the body is not a JSON document") from None
    if not isinstance(data, dict):
        raise _Rejected(400, "invalid_body",
                        'the body must be {"recordType": ..., "id": ..., "eventType": ...}')
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        shown = ", ".join(repr(k[:40]) for k in unknown[:5])
        raise _Rejected(400, "invalid_body", f"unexpected fields {shown}: only recordType, id and eventType "
                        "are accepted (ids only, no record data)")
    missing = [k for k in _FIELDS if k not in data]
    if missing:
        raise _Rejected(400, "invalid_body", f"missing fields: {', '.join(missing)}")
    record_type, record_id, event_type = (data[k] for k in _FIELDS)
    if not isinstance(record_type, str) or not _RECORD_TYPE.fullmatch(record_type):
        raise _Rejected(400, "invalid_body",
                        "recordType must be a NetSuite record type name such as salesOrder")
    if not isinstance(record_id, str) or not _INTERNAL_ID.fullmatch(record_id):
        raise _Rejected(400, "invalid_body", "id must be a NetSuite internal id: a string of digits")
    if not isinstance(event_type, str) or event_type not in EVENT_KINDS:
        raise _Rejected(400, "invalid_body", f"eventType must be one of {', '.join(EVENT_KINDS)}")
    return Change(system=System.NETSUITE, object=record_type, id=record_id, kind=EVENT_KINDS[event_type],
                  source="push", at=received_at)


class _Receiver:
    """The ASGI endpoint (any path, any method) doing the checks in the module docstring."""

    def __init__(self, secrets: Sequence[bytes], submit: Submit, clock: WebhookClock, max_body_bytes: int,
                 replay_window_s: float, rate_limit_per_s: float, rate_limit_burst: float) -> None:
        self._submit = submit
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._verifier = _Verifier(secrets, replay_window_s, clock)
        self._bucket = _TokenBucket(rate_limit_per_s, rate_limit_burst, clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._handle(request)
        except _Rejected as rejected:
            _log("info", "webhook.rejected", status=rejected.status, reason=rejected.code)
            response = rejected.response()
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        wait_s = self._bucket.take()
        if wait_s:
            raise _Rejected(429, "rate_limited", "too many webhook calls; retry later",
                            {"Retry-After": str(max(1, math.ceil(wait_s)))})
        if request.method != "POST":
            raise _Rejected(405, "method_not_allowed", "only POST is accepted", {"Allow": "POST"})
        body = await self._read_body(request)
        self._verifier.verify(request.headers.get(SIGNATURE_HEADER), body)
        media_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise _Rejected(415, "unsupported_media_type", "send the body as application/json")
        change = _parse_change(body, self._clock.now())
        try:
            result = self._submit(change)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # the queue's failure must not look like the sender's
            _log("warning", "webhook.submit_failed", object=change.object, id=change.id,
                 error=type(exc).__name__)
            raise _Rejected(503, "unavailable", "the change could not be queued; retry later",
                            {"Retry-After": "5"}) from None
        _log("info", "webhook.accepted", object=change.object, id=change.id, kind=change.kind.value)
        return JSONResponse({"accepted": True}, status_code=202)

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isascii() or not declared.isdigit():
                raise _Rejected(400, "invalid_request", "Content-Length is not a number")
            if int(declared) > self._max_body_bytes:
                raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self._max_body_bytes:  # a lying or absent Content-Length ends here
                    raise self._too_large()
                chunks.append(chunk)
        except ClientDisconnect:
            raise _Rejected(400, "invalid_request",
                            "the client disconnected before sending the body") from None
        return b"".join(chunks)

    def _too_large(self) -> _Rejected:
        return _Rejected(413, "payload_too_large",
                         f"the body is larger than {self._max_body_bytes} bytes; send ids only")


def create_webhook_app(
    secret: Secret | Sequence[Secret],
    submit: Submit,
    *,
    clock: WebhookClock | None = None,
    max_body_bytes: int = 16_384,
    replay_window_s: float = 300,
    rate_limit_per_s: float = 50.0,
    rate_limit_burst: int | None = None,
) -> Starlette:
    """Build the NetSuite push receiver as a Starlette app.

    The app answers on every path, so it can be mounted (``Mount("/webhooks/netsuite", app)``) or
    routed (``Route("/webhooks/netsuite", app)``) without a trailing-slash redirect.

    Args:
        secret: the shared secret, or several (all accepted) while a secret is being rotated.
        submit: called with each accepted :class:`Change` (``source="push"``); may be a coroutine
            function. It should only enqueue: the sender waits for the answer.
        clock: time source for the replay window and the rate limit (default: the system clock).
        max_body_bytes: larger bodies are refused with 413, counted as they stream in.
        replay_window_s: how far the signature timestamp may be from now, and how long a used
            signature is remembered to refuse replays.
        rate_limit_per_s: average accepted calls per second before 429 (all callers together).
        rate_limit_burst: calls allowed at once (default: twice the rate, at least 10).

    Returns:
        The ASGI application.

    Raises:
        ValueError: when no secret, an empty secret or a non-positive limit is given.
    """
    many = secret if isinstance(secret, Sequence) and not isinstance(secret, str | bytes) else [secret]
    keys = [_secret_bytes(s) for s in many]
    if not keys or not all(keys):
        raise ValueError("the webhook secret must not be empty")
    if max_body_bytes <= 0 or replay_window_s <= 0 or rate_limit_per_s <= 0:
        raise ValueError("max_body_bytes, replay_window_s and rate_limit_per_s must be positive")
    default_burst = max(10, math.ceil(2 * rate_limit_per_s))
    burst = float(rate_limit_burst if rate_limit_burst is not None else default_burst)
    receiver = _Receiver(keys, submit, clock or SystemClock(), max_body_bytes, replay_window_s,
                         rate_limit_per_s, max(1.0, burst))
    return Starlette(routes=[Route("/{path:path}", receiver)])

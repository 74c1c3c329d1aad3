"""NetSuite error codes and statuses -> :class:`ErrorKind` and exception (layer ``connectors``; core only).

NetSuite answers a failed REST call with (reference/netsuite-api.md §6.1)::

    {"type": "...rfc2616-sec10.html#sec10.4.1", "title": "Bad Request", "status": 400,
     "o:errorDetails": [{"detail": "...", "o:errorCode": "INVALID_CONTENT",
                         "o:errorPath": "item.items[0].item"}]}

:func:`parse_error_body` reads that tolerantly (Oracle's own 429 example puts ``o:errorCode`` at the
top level as well). :data:`RULES` is the table, one row per code or status (§6.2, §7, §2.3);
:func:`classify` picks the row for a response, and :func:`error_from_response` builds the exception.
Per-record failures in batches use :func:`record_error` to become values instead.

Misreported throttling: under heavy concurrency NetSuite sometimes answers ``401 INVALID_LOGIN``
after a long delay (§2.3, "seen in practice"), RESTlets answer ``400 SSS_REQUEST_LIMIT_EXCEEDED``
and SOAP ``WS_REQUEST_BLOCKED``/``WS_CONCUR_SESSION_DISALLWD`` (§7). All of these are classified
as :class:`ConcurrencyLimited`; ``INVALID_LOGIN`` only when the caller says other calls were in
flight, and the client retries it once at most before calling it an auth failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ledgerbridge.core.errors import (
    AccessDenied,
    AmbiguousKey,
    AuthError,
    ConcurrencyLimited,
    ErrorKind,
    NotFound,
    ProtocolError,
    RemoteError,
    RequestRejected,
    ServerError,
)
from ledgerbridge.core.records import RecordError

SYSTEM = "netsuite"


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One entry of ``o:errorDetails``."""

    detail: str
    code: str | None = None
    path: str | None = None
    url_path: str | None = None
    query_param: str | None = None
    header: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """A parsed NetSuite error response body."""

    status: int | None = None
    title: str = ""
    type: str = ""
    top_code: str | None = None
    details: tuple[ErrorDetail, ...] = ()

    @property
    def code(self) -> str | None:
        """The error code: from ``o:errorDetails[0]`` first (§6.1), else the top-level one."""
        for d in self.details:
            if d.code:
                return d.code
        return self.top_code

    @property
    def message(self) -> str:
        """All details joined, or the title."""
        texts = [d.detail for d in self.details if d.detail]
        return " | ".join(texts) if texts else self.title

    @property
    def paths(self) -> tuple[str, ...]:
        """The ``o:errorPath`` values (fields of the payload that were refused)."""
        return tuple(d.path for d in self.details if d.path)


def _str_or_none(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def parse_error_body(body: bytes | str | object) -> ErrorBody:
    """Parse a NetSuite error body; anything unparseable gives an empty :class:`ErrorBody`.

    Args:
        body: Raw bytes/text or an already decoded JSON value.

    Returns:
        The parsed body.
    """
    data: object = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return ErrorBody(title=(body.decode("utf-8", "replace") if isinstance(body, bytes)
                                    else body)[:300])
    if not isinstance(data, dict):
        return ErrorBody()
    raw_details = data.get("o:errorDetails")
    details: list[ErrorDetail] = []
    if isinstance(raw_details, list):
        for item in raw_details:
            if isinstance(item, dict):
                details.append(ErrorDetail(
                    detail=str(item.get("detail") or ""),
                    code=_str_or_none(item.get("o:errorCode")),
                    path=_str_or_none(item.get("o:errorPath")),
                    url_path=_str_or_none(item.get("o:errorUrl") or item.get("o:urlPath")),
                    query_param=_str_or_none(item.get("o:errorQueryParam")),
                    header=_str_or_none(item.get("o:errorHeader")),
                ))
    status = data.get("status")
    return ErrorBody(
        status=int(status) if isinstance(status, int | str) and str(status).isdigit() else None,
        title=str(data.get("title") or ""),
        type=str(data.get("type") or ""),
        top_code=_str_or_none(data.get("o:errorCode")),
        details=tuple(details),
    )


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: a status and/or code, and what it means."""

    exc: type[RemoteError]
    status: int | None = None
    code: str | None = None
    note: str = ""
    # Only for INVALID_LOGIN: throttling in disguise when other calls are in flight (§2.3).
    throttle_under_load: bool = False

    @property
    def kind(self) -> ErrorKind:
        """The kind the exception class carries."""
        return self.exc.kind


RULES: tuple[Rule, ...] = (
    # Authentication (§2.3, §2.4, §6.2).
    Rule(AuthError, 401, "INVALID_LOGIN", "bad/expired signature or token; under load: throttling",
         throttle_under_load=True),
    Rule(AuthError, None, "INVALID_LOGIN_CREDENTIALS", "SOAP/SuiteScript login failure"),
    Rule(AuthError, None, "INVALID_SESSION", "session expired"),
    Rule(AuthError, None, "invalid_token", "OAuth 2.0 bearer token refused (WWW-Authenticate)"),
    Rule(AuthError, None, "invalid_grant", "OAuth 2.0 assertion refused"),
    Rule(AuthError, None, "invalid_client", "OAuth 2.0 client unknown"),
    Rule(AuthError, 401, None, "any other 401"),
    # Concurrency governance (§7): throttling, retried after backing off.
    Rule(ConcurrencyLimited, 429, None, "REST concurrency pool full"),
    Rule(ConcurrencyLimited, None, "CONCURRENCY_LIMIT_EXCEEDED", "REST concurrency pool full"),
    Rule(ConcurrencyLimited, None, "SSS_REQUEST_LIMIT_EXCEEDED", "RESTlet concurrency (HTTP 400)"),
    Rule(ConcurrencyLimited, None, "WS_REQUEST_BLOCKED", "SOAP+TBA concurrency fault"),
    Rule(ConcurrencyLimited, None, "WS_CONCUR_SESSION_DISALLWD", "SOAP session concurrency fault"),
    Rule(ConcurrencyLimited, None, "ExceededConcurrentRequestLimitFault", "SOAP fault name"),
    Rule(ConcurrencyLimited, None, "ExceededRequestLimitFault", "SOAP fault name"),
    # Transient server-side failures.
    Rule(ServerError, None, "RCRD_HAS_BEEN_CHANGED", "optimistic-lock conflict: reload and retry"),
    Rule(ServerError, None, "UNEXPECTED_ERROR", "500; for a POST check by externalId before retrying"),
    Rule(ServerError, 500, None, "server error"),
    Rule(ServerError, 502, None, "bad gateway"),
    Rule(ServerError, 503, None, "service unavailable"),
    Rule(ServerError, 504, None, "gateway timeout"),
    # Permissions.
    Rule(AccessDenied, None, "INSUFFICIENT_PERMISSION", "role lacks a permission"),
    Rule(AccessDenied, 403, None, "forbidden"),
    # Not found.
    Rule(NotFound, None, "NONEXISTENT_ID", "REST: record does not exist"),
    Rule(NotFound, None, "RCRD_DSNT_EXIST", "record does not exist"),
    Rule(NotFound, 404, None, "not found"),
    # Duplicates: an external id or entity id already used by another record.
    Rule(AmbiguousKey, None, "DUP_EXTERNAL_ID", "external id already used"),
    Rule(RequestRejected, None, "DUP_ENTITY", "duplicate entity (entityId reused)"),
    Rule(RequestRejected, None, "DUP_RCRD", "duplicate record"),
    # Terminal for this payload.
    Rule(RequestRejected, None, "INVALID_KEY_OR_REF", "a reference in the payload points nowhere"),
    Rule(RequestRejected, None, "INVALID_CONTENT", "bad value or reference in the body"),
    Rule(RequestRejected, None, "INVALID_REQUEST", "malformed URL or syntax"),
    Rule(RequestRejected, None, "INVALID_PARAMETER", "bad query parameter"),
    Rule(RequestRejected, None, "NONEXISTENT_FIELD", "unknown field"),
    Rule(RequestRejected, None, "INVALID_RCRD_TYPE", "record type does not support this"),
    Rule(RequestRejected, None, "USER_ERROR", "business rule failed"),
    Rule(RequestRejected, None, "IDEMPOTENCY_ERROR", "key reused; Location names the original job"),
    Rule(RequestRejected, 400, None, "any other 400"),
    Rule(RequestRejected, 405, None, "method not allowed"),
    Rule(RequestRejected, 409, None, "conflict"),
    Rule(RequestRejected, 413, None, "body too large (104 MB limit)"),
    Rule(RequestRejected, 415, None, "unsupported media type"),
)

_BY_CODE: dict[str, Rule] = {r.code.upper(): r for r in RULES if r.code is not None and r.status is None}
_BY_STATUS_CODE: dict[tuple[int, str], Rule] = {
    (r.status, r.code.upper()): r for r in RULES if r.code is not None and r.status is not None}
_BY_STATUS: dict[int, Rule] = {r.status: r for r in RULES if r.code is None and r.status is not None}

# Codes NetSuite may wrap in a USER_ERROR or leave only in the text (§6.2: "the client should
# match both"), and the rejection text of the concurrency pool (§6.2, §7).
_TEXT_RULES: tuple[tuple[re.Pattern[str], Rule], ...] = (
    (re.compile(r"concurrent request limit exceeded|request limit exceeded", re.I),
     _BY_CODE["CONCURRENCY_LIMIT_EXCEEDED"]),
    (re.compile(r"RCRD_HAS_BEEN_CHANGED|record has been changed", re.I), _BY_CODE["RCRD_HAS_BEEN_CHANGED"]),
    (re.compile(r"RCRD_DSNT_EXIST|record does not exist|that record does not exist", re.I),
     _BY_CODE["RCRD_DSNT_EXIST"]),
    (re.compile(r"external ?id[^.]*(already|duplicate|exists|in use)|duplicate[^.]*external ?id", re.I),
     _BY_CODE["DUP_EXTERNAL_ID"]),
    (re.compile(r"DUP_ENTITY", re.I), _BY_CODE["DUP_ENTITY"]),
)


# Generic codes whose detail text may say more (a DUP_RCRD about an external id is a taken key).
_REFINED_BY_TEXT = frozenset({"USER_ERROR", "DUP_RCRD"})


def _generic(status: int) -> Rule:
    if status >= 500:
        return _BY_STATUS[500]
    return _BY_STATUS[400]


def classify(status: int, code: str | None = None, message: str = "", *,
             under_load: bool = False) -> Rule:
    """The rule for a failed response.

    Args:
        status: HTTP status.
        code: The NetSuite error code, when the body had one.
        message: The error detail text (some codes hide there).
        under_load: Other calls were in flight when this one failed (makes INVALID_LOGIN throttling).

    Returns:
        The matching :class:`Rule`; 429 always throttles, whatever the code says.
    """
    if status == 429:
        return _BY_STATUS[429]
    rule: Rule | None = None
    upper = code.upper() if code else None
    if upper is not None:
        rule = _BY_STATUS_CODE.get((status, upper)) or _BY_CODE.get(upper)
    if rule is None or rule.code in _REFINED_BY_TEXT:
        for pattern, text_rule in _TEXT_RULES:
            if message and pattern.search(message):
                rule = text_rule
                break
    if rule is None:
        rule = _BY_STATUS.get(status) or _generic(status)
    if rule.throttle_under_load and under_load:
        return _MISREPORTED_THROTTLE
    return rule


_MISREPORTED_THROTTLE = Rule(ConcurrencyLimited, 401, "INVALID_LOGIN",
                             "INVALID_LOGIN while other calls were in flight: throttling in disguise")


def _bearer_error(www_authenticate: str | None) -> str | None:
    if not www_authenticate:
        return None
    match = re.search(r'error="([^"]+)"', www_authenticate)
    return match.group(1) if match else None


_HINTS: dict[ErrorKind, str] = {
    ErrorKind.THROTTLED: "NetSuite's concurrency pool is full: reduce concurrency_share or add "
                         "SuiteCloud Plus licences",
    ErrorKind.AUTH: "check the credentials, the role and the Login Audit Trail",
    ErrorKind.ACCESS: "grant the integration role the missing permission",
}


def error_from_response(status: int, body: bytes | str | object, *, operation: str,
                        url: str | None = None, www_authenticate: str | None = None,
                        under_load: bool = False) -> RemoteError:
    """Build the exception for a failed response.

    Args:
        status: HTTP status.
        body: The response body (bytes, text or decoded JSON).
        operation: What was attempted (``record.get customer``), for the message.
        url: The request URL, already redacted.
        www_authenticate: The ``WWW-Authenticate`` header (bearer errors live there, §2.4).
        under_load: Other calls were in flight.

    Returns:
        A :class:`RemoteError` subclass instance carrying status and code.
    """
    parsed = parse_error_body(body)
    code = parsed.code or _bearer_error(www_authenticate)
    rule = classify(status, code, parsed.message, under_load=under_load)
    message = parsed.message or parsed.title or f"HTTP {status}"
    hint = _HINTS.get(rule.kind)
    text = f"NetSuite {operation} failed: {status} {code or ''} {message}".rstrip()
    if hint:
        text = f"{text} ({hint})"
    error = rule.exc(text, status=status, code=code or rule.code, system=SYSTEM, operation=operation,
                     url=url)
    if parsed.paths:
        setattr(error, _PATHS_ATTR, parsed.paths)
    return error


_PATHS_ATTR = "netsuite_error_paths"


def error_paths(error: BaseException) -> tuple[str, ...]:
    """The ``o:errorPath`` values (payload fields NetSuite refused) an error carries, if any."""
    paths = getattr(error, _PATHS_ATTR, ())
    return tuple(str(p) for p in paths) if isinstance(paths, tuple) else ()


def record_error(error: RemoteError, *, fields: tuple[str, ...] | None = None) -> RecordError:
    """A per-record failure value from an exception (one bad record never fails the batch).

    Args:
        error: The exception the record's call ended with.
        fields: Payload fields NetSuite named; by default the ``o:errorPath`` values it carries.

    Returns:
        The :class:`RecordError`.
    """
    return RecordError(kind=error.kind, code=error.code or type(error).__name__,
                       message=str(error), fields=error_paths(error) if fields is None else fields)


def record_error_from_body(status: int, body: bytes | str | object) -> RecordError:
    """A :class:`RecordError` straight from an error body (async task results).

    Args:
        status: HTTP status of the task result (400 when unknown).
        body: The error body.

    Returns:
        The :class:`RecordError`, with ``o:errorPath`` values as fields.
    """
    parsed = parse_error_body(body)
    rule = classify(status, parsed.code, parsed.message)
    return RecordError(kind=rule.kind, code=parsed.code or rule.code or f"HTTP_{status}",
                       message=parsed.message or parsed.title or f"HTTP {status}",
                       fields=parsed.paths)


def protocol_error(message: str, *, operation: str, url: str | None = None) -> ProtocolError:
    """A :class:`ProtocolError` for a response we cannot make sense of."""
    return ProtocolError(f"NetSuite {operation}: {message}", system=SYSTEM, operation=operation, url=url)


class IdempotencyConflict(RequestRejected):
    """``400 IDEMPOTENCY_ERROR``: this key was already submitted; ``location`` names the original job.

    Raised instead of a plain :class:`RequestRejected` so the batch code can follow the job the
    first attempt created (reference/netsuite-api.md §3.9).
    """

    def __init__(self, message: str, *, location: str | None, status: int | None = None,
                 code: str | None = None, system: str = SYSTEM, operation: str = "",
                 url: str | None = None) -> None:
        super().__init__(message, status=status, code=code, system=system, operation=operation, url=url)
        self.location = location

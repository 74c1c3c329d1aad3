"""Salesforce error codes and HTTP statuses -> ErrorKind and exception class (layer ``connectors``).

Imports ``ledgerbridge.core`` and ``ledgerbridge.transport`` only.

One row per ``errorCode`` (REST error arrays) or ``statusCode`` (sObject Collections per-record
errors); the codes, statuses and retry advice come from reference/salesforce-api.md §7 ("Status
Codes and Error Responses", errorcodes.htm). Codes not in the table fall back to the HTTP status
(:data:`STATUS_RULES`), then to the generic :func:`ledgerbridge.transport.kind_for_status`.

``REQUEST_LIMIT_EXCEEDED`` is the one code with two meanings (§2.2): the daily allocation
("TotalRequests Limit exceeded.") is a :class:`QuotaExhausted` (wait for the rolling window),
the concurrent long-running-request cap ("ConcurrentRequests ...") a :class:`ConcurrencyLimited`
(slow down and retry).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ledgerbridge.core.errors import (
    AccessDenied,
    AmbiguousKey,
    AuthError,
    ConcurrencyLimited,
    ErrorKind,
    NotFound,
    QuotaExhausted,
    RateLimited,
    RemoteError,
    RequestRejected,
    ServerError,
)
from ledgerbridge.core.records import RecordError
from ledgerbridge.core.redaction import redact_text
from ledgerbridge.transport.errors import kind_for_status

SYSTEM = "salesforce"


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """How one Salesforce error is handled.

    Attributes:
        kind: Drives the retry policy and the dead-letter queue.
        exc: The exception raised when the whole call failed with this error.
        hint: What an operator should do (appended to messages).
    """

    kind: ErrorKind
    exc: type[RemoteError]
    hint: str = ""


_RECORD = ErrorRule(ErrorKind.RECORD, RequestRejected, "fix the record or the mapping")
_QUERY = ErrorRule(ErrorKind.CONFIG, RequestRejected, "fix the query, field or object name")

# errorCode / statusCode -> rule. Source: reference/salesforce-api.md §7.2 unless noted.
ERROR_CODES: Mapping[str, ErrorRule] = {
    # authentication (§1.3, §7.2): re-authenticate once, then stop
    "INVALID_SESSION_ID": ErrorRule(ErrorKind.AUTH, AuthError, "re-authenticate"),
    "INVALID_AUTH_HEADER": ErrorRule(ErrorKind.AUTH, AuthError, "re-authenticate"),
    "INVALID_LOGIN": ErrorRule(ErrorKind.AUTH, AuthError, "check the credentials"),
    "LOGIN_MUST_USE_SECURITY_TOKEN": ErrorRule(ErrorKind.AUTH, AuthError, "append the security token"),
    # permissions (§7.1: 403 refused)
    "INSUFFICIENT_ACCESS": ErrorRule(ErrorKind.ACCESS, AccessDenied, "grant the integration user access"),
    "INSUFFICIENT_ACCESS_OR_READONLY": ErrorRule(ErrorKind.ACCESS, AccessDenied,
                                                 "grant the integration user edit access"),
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": ErrorRule(
        ErrorKind.ACCESS, AccessDenied, "grant access to the referenced record"),
    "API_DISABLED_FOR_ORG": ErrorRule(ErrorKind.ACCESS, AccessDenied, "enable API access for the org"),
    "API_CURRENTLY_DISABLED": ErrorRule(ErrorKind.ACCESS, AccessDenied, "enable API Enabled on the profile"),
    "FUNCTIONALITY_NOT_ENABLED": ErrorRule(ErrorKind.ACCESS, AccessDenied, "enable the feature in Setup"),
    # limits (§2.2): REQUEST_LIMIT_EXCEEDED is split by message in classify()
    "REQUEST_LIMIT_EXCEEDED": ErrorRule(ErrorKind.QUOTA, QuotaExhausted,
                                        "wait for the rolling 24 h window; alert an admin"),
    # transient platform errors: retry with backoff
    "UNABLE_TO_LOCK_ROW": ErrorRule(ErrorKind.TRANSIENT, ServerError, "retried with backoff"),
    "SERVER_UNAVAILABLE": ErrorRule(ErrorKind.TRANSIENT, ServerError, "retried with backoff"),
    "UNKNOWN_EXCEPTION": ErrorRule(ErrorKind.TRANSIENT, ServerError, "retried with backoff"),
    "QUERY_TIMEOUT": ErrorRule(ErrorKind.TRANSIENT, ServerError, "narrow the query if it repeats"),
    # rolled back because a sibling failed (§5.1, §5.2): the record itself may be fine
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": ErrorRule(ErrorKind.TRANSIENT, ServerError,
                                                   "resend once the failing sibling is fixed"),
    "PROCESSING_HALTED": ErrorRule(ErrorKind.TRANSIENT, ServerError,
                                   "resend once the failing sibling is fixed"),
    # not found (§3.3)
    "NOT_FOUND": ErrorRule(ErrorKind.NOT_FOUND, NotFound, "the record or resource does not exist"),
    "ENTITY_IS_DELETED": ErrorRule(ErrorKind.NOT_FOUND, NotFound, "the record is in the recycle bin"),
    # more than one record matches an external id (§3.4, 300 Multiple Choices)
    "MULTIPLE_CHOICES": ErrorRule(ErrorKind.AMBIGUOUS, AmbiguousKey,
                                  "several records share this external id; merge them"),
    # query and request errors (§4): our request is wrong, terminal for this payload
    "MALFORMED_QUERY": _QUERY,
    "INVALID_FIELD": _QUERY,
    "INVALID_TYPE": _QUERY,
    "INVALID_QUERY_FILTER_OPERATOR": _QUERY,
    "QUERY_TOO_COMPLICATED": _QUERY,
    "INVALID_QUERY_LOCATOR": ErrorRule(ErrorKind.CONFIG, RequestRejected, "restart the query"),
    "JSON_PARSER_ERROR": ErrorRule(ErrorKind.PROTOCOL, RequestRejected, "a bug: the body is malformed"),
    "METHOD_NOT_ALLOWED": ErrorRule(ErrorKind.CONFIG, RequestRejected, "a bug: wrong HTTP method"),
    "INVALID_REPLICATION_DATE": ErrorRule(ErrorKind.CONFIG, RequestRejected, "shrink the window"),
    "EXCEEDED_ID_LIMIT": ErrorRule(ErrorKind.CONFIG, RequestRejected, "shrink the window"),
    # record errors (§7.2): this record only, to the dead-letter queue
    "REQUIRED_FIELD_MISSING": _RECORD,
    "INVALID_FIELD_FOR_INSERT_UPDATE": ErrorRule(ErrorKind.RECORD, RequestRejected,
                                                 "drop read-only fields from the mapping"),
    "DUPLICATE_VALUE": ErrorRule(ErrorKind.RECORD, RequestRejected, "upsert by the unique field instead"),
    # the same external id twice in one upsert request (not in the reference; Salesforce's
    # "Duplicate external id specified")
    "DUPLICATE_EXTERNAL_ID": ErrorRule(ErrorKind.RECORD, RequestRejected,
                                       "send each external id once per batch"),
    "DUPLICATES_DETECTED": ErrorRule(ErrorKind.RECORD, RequestRejected,
                                     "link to the existing record or allow the save"),
    "INVALID_CROSS_REFERENCE_KEY": ErrorRule(ErrorKind.RECORD, RequestRejected,
                                             "the referenced record does not exist"),
    "MALFORMED_ID": _RECORD,
    "INVALID_ID_FIELD": _RECORD,
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": _RECORD,
    "FIELD_INTEGRITY_EXCEPTION": _RECORD,
    "FIELD_FILTER_VALIDATION_EXCEPTION": _RECORD,
    "STRING_TOO_LONG": ErrorRule(ErrorKind.RECORD, RequestRejected, "truncate to the describe length"),
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": ErrorRule(ErrorKind.RECORD, RequestRejected,
                                                         "map the value to an allowed picklist value"),
    "INVALID_EMAIL_ADDRESS": _RECORD,
    "NUMBER_OUTSIDE_VALID_RANGE": _RECORD,
    "STANDARD_PRICE_NOT_DEFINED": ErrorRule(ErrorKind.RECORD, RequestRejected,
                                            "create the standard price book entry first"),
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": _RECORD,
    "ENTITY_IS_LOCKED": _RECORD,
    "INVALID_TYPE_ON_FIELD_IN_RECORD": _RECORD,
}

# HTTP status -> rule, when the body names no known code. Source: reference §7.1.
STATUS_RULES: Mapping[int, ErrorRule] = {
    300: ERROR_CODES["MULTIPLE_CHOICES"],
    400: ErrorRule(ErrorKind.RECORD, RequestRejected, "the request was rejected"),
    401: ERROR_CODES["INVALID_SESSION_ID"],
    403: ErrorRule(ErrorKind.ACCESS, AccessDenied, "the integration user lacks a permission"),
    404: ERROR_CODES["NOT_FOUND"],
    405: ERROR_CODES["METHOD_NOT_ALLOWED"],
    409: ErrorRule(ErrorKind.CONFIG, RequestRejected, "conflict (e.g. another API version)"),
    412: ErrorRule(ErrorKind.RECORD, RequestRejected, "the record changed since it was read"),
    415: ErrorRule(ErrorKind.PROTOCOL, RequestRejected, "a bug: unsupported media type"),
    429: ErrorRule(ErrorKind.THROTTLED, RateLimited, "slow down"),
    500: ERROR_CODES["UNKNOWN_EXCEPTION"],
    503: ERROR_CODES["SERVER_UNAVAILABLE"],
}

_EXC_BY_KIND: Mapping[ErrorKind, type[RemoteError]] = {
    ErrorKind.TRANSIENT: ServerError, ErrorKind.THROTTLED: RateLimited, ErrorKind.QUOTA: QuotaExhausted,
    ErrorKind.AUTH: AuthError, ErrorKind.ACCESS: AccessDenied, ErrorKind.NOT_FOUND: NotFound,
    ErrorKind.AMBIGUOUS: AmbiguousKey, ErrorKind.RECORD: RequestRejected,
    ErrorKind.PROTOCOL: RequestRejected, ErrorKind.CONFIG: RequestRejected,
}

_CONCURRENT_LIMIT = ErrorRule(ErrorKind.THROTTLED, ConcurrencyLimited,
                              "too many long-running calls at once (25 per org, 5 in Developer "
                              "Edition); reduce concurrency")


def classify(code: str | None, status: int | None = None, message: str = "") -> ErrorRule:
    """The rule for one Salesforce error.

    Args:
        code: ``errorCode`` / ``statusCode`` from the body, if any.
        status: The HTTP status of the response (None for per-record errors in a 200 body).
        message: The error message (only REQUEST_LIMIT_EXCEEDED needs it).

    Returns:
        The matching rule: by code, else by status, else by the generic status table.
    """
    if code == "REQUEST_LIMIT_EXCEEDED" and "concurrent" in message.lower():
        return _CONCURRENT_LIMIT
    if code and code in ERROR_CODES:
        return ERROR_CODES[code]
    if status is None:
        return _RECORD  # an unknown per-record code: treat as a record error
    if status in STATUS_RULES:
        return STATUS_RULES[status]
    kind = kind_for_status(status)
    return ErrorRule(kind, _EXC_BY_KIND[kind])


@dataclass(frozen=True, slots=True)
class ErrorItem:
    """One entry of a Salesforce error array."""

    code: str
    message: str
    fields: tuple[str, ...] = ()


def parse_error_items(body: object) -> list[ErrorItem]:
    """Read a REST error body: an array of ``{message, errorCode | statusCode, fields?}``.

    Also accepts the OAuth shape ``{"error", "error_description"}`` and a single object.

    Args:
        body: The decoded JSON body (anything).

    Returns:
        The error items found (empty when the body has none).
    """
    items: Sequence[object]
    if isinstance(body, list):
        items = body
    elif isinstance(body, dict):
        if "error" in body and isinstance(body.get("error"), str):
            return [ErrorItem(str(body["error"]), str(body.get("error_description", "")))]
        items = [body]
    else:
        return []
    out: list[ErrorItem] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        code = item.get("errorCode") or item.get("statusCode")
        if not isinstance(code, str):
            continue
        raw_fields = item.get("fields")
        fields = tuple(str(f) for f in raw_fields) if isinstance(raw_fields, list) else ()
        out.append(ErrorItem(code, str(item.get("message", "")), fields))
    return out


def record_error(item: ErrorItem) -> RecordError:
    """Turn one per-record error into the value the engine dead-letters or retries."""
    rule = classify(item.code, None, item.message)
    return RecordError(kind=rule.kind, code=item.code, message=redact_text(item.message),
                       fields=item.fields)


def record_error_from_items(items: Sequence[ErrorItem]) -> RecordError:
    """One :class:`RecordError` for a failed record; several errors are joined, the first code wins."""
    if not items:
        return RecordError(ErrorKind.PROTOCOL, "UNKNOWN", "the record failed without an error item")
    first = record_error(items[0])
    if len(items) == 1:
        return first
    message = "; ".join(f"{i.code}: {redact_text(i.message)}" for i in items)
    fields = tuple(dict.fromkeys(f for i in items for f in i.fields))
    return RecordError(first.kind, first.code, message, fields)


def error_from_response(status: int, body_text: str, *, operation: str, url: str | None = None,
                        retry_after_s: float | None = None, request_id: str | None = None) -> RemoteError:
    """Build the exception for a failed Salesforce response.

    Args:
        status: HTTP status.
        body_text: The response body as text (JSON error array, or anything).
        operation: The connector operation, for the message.
        url: The request URL, already redacted.
        retry_after_s: A ``Retry-After`` the server gave.
        request_id: A request id header, when present.

    Returns:
        The :class:`RemoteError` subclass the table names, carrying status, code and a
        redacted message.
    """
    try:
        body: object = json.loads(body_text) if body_text else None
    except ValueError:
        body = None
    items = parse_error_items(body)
    if status == 300:
        code: str | None = "MULTIPLE_CHOICES"
        message = "external id matches several records: " + ", ".join(
            str(u) for u in (body if isinstance(body, list) else []))[:500]
    elif items:
        code = items[0].code
        message = "; ".join(f"{i.code}: {i.message}" for i in items)
    else:
        code = None
        message = body_text[:300] if body_text else f"HTTP {status}"
    rule = classify(code, status, message)
    exc_cls = rule.exc
    hint = f" ({rule.hint})" if rule.hint else ""
    text = redact_text(f"salesforce {operation} failed: HTTP {status} {message}{hint}")
    return exc_cls(text, status=status, code=code, retry_after_s=retry_after_s, system=SYSTEM,
                   operation=operation, url=url, request_id=request_id)

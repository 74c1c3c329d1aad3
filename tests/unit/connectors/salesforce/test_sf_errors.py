"""The Salesforce error table, row by row, without HTTP (reference/salesforce-api.md §2.2, §7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledgerbridge.connectors.salesforce.errors import (
    ERROR_CODES,
    ErrorItem,
    classify,
    error_from_response,
    parse_error_items,
    record_error,
    record_error_from_items,
)
from ledgerbridge.core.errors import (
    AccessDenied,
    AmbiguousKey,
    AuthError,
    ConcurrencyLimited,
    ErrorKind,
    NotFound,
    QuotaExhausted,
    RateLimited,
    RequestRejected,
    ServerError,
)

FIXTURES = Path(__file__).parents[3] / "fixtures" / "salesforce" / "wire"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


ROWS = [
    ("INVALID_SESSION_ID", ErrorKind.AUTH, AuthError),
    ("INVALID_AUTH_HEADER", ErrorKind.AUTH, AuthError),
    ("INVALID_LOGIN", ErrorKind.AUTH, AuthError),
    ("INSUFFICIENT_ACCESS", ErrorKind.ACCESS, AccessDenied),
    ("INSUFFICIENT_ACCESS_OR_READONLY", ErrorKind.ACCESS, AccessDenied),
    ("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", ErrorKind.ACCESS, AccessDenied),
    ("API_DISABLED_FOR_ORG", ErrorKind.ACCESS, AccessDenied),
    ("API_CURRENTLY_DISABLED", ErrorKind.ACCESS, AccessDenied),
    ("UNABLE_TO_LOCK_ROW", ErrorKind.TRANSIENT, ServerError),
    ("SERVER_UNAVAILABLE", ErrorKind.TRANSIENT, ServerError),
    ("UNKNOWN_EXCEPTION", ErrorKind.TRANSIENT, ServerError),
    ("QUERY_TIMEOUT", ErrorKind.TRANSIENT, ServerError),
    ("ALL_OR_NONE_OPERATION_ROLLED_BACK", ErrorKind.TRANSIENT, ServerError),
    ("PROCESSING_HALTED", ErrorKind.TRANSIENT, ServerError),
    ("NOT_FOUND", ErrorKind.NOT_FOUND, NotFound),
    ("ENTITY_IS_DELETED", ErrorKind.NOT_FOUND, NotFound),
    ("MULTIPLE_CHOICES", ErrorKind.AMBIGUOUS, AmbiguousKey),
    ("MALFORMED_QUERY", ErrorKind.CONFIG, RequestRejected),
    ("INVALID_FIELD", ErrorKind.CONFIG, RequestRejected),
    ("INVALID_TYPE", ErrorKind.CONFIG, RequestRejected),
    ("INVALID_QUERY_FILTER_OPERATOR", ErrorKind.CONFIG, RequestRejected),
    ("INVALID_QUERY_LOCATOR", ErrorKind.CONFIG, RequestRejected),
    ("JSON_PARSER_ERROR", ErrorKind.PROTOCOL, RequestRejected),
    ("INVALID_REPLICATION_DATE", ErrorKind.CONFIG, RequestRejected),
    ("EXCEEDED_ID_LIMIT", ErrorKind.CONFIG, RequestRejected),
    ("REQUIRED_FIELD_MISSING", ErrorKind.RECORD, RequestRejected),
    ("INVALID_FIELD_FOR_INSERT_UPDATE", ErrorKind.RECORD, RequestRejected),
    ("DUPLICATE_VALUE", ErrorKind.RECORD, RequestRejected),
    ("DUPLICATES_DETECTED", ErrorKind.RECORD, RequestRejected),
    ("DUPLICATE_EXTERNAL_ID", ErrorKind.RECORD, RequestRejected),
    ("INVALID_CROSS_REFERENCE_KEY", ErrorKind.RECORD, RequestRejected),
    ("MALFORMED_ID", ErrorKind.RECORD, RequestRejected),
    ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ErrorKind.RECORD, RequestRejected),
    ("FIELD_INTEGRITY_EXCEPTION", ErrorKind.RECORD, RequestRejected),
    ("STRING_TOO_LONG", ErrorKind.RECORD, RequestRejected),
    ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ErrorKind.RECORD, RequestRejected),
    ("STANDARD_PRICE_NOT_DEFINED", ErrorKind.RECORD, RequestRejected),
    ("LOGIN_MUST_USE_SECURITY_TOKEN", ErrorKind.AUTH, AuthError),
    ("FUNCTIONALITY_NOT_ENABLED", ErrorKind.ACCESS, AccessDenied),
    ("QUERY_TOO_COMPLICATED", ErrorKind.CONFIG, RequestRejected),
    ("METHOD_NOT_ALLOWED", ErrorKind.CONFIG, RequestRejected),
    ("INVALID_ID_FIELD", ErrorKind.RECORD, RequestRejected),
    ("FIELD_FILTER_VALIDATION_EXCEPTION", ErrorKind.RECORD, RequestRejected),
    ("INVALID_EMAIL_ADDRESS", ErrorKind.RECORD, RequestRejected),
    ("NUMBER_OUTSIDE_VALID_RANGE", ErrorKind.RECORD, RequestRejected),
    ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", ErrorKind.RECORD, RequestRejected),
    ("ENTITY_IS_LOCKED", ErrorKind.RECORD, RequestRejected),
    ("INVALID_TYPE_ON_FIELD_IN_RECORD", ErrorKind.RECORD, RequestRejected),
    # the daily reading; the concurrent one is split off by message (tests below)
    ("REQUEST_LIMIT_EXCEEDED", ErrorKind.QUOTA, QuotaExhausted),
]


@pytest.mark.parametrize(("code", "kind", "exc"), ROWS)
def test_error_code_row(code: str, kind: ErrorKind, exc: type) -> None:
    rule = classify(code, 400)
    assert (rule.kind, rule.exc) == (kind, exc)
    assert ERROR_CODES[code] is rule


def test_every_table_row_is_tested() -> None:
    assert set(ERROR_CODES) == {code for code, _, _ in ROWS}


def test_request_limit_exceeded_daily_is_quota() -> None:
    rule = classify("REQUEST_LIMIT_EXCEEDED", 403, "TotalRequests Limit exceeded.")
    assert (rule.kind, rule.exc) == (ErrorKind.QUOTA, QuotaExhausted)


def test_request_limit_exceeded_concurrent_is_throttled() -> None:
    rule = classify("REQUEST_LIMIT_EXCEEDED", 403,
                    "ConcurrentRequests (Concurrent API Requests) Limit exceeded.")
    assert (rule.kind, rule.exc) == (ErrorKind.THROTTLED, ConcurrencyLimited)


@pytest.mark.parametrize(("status", "kind", "exc"), [
    (300, ErrorKind.AMBIGUOUS, AmbiguousKey), (400, ErrorKind.RECORD, RequestRejected),
    (401, ErrorKind.AUTH, AuthError), (403, ErrorKind.ACCESS, AccessDenied),
    (404, ErrorKind.NOT_FOUND, NotFound), (405, ErrorKind.CONFIG, RequestRejected),
    (409, ErrorKind.CONFIG, RequestRejected), (412, ErrorKind.RECORD, RequestRejected),
    (415, ErrorKind.PROTOCOL, RequestRejected), (429, ErrorKind.THROTTLED, RateLimited),
    (500, ErrorKind.TRANSIENT, ServerError), (502, ErrorKind.TRANSIENT, ServerError),
    (503, ErrorKind.TRANSIENT, ServerError), (504, ErrorKind.TRANSIENT, ServerError),
    (418, ErrorKind.RECORD, RequestRejected)])
def test_status_row_when_the_body_names_no_known_code(status: int, kind: ErrorKind, exc: type) -> None:
    rule = classify("SOMETHING_NEW", status)
    assert (rule.kind, rule.exc) == (kind, exc)


def test_unknown_per_record_code_is_a_record_error() -> None:
    assert classify("BRAND_NEW_CODE", None).kind is ErrorKind.RECORD


def test_error_from_response_invalid_session() -> None:
    err = error_from_response(401, fixture_text("error_invalid_session.json"), operation="query")
    assert isinstance(err, AuthError)
    assert (err.status, err.code, err.system) == (401, "INVALID_SESSION_ID", "salesforce")
    assert "Session expired or invalid" in str(err)


def test_error_from_response_daily_limit() -> None:
    err = error_from_response(403, fixture_text("error_request_limit_daily.json"), operation="query")
    assert isinstance(err, QuotaExhausted)
    assert err.kind is ErrorKind.QUOTA


def test_error_from_response_concurrent_limit_keeps_retry_after() -> None:
    err = error_from_response(403, fixture_text("error_request_limit_concurrent.json"), operation="query",
                              retry_after_s=2.0)
    assert isinstance(err, ConcurrencyLimited)
    assert err.retry_after_s == 2.0


def test_error_from_response_query_error_is_a_rejected_request() -> None:
    err = error_from_response(400, fixture_text("error_invalid_field_query.json"), operation="query")
    assert isinstance(err, RequestRejected)
    assert err.code == "INVALID_FIELD"
    assert "Invalid__x" in str(err)


def test_error_from_response_300_is_ambiguous_and_lists_the_matches() -> None:
    err = error_from_response(300, fixture_text("upsert_multiple_choices.json"), operation="upsert")
    assert isinstance(err, AmbiguousKey)
    assert "Whizbang/foo" in str(err)


def test_error_from_response_without_json_uses_the_status() -> None:
    err = error_from_response(503, "<html>Service Unavailable</html>", operation="query")
    assert isinstance(err, ServerError)
    assert err.code is None


def test_error_messages_are_redacted() -> None:
    body = json.dumps([{"errorCode": "INVALID_FIELD",
                        "message": "bad Authorization: Bearer 00Dxx0000001gEH!AQcAQH0dMHZfz972Szmpk"}])
    err = error_from_response(400, body, operation="query")
    assert "AQcAQH0dMHZfz972Szmpk" not in str(err)


def test_parse_error_items_reads_both_error_code_keys() -> None:
    rest = parse_error_items(json.loads(fixture_text("error_duplicates_detected.json")))
    assert rest == [ErrorItem("DUPLICATES_DETECTED", "Use one of these records?")]
    per_record = parse_error_items([{"statusCode": "REQUIRED_FIELD_MISSING", "message": "m",
                                     "fields": ["Name"]}])
    assert per_record == [ErrorItem("REQUIRED_FIELD_MISSING", "m", ("Name",))]


def test_parse_error_items_reads_oauth_errors() -> None:
    assert parse_error_items(json.loads(fixture_text("token_error_invalid_grant.json"))) == [
        ErrorItem("invalid_grant", "authentication failure")]


def test_record_error_keeps_code_message_and_fields() -> None:
    err = record_error(ErrorItem("STRING_TOO_LONG", "Billing City: data value too large", ("BillingCity",)))
    assert (err.kind, err.code, err.fields) == (ErrorKind.RECORD, "STRING_TOO_LONG", ("BillingCity",))


def test_several_errors_on_one_record_are_joined() -> None:
    err = record_error_from_items([ErrorItem("FIELD_CUSTOM_VALIDATION_EXCEPTION", "a", ("X",)),
                                   ErrorItem("FIELD_CUSTOM_VALIDATION_EXCEPTION", "b", ("Y",))])
    assert err.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "a" in err.message and "b" in err.message
    assert err.fields == ("X", "Y")

"""The NetSuite error table, row by row, and the error-body parser (reference/netsuite-api.md §6)."""

from __future__ import annotations

import pytest
from netsuite_testkit import load_wire

from ledgerbridge.connectors.netsuite.errors import (
    RULES,
    classify,
    error_from_response,
    parse_error_body,
    record_error_from_body,
)
from ledgerbridge.core.errors import (
    AccessDenied,
    AmbiguousKey,
    AuthError,
    ConcurrencyLimited,
    ErrorKind,
    NotFound,
    RemoteError,
    RequestRejected,
    ServerError,
)


def _status_for(rule_status: int | None, exc: type[RemoteError]) -> int:
    if rule_status is not None:
        return rule_status
    return {AuthError: 401, AccessDenied: 403, NotFound: 404, ServerError: 500}.get(exc, 400)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.status}-{r.code}")
def test_every_row_of_the_table_classifies_to_its_exception(rule) -> None:  # type: ignore[no-untyped-def]
    status = _status_for(rule.status, rule.exc)
    details = [{"detail": "x", "o:errorCode": rule.code}]
    body = {"status": status, "o:errorDetails": details} if rule.code else {}
    error = error_from_response(status, body, operation="test")
    assert type(error) is rule.exc
    assert error.status == status
    assert error.system == "netsuite"


@pytest.mark.parametrize(("status", "code", "expected", "kind"), [
    (401, "INVALID_LOGIN", AuthError, ErrorKind.AUTH),
    (429, "CONCURRENCY_LIMIT_EXCEEDED", ConcurrencyLimited, ErrorKind.THROTTLED),
    (429, None, ConcurrencyLimited, ErrorKind.THROTTLED),
    (400, "SSS_REQUEST_LIMIT_EXCEEDED", ConcurrencyLimited, ErrorKind.THROTTLED),
    (400, "RCRD_HAS_BEEN_CHANGED", ServerError, ErrorKind.TRANSIENT),
    (400, "USER_ERROR", RequestRejected, ErrorKind.RECORD),
    (400, "INVALID_KEY_OR_REF", RequestRejected, ErrorKind.RECORD),
    (404, "RCRD_DSNT_EXIST", NotFound, ErrorKind.NOT_FOUND),
    (404, "NONEXISTENT_ID", NotFound, ErrorKind.NOT_FOUND),
    (400, "INVALID_CONTENT", RequestRejected, ErrorKind.RECORD),
    (400, "DUP_EXTERNAL_ID", AmbiguousKey, ErrorKind.AMBIGUOUS),
    (400, "DUP_ENTITY", RequestRejected, ErrorKind.RECORD),
    (500, "UNEXPECTED_ERROR", ServerError, ErrorKind.TRANSIENT),
    (502, None, ServerError, ErrorKind.TRANSIENT),
    (503, None, ServerError, ErrorKind.TRANSIENT),
    (599, None, ServerError, ErrorKind.TRANSIENT),
    (403, "INSUFFICIENT_PERMISSION", AccessDenied, ErrorKind.ACCESS),
    (418, None, RequestRejected, ErrorKind.RECORD),
])
def test_issue_table(status: int, code: str | None, expected: type[RemoteError], kind: ErrorKind) -> None:
    rule = classify(status, code)
    assert rule.exc is expected
    assert rule.kind is kind


def test_429_throttles_whatever_code_the_body_carries() -> None:
    body = load_wire("error_429_concurrency.json")
    error = error_from_response(429, body, operation="record.upsert")
    assert isinstance(error, ConcurrencyLimited)
    assert error.code == "CONCURRENCY_LIMIT_EXCEEDED"  # details first, not the top-level USER_ERROR
    assert "SuiteCloud Plus" in str(error)  # what to do


def test_invalid_login_under_load_is_throttling_in_disguise() -> None:
    body = load_wire("error_401_invalid_login.json")
    assert isinstance(error_from_response(401, body, operation="x"), AuthError)
    error = error_from_response(401, body, operation="x", under_load=True)
    assert isinstance(error, ConcurrencyLimited)
    assert error.code == "INVALID_LOGIN"


@pytest.mark.parametrize(("detail", "expected"), [
    ("Concurrent request limit exceeded. Request blocked.", ConcurrencyLimited),
    ("RCRD_HAS_BEEN_CHANGED: Record has been changed", ServerError),
    ("That record does not exist.", NotFound),
    ("A record with this external ID already exists", AmbiguousKey),
    ("Please enter value(s) for: Company Name, Subsidiary", RequestRejected),
])
def test_codes_hidden_in_a_user_error_detail_are_recognised(detail: str, expected: type) -> None:
    body = {"status": 400, "o:errorDetails": [{"detail": detail, "o:errorCode": "USER_ERROR"}]}
    assert type(error_from_response(400, body, operation="x")) is expected


def test_bearer_errors_are_read_from_www_authenticate() -> None:
    error = error_from_response(401, b"", operation="x",
                                www_authenticate='Bearer realm="123456", error="invalid_token"')
    assert isinstance(error, AuthError)
    assert error.code == "invalid_token"


def test_parse_error_body_reads_all_detail_fields() -> None:
    parsed = parse_error_body(load_wire("error_400_invalid_content.json"))
    assert parsed.status == 400
    assert parsed.code == "INVALID_CONTENT"
    assert parsed.paths == ("item.items[0].item",)
    assert "Invalid Field Value 9999" in parsed.message
    raw = parse_error_body(b'{"o:errorDetails":[{"detail":"d","o:errorCode":"C","o:errorQueryParam":"q",'
                           b'"o:errorHeader":"h","o:errorUrl":"u"}]}')
    first = raw.details[0]
    assert (first.query_param, first.header, first.url_path) == ("q", "h", "u")


@pytest.mark.parametrize("junk", [b"", b"<html>Bad gateway</html>", b"[1,2]", "not json", None, 42])
def test_parse_error_body_tolerates_junk(junk: object) -> None:
    parsed = parse_error_body(junk)
    assert parsed.code is None
    error = error_from_response(502, junk, operation="x")
    assert isinstance(error, ServerError)


def test_record_error_from_body_keeps_code_message_and_paths() -> None:
    err = record_error_from_body(400, load_wire("error_400_invalid_content.json"))
    assert err.kind is ErrorKind.RECORD
    assert err.code == "INVALID_CONTENT"
    assert err.fields == ("item.items[0].item",)
    assert record_error_from_body(404, load_wire("error_404_nonexistent_id.json")).kind is ErrorKind.NOT_FOUND


def test_error_paths_travel_with_the_exception_into_the_record_error() -> None:
    from ledgerbridge.connectors.netsuite.errors import record_error

    error = error_from_response(400, load_wire("error_400_invalid_content.json"), operation="record.upsert")
    value = record_error(error)
    assert value.fields == ("item.items[0].item",)
    assert value.code == "INVALID_CONTENT" and value.kind is ErrorKind.RECORD


def test_a_duplicate_record_about_an_external_id_is_an_ambiguous_key() -> None:
    body = {"status": 400, "o:errorDetails": [{
        "detail": "Error while accessing a resource. A record with the external ID 'dup-1' already exists.",
        "o:errorCode": "DUP_RCRD"}]}
    error = error_from_response(400, body, operation="record.create")
    assert isinstance(error, AmbiguousKey) and error.code == "DUP_RCRD"
    other = {"status": 400, "o:errorDetails": [{"detail": "Duplicate record.", "o:errorCode": "DUP_RCRD"}]}
    assert type(error_from_response(400, other, operation="record.create")) is RequestRejected

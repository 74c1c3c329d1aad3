"""The httpx boundary: exceptions become LedgerBridge errors with redacted URLs."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import httpx2
import pytest

from ledgerbridge.core.errors import ConfigError, ErrorKind, ProtocolError, TransportError
from ledgerbridge.transport.errors import (
    ConnectFailed,
    TLSVerificationError,
    kind_for_status,
    map_transport_errors,
    parse_retry_after,
    redact_url,
)

URL = "https://user:hunter22@x.my.salesforce.com/services/oauth2/token?client_secret=s3cr3t&q=Name"


def test_redact_url_drops_user_info_and_secret_query_values() -> None:
    safe = redact_url(URL)
    assert "hunter22" not in safe and "s3cr3t" not in safe and "user" not in safe
    assert "x.my.salesforce.com/services/oauth2/token" in safe
    assert "q=Name" in safe


def test_redact_url_masks_given_literal_secrets() -> None:
    assert "tok123456" not in redact_url("https://h/a?x=tok123456", secrets=("tok123456",))


def raise_in_boundary(exc: Exception) -> Exception:
    with pytest.raises(Exception) as info, map_transport_errors(system="salesforce", operation="query",
                                                               url=URL):
        raise exc
    return info.value


@pytest.mark.parametrize("exc", [httpx2.ReadTimeout("t"), httpx2.ReadError("reset"),
                                 httpx2.RemoteProtocolError("Server disconnected")])
def test_timeouts_and_resets_become_transient_transport_errors(exc: Exception) -> None:
    err = raise_in_boundary(exc)
    assert type(err) is TransportError
    assert err.kind is ErrorKind.TRANSIENT
    assert err.url is not None and "s3cr3t" not in err.url and "s3cr3t" not in str(err)
    assert err.system == "salesforce" and err.operation == "query"


@pytest.mark.parametrize("exc", [httpx2.ConnectError("refused"), httpx2.ConnectTimeout("t"),
                                 httpx2.PoolTimeout("t")])
def test_connection_failures_say_the_request_never_left(exc: Exception) -> None:
    assert isinstance(raise_in_boundary(exc), ConnectFailed)


def test_certificate_failures_are_tls_errors_that_do_not_retry() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    exc = httpx2.ConnectError("handshake")
    exc.__cause__ = cause
    err = raise_in_boundary(exc)
    assert isinstance(err, TLSVerificationError) and isinstance(err, TransportError)
    assert err.kind is ErrorKind.CONFIG
    assert "ca_file" in str(err)


def test_undecodable_bodies_are_protocol_errors() -> None:
    assert isinstance(raise_in_boundary(httpx2.DecodingError("bad gzip")), ProtocolError)


def test_bad_schemes_are_config_errors() -> None:
    assert isinstance(raise_in_boundary(httpx2.UnsupportedProtocol("ftp")), ConfigError)


@pytest.mark.parametrize(("status", "kind"), [
    (500, ErrorKind.TRANSIENT), (503, ErrorKind.TRANSIENT), (429, ErrorKind.THROTTLED),
    (401, ErrorKind.AUTH), (403, ErrorKind.ACCESS), (404, ErrorKind.NOT_FOUND), (400, ErrorKind.RECORD),
    (418, ErrorKind.RECORD), (408, ErrorKind.TRANSIENT), (302, ErrorKind.PROTOCOL)])
def test_kind_for_status(status: int, kind: ErrorKind) -> None:
    assert kind_for_status(status) is kind


def test_parse_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2023 00:00:30 GMT", now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None

"""Redaction: secrets never reach logs or error messages."""

from __future__ import annotations

import io
import json

import structlog

from ledgerbridge.app.logging import configure_logging
from ledgerbridge.core.redaction import REDACTED, redact, redact_text


def test_authorization_headers_and_bearer_tokens_are_masked() -> None:
    text = "GET /x Authorization: Bearer 00Dxx0000001gPL!AQ4AQFtoken.value and Basic dXNlcjpwYXNz"
    out = redact_text(text)
    assert "AQ4AQFtoken" not in out and "dXNlcjpwYXNz" not in out
    assert f"Bearer {REDACTED}" in out


def test_oauth1_header_signature_and_token_are_masked() -> None:
    header = ('OAuth realm="123456", oauth_consumer_key="ck123", oauth_token="tk456", '
              'oauth_signature="B5OIWznZ2YP0OB7VrJrGkYsTh%2B8H%2B5T9Hag%2Bo92q0zY%3D", oauth_nonce="n0nce"')
    out = redact_text(header)
    for secret in ("ck123", "tk456", "B5OIWznZ2YP0", "n0nce"):
        assert secret not in out
    assert 'realm="123456"' in out


def test_query_string_secrets_and_url_passwords_are_masked() -> None:
    out = redact_text("https://h/services/oauth2/token?client_secret=abc&x=1 postgresql://u:pw@db/x")
    assert "abc" not in out and ":pw@" not in out and "x=1" in out


def test_jwts_are_masked() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert jwt not in redact_text(f"assertion {jwt}")


def test_mapping_keys_named_like_secrets_are_masked_recursively() -> None:
    event = {"password": "pw", "client_secret": "cs", "headers": {"Authorization": "Bearer x"},
             "name": "Acme", "items": [{"token_secret": "ts"}], "count": 3}
    out = redact(event)
    assert out["password"] == REDACTED and out["client_secret"] == REDACTED
    assert out["headers"]["Authorization"] == REDACTED
    assert out["items"][0]["token_secret"] == REDACTED
    assert out["name"] == "Acme" and out["count"] == 3


def test_literal_secrets_are_masked() -> None:
    assert redact_text("failed with my-very-secret", ("my-very-secret",)) == f"failed with {REDACTED}"


def test_json_logs_are_redacted_end_to_end() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    structlog.get_logger().info("auth.token.requested", client_secret="cs-123",
                                url="https://x/token?password=hunter2", flow="accounts")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["event"] == "auth.token.requested" and line["flow"] == "accounts"
    assert "cs-123" not in stream.getvalue() and "hunter2" not in stream.getvalue()


def test_words_that_merely_start_with_pass_are_not_secrets() -> None:
    from ledgerbridge.core.redaction import is_secret_key

    for key in ("password", "smtp_password", "passwordFile", "passwd", "passphrase", "pass", "db_pass"):
        assert is_secret_key(key), key
    for key in ("passes", "passed", "passing", "passage", "passive", "n_passes"):
        assert not is_secret_key(key), key

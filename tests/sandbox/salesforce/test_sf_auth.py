"""OAuth 2.0 token endpoint, SOAP login and session handling (reference §1)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from salesforce_sandbox_support import NOW, Api

from ledgerbridge_sandbox.salesforce import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
)

pytestmark = pytest.mark.anyio
TOKEN_URL = "/services/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _assertion(api: Api, **claims: object) -> str:
    key = Path(api.state.jwt_keys.private_key_file).read_bytes()
    payload = {
        "iss": DEFAULT_CLIENT_ID,
        "sub": DEFAULT_USERNAME,
        "aud": "https://login.salesforce.com",
        "exp": int(NOW.timestamp()) + 180,
    }
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="RS256")


async def _token(api: Api, data: dict[str, str], **kwargs: object):  # type: ignore[no-untyped-def]
    return await api.client.post(TOKEN_URL, data=data, **kwargs)


async def test_jwt_bearer_issues_a_working_token_with_the_real_shape(api: Api) -> None:
    r = await _token(api, {"grant_type": JWT_GRANT, "assertion": _assertion(api)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body)[:6] == ["access_token", "instance_url", "id", "token_type", "issued_at", "signature"]
    assert body["token_type"] == "Bearer"
    assert body["issued_at"] == str(int(NOW.timestamp() * 1000))
    assert body["access_token"].startswith(api.state.org_id[:15] + "!")
    assert body["id"].endswith(f"/id/{api.state.org_id}/{api.state.org.user_id}")
    assert "no-store" in r.headers["cache-control"]
    ok = await api.client.get(
        "/services/data/v62.0/limits", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"aud": "https://example.com"}, "invalid_grant", "audience is invalid"),
        ({"exp": int(NOW.timestamp()) - 10}, "invalid_grant", "expired authorization code"),
        ({"iss": "unknown-client"}, "invalid_client_id", "client identifier invalid"),
        ({"sub": "nobody@example.com"}, "invalid_grant", "user hasn't approved this consumer"),
    ],
)
async def test_jwt_bearer_rejects_bad_claims(
    api: Api, claims: dict[str, object], error: str, description: str
) -> None:
    r = await _token(api, {"grant_type": JWT_GRANT, "assertion": _assertion(api, **claims)})
    assert r.status_code == 400
    assert r.json() == {"error": error, "error_description": description}


async def test_jwt_bearer_rejects_a_foreign_signature(api: Api) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assertion = jwt.encode(
        {
            "iss": DEFAULT_CLIENT_ID,
            "sub": DEFAULT_USERNAME,
            "aud": "https://login.salesforce.com",
            "exp": int(time.time()) + 180,
        },
        other,
        algorithm="RS256",
    )
    r = await _token(api, {"grant_type": JWT_GRANT, "assertion": assertion})
    assert r.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


async def test_client_credentials_accepts_form_fields_and_basic_auth(api: Api) -> None:
    r = await _token(
        api,
        {
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    r = await _token(api, {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200


async def test_client_credentials_is_refused_on_the_login_host(api: Api) -> None:
    r = await _token(
        api,
        {
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
        headers={"Host": "login.salesforce.com"},
    )
    assert r.json() == {"error": "invalid_grant", "error_description": "request not supported on this domain"}


async def test_bad_client_secret_and_unknown_client(api: Api) -> None:
    r = await _token(
        api, {"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID, "client_secret": "wrong"}
    )
    assert r.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    r = await _token(api, {"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x"})
    assert r.json() == {"error": "invalid_client_id", "error_description": "client identifier invalid"}


async def test_password_grant_needs_password_plus_security_token(api: Api) -> None:
    form = {
        "grant_type": "password",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "username": DEFAULT_USERNAME,
        "password": DEFAULT_PASSWORD + DEFAULT_SECURITY_TOKEN,
    }
    assert (await _token(api, form)).status_code == 200
    r = await _token(api, {**form, "password": DEFAULT_PASSWORD})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


async def test_refresh_token_grant(api: Api) -> None:
    refresh = api.state.default_refresh_token()
    r = await _token(
        api, {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": DEFAULT_CLIENT_ID}
    )
    assert r.status_code == 200 and "refresh_token" not in r.json()
    r = await _token(
        api, {"grant_type": "refresh_token", "refresh_token": "bogus", "client_id": DEFAULT_CLIENT_ID}
    )
    assert r.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


async def test_missing_and_unknown_grant_types(api: Api) -> None:
    r = await _token(api, {})
    assert r.json() == {"error": "invalid_request", "error_description": "grant type is missing"}
    r = await _token(api, {"grant_type": "magic"})
    assert r.json() == {"error": "unsupported_grant_type", "error_description": "grant type not supported"}


async def test_data_calls_need_a_valid_bearer_token(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}):
        r = await api.client.get("/services/data/v62.0/sobjects", headers=headers)
        assert r.status_code == 401
        assert r.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


async def test_sessions_time_out_after_inactivity_and_each_use_extends_them(api: Api) -> None:
    clock = api.state.config.clock
    api.state.sessions.lifetime_s = 600
    clock.advance(500)
    assert (await api.get("/limits")).status_code == 200
    clock.advance(500)  # 1000 s after issue, 500 s after last use
    assert (await api.get("/limits")).status_code == 200
    clock.advance(601)
    assert (await api.get("/limits")).status_code == 401


async def test_soap_login_returns_the_partner_envelope(api: Api) -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        '<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com">'
        f"<n1:username>{DEFAULT_USERNAME}</n1:username>"
        f"<n1:password>{DEFAULT_PASSWORD}{DEFAULT_SECURITY_TOKEN}</n1:password>"
        "</n1:login></env:Body></env:Envelope>"
    )
    r = await api.client.post(
        "/services/Soap/u/59.0", content=body, headers={"content-type": "text/xml", "SOAPAction": "login"}
    )
    assert r.status_code == 200
    assert "<serverUrl>https://sandbox.test/services/Soap/u/59.0/" in r.text
    session = r.text.split("<sessionId>")[1].split("</sessionId>")[0]
    assert (
        await api.client.get("/services/data/v59.0/limits", headers={"Authorization": f"Bearer {session}"})
    ).status_code == 200
    bad = await api.client.post("/services/Soap/u/59.0", content=body.replace(DEFAULT_SECURITY_TOKEN, "x"))
    assert bad.status_code == 500
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in bad.text


async def test_admin_can_expire_sessions(api: Api) -> None:
    r = await api.client.post("/__sandbox__/sessions/expire")
    assert r.json()["expired"] >= 1
    assert (await api.get("/limits")).status_code == 401

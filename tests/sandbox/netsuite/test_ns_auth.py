"""Authentication: Oracle's TBA test vector, TBA failure modes, OAuth 2.0 client credentials."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt
import oauthlib.oauth1
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from netsuite_sandbox_support import NS

from ledgerbridge_sandbox.netsuite import NetSuiteSandboxConfig, create_app
from ledgerbridge_sandbox.netsuite.auth import (
    hmac_sha256_signature,
    parse_oauth_header,
    signature_base_string,
)
from ledgerbridge_sandbox.netsuite.errors import INVALID_LOGIN_DETAIL
from ledgerbridge_sandbox.netsuite.testing import TBAAuth

# Oracle help centre, "The Signature for Web Services and RESTlets" (reference §2.2).
VECTOR = {
    "consumer_key": "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4",
    "consumer_secret": "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9e8b5",
    "token_id": "2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc",
    "token_secret": "c29a677df7d5439a458c063654187e3d678d73aca8e3c9d8bea1478a3eb0d295",
    "nonce": "fjaLirsIcCGVZWzBX0pg",
    "timestamp": "1508242306",
    "realm": "123456",
}
VECTOR_URL = "https://123456.suitetalk.api.netsuite.com/services/rest/record/v1/employee/40"
VECTOR_SIGNATURE = "B5OIWznZ2YP0OB7VrJrGkYsTh+8H+5T9Hag+o92q0zY="


def _vector_params() -> list[tuple[str, str]]:
    return [
        ("oauth_consumer_key", VECTOR["consumer_key"]),
        ("oauth_nonce", VECTOR["nonce"]),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", VECTOR["timestamp"]),
        ("oauth_token", VECTOR["token_id"]),
        ("oauth_version", "1.0"),
    ]


def test_oracle_vector_base_string_and_signature() -> None:
    base = signature_base_string("GET", VECTOR_URL, _vector_params())
    assert base.startswith(
        "GET&https%3A%2F%2F123456.suitetalk.api.netsuite.com%2Fservices%2Frest%2Frecord"
        "%2Fv1%2Femployee%2F40&oauth_consumer_key%3Def40"
    )
    assert base.endswith("%26oauth_version%3D1.0")
    assert hmac_sha256_signature(base, VECTOR["consumer_secret"], VECTOR["token_secret"]) == VECTOR_SIGNATURE


def test_oracle_vector_restlet_query_parameters_are_signed() -> None:
    url = (
        "https://123456.restlets.api.netsuite.com/app/site/hosting/restlet.nl"
        "?script=6&deploy=1&customParam=someValue&testParam=someOtherValue"
    )
    params = [
        *_vector_params(),
        ("script", "6"),
        ("deploy", "1"),
        ("customParam", "someValue"),
        ("testParam", "someOtherValue"),
    ]
    base = signature_base_string("POST", url, params)
    expected = "+KK4SKNgz4ZiILGLwOMtfYlgcXSy1eis8ldE9X90azQ="
    assert hmac_sha256_signature(base, VECTOR["consumer_secret"], VECTOR["token_secret"]) == expected


def test_oracle_vector_verifies_against_a_sandbox_on_that_account(clock: Any) -> None:
    clock.set(
        __import__("datetime").datetime.fromtimestamp(int(VECTOR["timestamp"]), __import__("datetime").UTC)
    )
    config = NetSuiteSandboxConfig(
        account_id="123456",
        consumer_key=VECTOR["consumer_key"],
        consumer_secret=VECTOR["consumer_secret"],
        token_id=VECTOR["token_id"],
        token_secret=VECTOR["token_secret"],
        clock=clock,
    )
    app = create_app(config)
    sb = app.state.sandbox
    header = "OAuth " + ", ".join(
        f'{k}="{v}"'
        for k, v in [("realm", "123456"), *_vector_params(), ("oauth_signature", VECTOR_SIGNATURE)]
    )
    principal = sb.tba.verify("GET", [VECTOR_URL], header, [])
    assert principal.integration == VECTOR["consumer_key"]
    bad = header.replace(VECTOR_SIGNATURE, VECTOR_SIGNATURE[:-2] + "A=")
    with pytest.raises(Exception) as info:
        sb.tba.verify("GET", [VECTOR_URL + "?x=1"], header.replace("fjaLirs", "fjaLirz"), [])
    assert getattr(info.value, "reason", "") == "InvalidSignature"
    with pytest.raises(Exception) as info:
        sb.tba.verify("GET", [VECTOR_URL], bad, [])
    assert getattr(info.value, "reason", "") == "InvalidSignature"


def test_oauthlib_signature_is_accepted(ns: NS) -> None:
    r = ns.get("/record/v1/currency/1")
    assert r.status_code == 200
    assert r.json()["symbol"] == "USD"


def _assert_invalid_login(response: Any, reason: str) -> None:
    assert response.status_code == 401
    assert response.json() == {
        "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
        "title": "Unauthorized",
        "status": 401,
        "o:errorDetails": [{"detail": INVALID_LOGIN_DETAIL, "o:errorCode": "INVALID_LOGIN"}],
    }
    assert response.headers["x-sandbox-auth-reason"] == reason
    assert "type=error" in response.headers["content-type"]


def _signed_header(ns: NS, url: str, method: str = "GET", **overrides: Any) -> str:
    cfg = ns.sb.config
    params: dict[str, Any] = {
        "client_key": cfg.consumer_key,
        "client_secret": cfg.consumer_secret,
        "resource_owner_key": cfg.token_id,
        "resource_owner_secret": cfg.token_secret,
        "signature_method": oauthlib.oauth1.SIGNATURE_HMAC_SHA256,
        "realm": cfg.realm,
        "timestamp": str(int(ns.clock.now().timestamp())),
        "nonce": "n0nce-123456",
    }
    params.update(overrides)
    _, headers, _ = oauthlib.oauth1.Client(**params).sign(url, method)
    return str(headers["Authorization"])


def test_wrong_secret_is_invalid_signature(ns: NS) -> None:
    header = _signed_header(ns, "http://testserver/services/rest/record/v1/currency/1", client_secret="nope")
    _assert_invalid_login(
        ns.http.get("/record/v1/currency/1", headers={"Authorization": header}, auth=None), "InvalidSignature"
    )


def test_query_string_is_part_of_the_signature(ns: NS) -> None:
    header = _signed_header(ns, "http://testserver/services/rest/record/v1/currency?limit=1")
    ok = ns.http.get("/record/v1/currency", params={"limit": 1}, headers={"Authorization": header}, auth=None)
    assert ok.status_code == 200
    header = _signed_header(
        ns, "http://testserver/services/rest/record/v1/currency?limit=1", nonce="other-nonce"
    )
    tampered = ns.http.get(
        "/record/v1/currency", params={"limit": 2}, headers={"Authorization": header}, auth=None
    )
    _assert_invalid_login(tampered, "InvalidSignature")


def test_timestamp_outside_five_minutes(ns: NS) -> None:
    url = "http://testserver/services/rest/record/v1/currency/1"
    old = str(int(ns.clock.now().timestamp()) - 301)
    _assert_invalid_login(
        ns.http.get(
            "/record/v1/currency/1",
            headers={"Authorization": _signed_header(ns, url, timestamp=old)},
            auth=None,
        ),
        "InvalidTimestamp",
    )
    skew_ok = str(int(ns.clock.now().timestamp()) + 299)
    r = ns.http.get(
        "/record/v1/currency/1",
        headers={"Authorization": _signed_header(ns, url, timestamp=skew_ok)},
        auth=None,
    )
    assert r.status_code == 200


def test_nonce_replay_is_rejected(ns: NS) -> None:
    header = _signed_header(
        ns, "http://testserver/services/rest/record/v1/currency/1", nonce="replayed-nonce-1"
    )
    first = ns.http.get("/record/v1/currency/1", headers={"Authorization": header}, auth=None)
    assert first.status_code == 200
    _assert_invalid_login(
        ns.http.get("/record/v1/currency/1", headers={"Authorization": header}, auth=None), "NonceUsed"
    )


def test_wrong_realm_is_rejected(ns: NS) -> None:
    header = _signed_header(ns, "http://testserver/services/rest/record/v1/currency/1", realm="7654321")
    _assert_invalid_login(
        ns.http.get("/record/v1/currency/1", headers={"Authorization": header}, auth=None), "InvalidRealm"
    )


def test_sandbox_account_realm_is_uppercase_with_underscore(make_ns: Any) -> None:
    ns = make_ns(account_id="1234567_SB1")
    assert ns.sb.config.realm == "1234567_SB1"
    assert ns.get("/record/v1/currency/1").status_code == 200
    header = _signed_header(ns, "http://testserver/services/rest/record/v1/currency/1", realm="1234567-sb1")
    _assert_invalid_login(
        ns.http.get("/record/v1/currency/1", headers={"Authorization": header}, auth=None), "InvalidRealm"
    )


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"client_key": "unknown-consumer"}, "consumer_key_unknown"),
        ({"resource_owner_key": "unknown-token"}, "token_rejected"),
        ({"signature_method": oauthlib.oauth1.SIGNATURE_HMAC_SHA1}, "UnknownAlgorithm"),
        ({"nonce": "abc"}, "nonce_rejected"),
    ],
)
def test_other_tba_failures(ns: NS, override: dict[str, Any], reason: str) -> None:
    header = _signed_header(ns, "http://testserver/services/rest/record/v1/currency/1", **override)
    _assert_invalid_login(
        ns.http.get("/record/v1/currency/1", headers={"Authorization": header}, auth=None), reason
    )


def test_missing_authorization(ns: NS) -> None:
    _assert_invalid_login(ns.http.get("/record/v1/currency/1", auth=None), "MissingAuthorization")


def test_json_body_is_not_signed_but_form_body_is(ns: NS) -> None:
    url = "http://testserver/services/rest/record/v1/customer"
    header = _signed_header(ns, url, method="POST")
    r = ns.http.post(
        "/record/v1/customer",
        json={"companyName": "Body Co", "subsidiary": {"id": "2"}},
        headers={"Authorization": header},
        auth=None,
    )
    assert r.status_code == 204


# --- OAuth 2.0 client credentials ---------------------------------------------------------------


def _assertion(ns: NS, key: Any, alg: str, **claims: Any) -> str:
    now = int(ns.clock.now().timestamp())
    body = {
        "iss": ns.sb.config.oauth2_client_id,
        "scope": ["restlets", "rest_webservices"],
        "aud": "http://testserver/services/rest/auth/oauth2/v1/token",
        "iat": now,
        "exp": now + 3600,
        "jti": f"jti-{time.monotonic_ns()}",
    }
    body.update(claims)
    return jwt.encode(body, key, algorithm=alg, headers={"kid": claims.pop("kid", "cert-1")})


def _token(ns: NS, assertion: str, **form: str) -> Any:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        **form,
    }
    return ns.http.post(
        "/auth/oauth2/v1/token",
        content=urlencode(data),
        auth=None,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


@pytest.fixture
def keys() -> dict[str, Any]:
    return {
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture
def m2m(make_ns: Any, keys: dict[str, Any]) -> NS:
    pem = {
        name: k.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
        for name, k in keys.items()
    }
    result: NS = make_ns(oauth2_certificates={"cert-1": pem["ec"], "cert-rsa": pem["rsa"]})
    return result


@pytest.mark.parametrize(
    ("key_name", "alg", "kid"), [("ec", "ES256", "cert-1"), ("rsa", "PS256", "cert-rsa")]
)
def test_client_credentials_token_and_bearer_calls(
    m2m: NS, keys: dict[str, Any], key_name: str, alg: str, kid: str
) -> None:
    now = int(m2m.clock.now().timestamp())
    body = {
        "iss": m2m.sb.config.oauth2_client_id,
        "scope": "restlets,rest_webservices",
        "aud": "http://testserver/services/rest/auth/oauth2/v1/token",
        "iat": now,
        "exp": now + 3600,
    }
    assertion = jwt.encode(body, keys[key_name], algorithm=alg, headers={"kid": kid})
    r = _token(m2m, assertion)
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["expires_in"] == 3600 and token["token_type"] == "bearer"
    assert set(token) == {"access_token", "expires_in", "token_type"}
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert m2m.http.get("/record/v1/currency/1", headers=bearer, auth=None).status_code == 200
    m2m.clock.advance(3601)
    expired = m2m.http.get("/record/v1/currency/1", headers=bearer, auth=None)
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "someone-else"}, "iss is not the integration's client id"),
        ({"aud": "https://example.com/token"}, "aud is not the token endpoint"),
        ({"exp": 10**10}, "exp - iat must be at most 3600 seconds"),
        ({"scope": ["restlets"]}, "scope must include rest_webservices"),
    ],
)
def test_client_credentials_rejections(
    m2m: NS, keys: dict[str, Any], claims: dict[str, Any], reason: str
) -> None:
    r = _token(m2m, _assertion(m2m, keys["ec"], "ES256", **claims))
    assert r.status_code == 400
    assert r.json()["error"] in {"invalid_grant", "invalid_scope"}
    assert r.headers["x-sandbox-auth-reason"] == reason


def test_client_credentials_expired_unknown_kid_and_rs256(m2m: NS, keys: dict[str, Any]) -> None:
    expired = _assertion(m2m, keys["ec"], "ES256")
    m2m.clock.advance(3600)
    assert _token(m2m, expired).json() == {"error": "invalid_grant"}
    now = int(m2m.clock.now().timestamp())
    claims = {
        "iss": m2m.sb.config.oauth2_client_id,
        "scope": "rest_webservices",
        "aud": "http://testserver/services/rest/auth/oauth2/v1/token",
        "iat": now,
        "exp": now + 600,
    }
    unknown = jwt.encode(claims, keys["ec"], algorithm="ES256", headers={"kid": "nope"})
    assert _token(m2m, unknown).headers["x-sandbox-auth-reason"] == "unknown certificate id (kid)"
    rs256 = jwt.encode(claims, keys["rsa"], algorithm="RS256", headers={"kid": "cert-rsa"})
    assert _token(m2m, rs256).headers["x-sandbox-auth-reason"] == "algorithm RS256 not accepted"
    wrong_key = jwt.encode(
        claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "cert-1"}
    )
    assert _token(m2m, wrong_key).headers["x-sandbox-auth-reason"] == "assertion signature does not verify"
    assert _token(m2m, "x", grant_type="password").json() == {"error": "unsupported_grant_type"}


def test_unknown_bearer_token(ns: NS) -> None:
    r = ns.http.get("/record/v1/currency/1", headers={"Authorization": "Bearer nope"}, auth=None)
    assert r.status_code == 401
    assert r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"


def test_generated_m2m_key_works_end_to_end(make_ns: Any, tmp_path: Any) -> None:
    ns = make_ns(key_dir=tmp_path)
    key_file = ns.sb.m2m_key.private_key_file
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    now = int(ns.clock.now().timestamp())
    assertion = jwt.encode(
        {
            "iss": ns.sb.config.oauth2_client_id,
            "scope": ["rest_webservices"],
            "aud": "https://1234567.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token",
            "iat": now,
            "exp": now + 3600,
        },
        key,
        algorithm="ES256",
        headers={"kid": ns.sb.config.oauth2_certificate_id},
    )
    r = _token(ns, assertion)
    assert r.status_code == 200, r.text


def test_header_parsing_decodes_values() -> None:
    parsed = parse_oauth_header('OAuth realm="1", oauth_signature="a%2Bb%3D", oauth_nonce="x"')
    assert parsed == {"realm": "1", "oauth_signature": "a+b=", "oauth_nonce": "x"}


@pytest.mark.anyio
async def test_tba_auth_helper_over_asgi_transport(ns: NS) -> None:
    cfg = ns.sb.config
    info = {
        "account_id": cfg.account_id,
        "consumer_key": cfg.consumer_key,
        "consumer_secret": cfg.consumer_secret,
        "token_id": cfg.token_id,
        "token_secret": cfg.token_secret,
    }
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=ns.app),
        base_url="http://testserver/services/rest",
        auth=TBAAuth.from_info(info, clock=ns.clock),
    ) as client:
        r = await client.get("/record/v1/subsidiary/2")
    assert r.json()["name"] == "Northstar US"

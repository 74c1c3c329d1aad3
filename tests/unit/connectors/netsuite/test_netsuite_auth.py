"""TBA signing and OAuth 2.0 M2M token handling (reference/netsuite-api.md §2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from netsuite_testkit import FakeClock, tba_settings
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature as oauth_signature

from ledgerbridge.connectors.netsuite.auth import (
    ClientCredentialsAuth,
    TokenAuth,
    build_auth,
)
from ledgerbridge.connectors.netsuite.settings import NetSuiteSettings
from ledgerbridge.core.errors import AuthError, ConfigError

# reference/netsuite-api.md §2.2: Oracle's worked example.
CK = "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4"
CS = "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9e8b5"
TK = "2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc"
TS = "c29a677df7d5439a458c063654187e3d678d73aca8e3c9d8bea1478a3eb0d295"
NONCE = "fjaLirsIcCGVZWzBX0pg"
TIMESTAMP = 1508242306


def _oracle_auth(realm: str = "123456") -> TokenAuth:
    return TokenAuth(realm=realm, consumer_key=CK, consumer_secret=CS, token_id=TK, token_secret=TS,
                     clock=FakeClock(datetime.fromtimestamp(TIMESTAMP, UTC)), nonce_factory=lambda: NONCE)


def _header_params(header: str) -> dict[str, str]:
    assert header.startswith("OAuth ")
    out: dict[str, str] = {}
    for part in header[len("OAuth "):].split(","):
        key, _, value = part.strip().partition("=")
        out[key] = unquote(value.strip('"'))
    return out


def test_rest_signature_matches_oracle_test_vector() -> None:
    header = _oracle_auth().authorization(
        "GET", "https://123456.suitetalk.api.netsuite.com/services/rest/record/v1/employee/40")
    params = _header_params(header)
    assert params["oauth_signature"] == "B5OIWznZ2YP0OB7VrJrGkYsTh+8H+5T9Hag+o92q0zY="
    assert 'oauth_signature="B5OIWznZ2YP0OB7VrJrGkYsTh%2B8H%2B5T9Hag%2Bo92q0zY%3D"' in header
    assert params["realm"] == "123456"
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert params["oauth_version"] == "1.0"
    assert params["oauth_nonce"] == NONCE
    assert params["oauth_timestamp"] == str(TIMESTAMP)


def test_restlet_signature_includes_query_parameters_per_oracle_vector() -> None:
    auth = _oracle_auth()
    request = httpx2.Request(
        "POST", "https://123456.restlets.api.netsuite.com/app/site/hosting/restlet.nl",
        params={"script": "6", "deploy": "1", "customParam": "someValue", "testParam": "someOtherValue"},
        json={"ignored": "a JSON body is not signed"})
    flow = auth.auth_flow(request)
    signed = next(flow)
    params = _header_params(signed.headers["Authorization"])
    assert params["oauth_signature"] == "+KK4SKNgz4ZiILGLwOMtfYlgcXSy1eis8ldE9X90azQ="


def test_each_attempt_gets_a_new_nonce_and_current_timestamp() -> None:
    clock = FakeClock(datetime.fromtimestamp(TIMESTAMP, UTC))
    auth = TokenAuth(realm="123456", consumer_key=CK, consumer_secret=CS, token_id=TK, token_secret=TS,
                     clock=clock)
    url = "https://123456.suitetalk.api.netsuite.com/services/rest/record/v1/customer/1"
    first = _header_params(auth.authorization("GET", url))
    clock.advance(7)
    second = _header_params(auth.authorization("GET", url))
    assert first["oauth_nonce"] != second["oauth_nonce"]
    assert len(first["oauth_nonce"]) >= 6
    assert int(second["oauth_timestamp"]) == TIMESTAMP + 7
    assert first["oauth_signature"] != second["oauth_signature"]


def test_settings_realm_is_upper_case_and_host_slug_lower_dashed() -> None:
    s = NetSuiteSettings(account_id="123456_sb1", consumer_key="a", consumer_secret="b", token_id="c",
                         token_secret="d")
    assert s.realm == "123456_SB1"
    assert s.host_slug == "123456-sb1"
    assert s.rest_url == "https://123456-sb1.suitetalk.api.netsuite.com/services/rest"
    assert s.oauth2_token_url.endswith("/services/rest/auth/oauth2/v1/token")
    assert tba_settings(base_url="http://127.0.0.1:9/").rest_url == "http://127.0.0.1:9/services/rest"


def test_settings_refuse_missing_credentials_for_the_mode() -> None:
    with pytest.raises(ValueError, match="token_secret"):
        NetSuiteSettings(account_id="1", consumer_key="a", consumer_secret="b", token_id="c")
    with pytest.raises(ValueError, match="private_key"):
        NetSuiteSettings(account_id="1", auth_mode="oauth2_m2m", client_id="x", certificate_id="y")


def test_settings_secrets_are_masked_in_repr() -> None:
    s = tba_settings(token_secret="supersecretvalue")
    assert "supersecretvalue" not in repr(s)
    assert "supersecretvalue" not in str(s.model_dump())


# -- independent cross-checks ------------------------------------------------------------------


def _enc(value: str) -> str:
    return quote(value, safe="-._~")


def _stdlib_signature(method: str, url: str, oauth: dict[str, str], cs: str, ts: str) -> str:
    """RFC 5849 §3.4 written out with the standard library only (independent of oauthlib)."""
    parts = urlsplit(url)
    base_url = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
    pairs = [(k, v) for k, v in oauth.items() if k not in {"oauth_signature", "realm"}]
    pairs += parse_qsl(parts.query, keep_blank_values=True)
    normalized = "&".join(f"{k}={v}" for k, v in sorted((_enc(k), _enc(v)) for k, v in pairs))
    base = "&".join([method.upper(), _enc(base_url), _enc(normalized)])
    key = f"{_enc(cs)}&{_enc(ts)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                max_size=20)
_query = st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True), _text),
                  max_size=4)


@settings(max_examples=60, deadline=None)
@given(ck=_text, cs=_text, tk=_text, ts=_text, query=_query,
       nonce=st.from_regex(r"[A-Za-z0-9]{6,32}", fullmatch=True),
       timestamp=st.integers(min_value=1_000_000_000, max_value=4_000_000_000),
       method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"]),
       realm=st.from_regex(r"[0-9]{6,7}(_SB[12])?", fullmatch=True))
def test_signature_agrees_with_stdlib_rfc5849_and_oauthlib_server_verification(
        ck: str, cs: str, tk: str, ts: str, query: list[tuple[str, str]], nonce: str, timestamp: int,
        method: str, realm: str) -> None:
    auth = TokenAuth(realm=realm, consumer_key=ck, consumer_secret=cs, token_id=tk, token_secret=ts,
                     clock=FakeClock(datetime.fromtimestamp(timestamp, UTC)), nonce_factory=lambda: nonce)
    request = httpx2.Request(method, "https://123456-sb1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql",
                             params=list[tuple[str, str | int | float | bool | None]](query))
    signed = next(auth.auth_flow(request))
    header = signed.headers["Authorization"]
    params = _header_params(header)
    url = str(signed.url)
    assert params["realm"] == realm
    assert params["oauth_signature"] == _stdlib_signature(method, url, params, cs, ts)
    # oauthlib's server side (a separate code path from the client signer) accepts it too.
    server_request = OAuthRequest(url, method, headers={"Authorization": header})
    server_request.params = oauth_signature.collect_parameters(
        uri_query=urlsplit(url).query, headers={"Authorization": header}, exclude_oauth_signature=True)
    server_request.signature = params["oauth_signature"]
    assert oauth_signature.verify_hmac_sha256(server_request, cs, ts)


def _authlib_signature(method: str, url: str, header: str, cs: str, ts: str) -> str:
    """authlib's RFC 5849 base string (it has no HMAC-SHA256 method of its own) + stdlib HMAC."""
    from authlib.oauth1.rfc5849 import signature as authlib_sig  # type: ignore[import-untyped]
    from authlib.oauth1.rfc5849.util import unescape  # type: ignore[import-untyped]

    oauth = [(k, v) for k, v in _header_params(header).items() if k not in {"realm", "oauth_signature"}]
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    base = authlib_sig.construct_base_string(method, url, oauth + query)
    key = f"{authlib_sig.escape(cs)}&{authlib_sig.escape(ts)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
    assert unescape(authlib_sig.escape(cs)) == cs
    return base64.b64encode(digest).decode()


@settings(max_examples=40, deadline=None)
@given(cs=_text, ts=_text, query=_query, method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"]))
def test_signature_agrees_with_authlibs_base_string(cs: str, ts: str, query: list[tuple[str, str]],
                                                    method: str) -> None:
    pytest.importorskip("authlib")
    auth = TokenAuth(realm="123456_SB1", consumer_key="ck", consumer_secret=cs, token_id="tk",
                     token_secret=ts)
    request = httpx2.Request(method, "https://123456-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/x",
                             params=list[tuple[str, str | int | float | bool | None]](query))
    header = next(auth.auth_flow(request)).headers["Authorization"]
    url = str(request.url)
    assert _header_params(header)["oauth_signature"] == _authlib_signature(method, url, header, cs, ts)


# -- OAuth 2.0 M2M ----------------------------------------------------------------------------

TOKEN_URL = "https://123456-sb1.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token"


@pytest.fixture(scope="module")
def rsa_pem() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


@pytest.fixture(scope="module")
def ec_pem() -> tuple[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


@pytest.mark.parametrize("alg", ["PS256", "ES256"])
def test_client_assertion_has_kid_audience_scope_and_short_lifetime(
        alg: str, rsa_pem: tuple[str, Any], ec_pem: tuple[str, Any], clock: FakeClock) -> None:
    pem, public = rsa_pem if alg.startswith("PS") else ec_pem
    auth = ClientCredentialsAuth(token_url=TOKEN_URL, client_id="client-1", certificate_id="cert-9",
                                 private_key_pem=pem, algorithm=alg, clock=clock)
    token = auth.assertion()
    header = jwt.get_unverified_header(token)
    assert header["kid"] == "cert-9" and header["alg"] == alg and header["typ"] == "JWT"
    claims = jwt.decode(token, public, algorithms=[alg], audience=TOKEN_URL,
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["iss"] == "client-1"
    assert claims["scope"] == ["rest_webservices"]
    assert claims["iat"] == int(clock.now().timestamp())
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert claims["jti"]
    form = dict(parse_qsl(auth.token_request().content.decode()))
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_rs256_and_overlong_assertions_are_refused(rsa_pem: tuple[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ClientCredentialsAuth(token_url=TOKEN_URL, client_id="c", certificate_id="k",
                              private_key_pem=rsa_pem[0], algorithm="RS256")
    with pytest.raises(ConfigError):
        ClientCredentialsAuth(token_url=TOKEN_URL, client_id="c", certificate_id="k",
                              private_key_pem=rsa_pem[0], assertion_lifetime_s=3601)


class TokenServer:
    """A MockTransport handler: a token endpoint and one API route that checks the bearer token."""

    def __init__(self) -> None:
        self.n_tokens = 0
        self.valid: set[str] = set()
        self.api_calls = 0
        self.reject_next = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/oauth2/v1/token"):
            self.n_tokens += 1
            token = f"tok{self.n_tokens}"
            self.valid.add(token)
            return httpx2.Response(200, json={"access_token": token, "expires_in": 3600,
                                              "token_type": "bearer"})
        self.api_calls += 1
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.reject_next > 0 or bearer not in self.valid:
            self.reject_next -= 1
            return httpx2.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx2.Response(200, json={"ok": bearer})


@pytest.mark.anyio
async def test_bearer_token_is_cached_and_renewed_before_expiry(rsa_pem: tuple[str, Any],
                                                                clock: FakeClock) -> None:
    server = TokenServer()
    auth = ClientCredentialsAuth(token_url=TOKEN_URL, client_id="c", certificate_id="k",
                                 private_key_pem=rsa_pem[0], clock=clock, refresh_margin_s=120)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(server), auth=auth) as http:
        assert (await http.get("https://ns.test/a")).json() == {"ok": "tok1"}
        assert (await http.get("https://ns.test/a")).json() == {"ok": "tok1"}
        clock.advance(3600 - 119)  # inside the refresh margin
        assert (await http.get("https://ns.test/a")).json() == {"ok": "tok2"}
    assert server.n_tokens == 2


@pytest.mark.anyio
async def test_a_401_fetches_one_new_token_and_resends_once(rsa_pem: tuple[str, Any],
                                                            clock: FakeClock) -> None:
    server = TokenServer()
    auth = ClientCredentialsAuth(token_url=TOKEN_URL, client_id="c", certificate_id="k",
                                 private_key_pem=rsa_pem[0], clock=clock)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(server), auth=auth) as http:
        await http.get("https://ns.test/a")
        server.valid.clear()  # NetSuite revoked the token
        response = await http.get("https://ns.test/a")
        assert response.status_code == 200
        assert server.n_tokens == 2
        server.reject_next = 5  # keeps refusing: exactly one re-auth, then the 401 comes back
        response = await http.get("https://ns.test/a")
        assert response.status_code == 401
        assert server.n_tokens == 3


@pytest.mark.anyio
async def test_refused_assertion_raises_auth_error_without_secrets(rsa_pem: tuple[str, Any],
                                                                   clock: FakeClock) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(400, json={"error": "invalid_grant"})

    auth = ClientCredentialsAuth(token_url=TOKEN_URL, client_id="c", certificate_id="k",
                                 private_key_pem=rsa_pem[0], clock=clock)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), auth=auth) as http:
        with pytest.raises(AuthError) as info:
            await http.get("https://ns.test/a")
    assert info.value.code == "invalid_grant"
    assert "BEGIN" not in str(info.value)


def test_build_auth_picks_the_scheme_from_settings(rsa_pem: tuple[str, Any]) -> None:
    assert isinstance(build_auth(tba_settings()), TokenAuth)
    m2m = NetSuiteSettings(account_id="123456_SB1", auth_mode="oauth2_m2m", client_id="c",
                           certificate_id="k", private_key=rsa_pem[0])
    assert isinstance(build_auth(m2m), ClientCredentialsAuth)


@pytest.mark.anyio
async def test_a_throttled_token_request_is_throttling_not_an_auth_failure(rsa_pem: tuple[str, Any],
                                                                          clock: FakeClock) -> None:
    from ledgerbridge.core.errors import ConcurrencyLimited

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(429, json={"o:errorDetails": [{"detail": "Concurrent request limit exceeded.",
                                                              "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}]})

    auth = ClientCredentialsAuth(token_url=TOKEN_URL, client_id="c", certificate_id="k",
                                 private_key_pem=rsa_pem[0], clock=clock)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler), auth=auth) as http:
        with pytest.raises(ConcurrencyLimited):
            await http.get("https://ns.test/a")

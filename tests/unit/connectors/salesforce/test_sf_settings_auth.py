"""Settings validation and the four OAuth grants (reference/salesforce-api.md §1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr, ValidationError
from sf_scripted import INSTANCE, Scripted, json_response

from ledgerbridge.connectors.salesforce.auth import JWT_GRANT, TokenProvider, token_form
from ledgerbridge.connectors.salesforce.settings import SalesforceSettings
from ledgerbridge.core.errors import AuthError, ConfigError, ServerError


class FixedClock:
    def __init__(self) -> None:
        self.t = datetime(2024, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def rsa_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_settings_need_a_host() -> None:
    with pytest.raises(ValidationError, match="login_url"):
        SalesforceSettings(auth_mode="password", client_id="c", username="u", password="p")


@pytest.mark.parametrize(("mode", "kwargs", "missing"), [
    ("jwt", {"client_id": "c", "username": "u"}, "private_key"),
    ("client_credentials", {"client_id": "c", "client_secret": "s"}, "instance_url"),
    ("password", {"client_id": "c", "username": "u"}, "password"),
    ("refresh_token", {"client_id": "c"}, "refresh_token"),
])
def test_settings_name_what_each_auth_mode_lacks(mode: str, kwargs: dict[str, str], missing: str) -> None:
    with pytest.raises(ValidationError, match=missing):
        SalesforceSettings(login_url="https://login.salesforce.com", auth_mode=mode, **kwargs)  # type: ignore[arg-type]


def test_settings_defaults_and_version_normalisation() -> None:
    s = SalesforceSettings(login_url="https://test.salesforce.com/", auth_mode="password", client_id="c",
                           username="u", password="hunter2-pw", api_version="v61")
    assert s.login_url == "https://test.salesforce.com"
    assert s.api_version == "61.0" and s.data_path == "/services/data/v61.0"
    assert (s.bulk_threshold, s.reserve_fraction, s.upsert_key_field) == (2000, 0.2, "NetSuite_Id__c")
    assert s.token_url == "https://test.salesforce.com/services/oauth2/token"
    assert "hunter2-pw" not in repr(s) and "hunter2-pw" not in str(s.model_dump())


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERBRIDGE_SALESFORCE__INSTANCE_URL", INSTANCE)
    monkeypatch.setenv("LEDGERBRIDGE_SALESFORCE__AUTH_MODE", "client_credentials")
    monkeypatch.setenv("LEDGERBRIDGE_SALESFORCE__CLIENT_ID", "cid")
    monkeypatch.setenv("LEDGERBRIDGE_SALESFORCE__CLIENT_SECRET", "from-env")
    s = SalesforceSettings()
    assert s.client_secret is not None and s.client_secret.get_secret_value() == "from-env"


def test_client_credentials_go_to_the_my_domain_host() -> None:
    s = SalesforceSettings(login_url="https://login.salesforce.com", instance_url=INSTANCE,
                           auth_mode="client_credentials", client_id="c", client_secret="s")
    assert s.token_url == f"{INSTANCE}/services/oauth2/token"
    assert token_form(s, FixedClock()) == {"grant_type": "client_credentials", "client_id": "c",
                                           "client_secret": "s"}


def test_password_grant_appends_the_security_token() -> None:
    s = SalesforceSettings(login_url="https://login.salesforce.com", auth_mode="password", client_id="c",
                           client_secret="s", username="u@x.com", password="pw", security_token="TOK")
    assert token_form(s, FixedClock()) == {"grant_type": "password", "client_id": "c", "username": "u@x.com",
                                           "password": "pwTOK", "client_secret": "s"}


def test_refresh_token_grant() -> None:
    s = SalesforceSettings(login_url="https://login.salesforce.com", auth_mode="refresh_token", client_id="c",
                           refresh_token="5Aep8")
    assert token_form(s, FixedClock()) == {"grant_type": "refresh_token", "client_id": "c",
                                           "refresh_token": "5Aep8"}


def test_jwt_grant_signs_rs256_with_iss_sub_aud_exp(rsa_key: tuple[str, str]) -> None:
    private, public = rsa_key
    s = SalesforceSettings(login_url="https://test.salesforce.com", instance_url=INSTANCE, auth_mode="jwt",
                           client_id="consumer-key", username="int@acme.com", private_key=private)
    clock = FixedClock()
    form = token_form(s, clock)
    assert form["grant_type"] == JWT_GRANT
    assert jwt.get_unverified_header(form["assertion"])["alg"] == "RS256"
    claims = jwt.decode(form["assertion"], public, algorithms=["RS256"], audience="https://test.salesforce.com",
                        options={"verify_exp": False})
    assert claims["iss"] == "consumer-key" and claims["sub"] == "int@acme.com"
    assert claims["exp"] == int((clock.t + timedelta(minutes=3)).timestamp())


def test_jwt_audience_is_the_login_host_not_my_domain(rsa_key: tuple[str, str]) -> None:
    s = SalesforceSettings(login_url=INSTANCE, auth_mode="jwt", client_id="c", username="u",
                           private_key=rsa_key[0])
    assert s.jwt_audience == "https://login.salesforce.com"
    sbx = s.model_copy(update={"login_url": "https://acme--uat.sandbox.my.salesforce.com"})
    assert sbx.jwt_audience == "https://test.salesforce.com"


def test_jwt_key_from_file_and_bad_key(tmp_path, rsa_key: tuple[str, str]) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(rsa_key[0])
    s = SalesforceSettings(login_url="https://login.salesforce.com", auth_mode="jwt", client_id="c",
                           username="u", private_key_file=key_file)
    assert token_form(s, FixedClock())["assertion"].count(".") == 2
    bad = s.model_copy(update={"private_key_file": None, "private_key": SecretStr("not a key")})
    with pytest.raises(ConfigError, match="RSA"):
        token_form(bad, FixedClock())
    missing = s.model_copy(update={"private_key_file": tmp_path / "nope.pem"})
    with pytest.raises(ConfigError, match="private_key_file"):
        token_form(missing, FixedClock())


def _provider(scripted: Scripted, s: SalesforceSettings) -> TokenProvider:
    return TokenProvider(s, httpx2.AsyncClient(transport=httpx2.MockTransport(scripted)), clock=FixedClock())


@pytest.mark.anyio
async def test_token_is_fetched_once_and_cached(scripted: Scripted, settings: SalesforceSettings) -> None:
    scripted.token()
    provider = _provider(scripted, settings)
    first = await provider.token()
    assert await provider.token() is first
    assert first.instance_url == INSTANCE
    sent = parse_qs(scripted.requests[0].content.decode())
    assert sent["grant_type"] == ["client_credentials"]


@pytest.mark.anyio
async def test_reauthenticate_fetches_once_for_many_callers(scripted: Scripted,
                                                            settings: SalesforceSettings) -> None:
    scripted.expect("POST", r"/services/oauth2/token$",
                    json_response(200, {"access_token": "00D000000000001!first-token-abcdefghijklmnop",
                                        "instance_url": INSTANCE}),
                    json_response(200, {"access_token": "00D000000000001!second-token-abcdefghijklmno",
                                        "instance_url": INSTANCE}))
    provider = _provider(scripted, settings)
    stale = await provider.token()
    fresh = await provider.reauthenticate(stale)
    again = await provider.reauthenticate(stale)  # another task with the same stale token
    assert fresh is again and fresh.access_token.endswith("abcdefghijklmno")
    assert provider.n_token_requests == 2


@pytest.mark.anyio
async def test_rejected_credentials_raise_auth_error_without_secrets(scripted: Scripted,
                                                                     settings: SalesforceSettings) -> None:
    scripted.expect("POST", r"/services/oauth2/token$",
                    json_response(400, {"error": "invalid_client",
                                        "error_description": "invalid client credentials csecret-value"}))
    with pytest.raises(AuthError) as info:
        await _provider(scripted, settings).token()
    assert info.value.code == "invalid_client"
    assert "csecret-value" not in str(info.value) and "csecret-value" not in repr(info.value)


@pytest.mark.anyio
async def test_token_endpoint_5xx_is_retried(scripted: Scripted, settings: SalesforceSettings) -> None:
    scripted.expect("POST", r"/services/oauth2/token$", httpx2.Response(503, text="down"))
    scripted.token()
    assert (await _provider(scripted, settings).token()).instance_url == INSTANCE


@pytest.mark.anyio
async def test_token_endpoint_5xx_to_the_end_raises_server_error(scripted: Scripted,
                                                                 settings: SalesforceSettings) -> None:
    scripted.expect("POST", r"/services/oauth2/token$", *[httpx2.Response(503, text="down")] * 4)
    with pytest.raises(ServerError):
        await _provider(scripted, settings).token()

"""NetSuite authentication as ``httpx2.Auth`` flows (layer ``connectors``; imports ``core`` only).

Two schemes (reference/netsuite-api.md §2):

- :class:`TokenAuth`: token-based authentication, OAuth 1.0a with HMAC-SHA256 (§2.1). Signed with
  oauthlib, a new nonce and timestamp for every attempt (a nonce+timestamp pair is single-use,
  §2.1), the query string included in the signature base string, the JSON body not, and the realm
  the upper-case account id (``123456_SB1``).
- :class:`ClientCredentialsAuth`: OAuth 2.0 machine-to-machine (§2.4): a JWT assertion signed with
  PS256/ES256 (``kid`` = certificate id, ``aud`` = token URL, ``scope`` a list, ``exp - iat`` at
  most 3600 s) exchanged for a 3600 s bearer token. The token is cached, renewed before it
  expires, and a 401 causes exactly one fresh token and one resend.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx2
import jwt
from oauthlib import oauth1

from ledgerbridge.connectors.netsuite.errors import error_from_response
from ledgerbridge.connectors.netsuite.settings import NetSuiteSettings
from ledgerbridge.core.errors import AuthError, ConfigError, ProtocolError
from ledgerbridge.core.ports import Clock, SystemClock

SYSTEM = "netsuite"

# reference/netsuite-api.md §2.4: "exp - iat must be 3600 s or less".
MAX_ASSERTION_LIFETIME_S = 3600
# reference/netsuite-api.md §2.4: client_assertion_type of the client-credentials grant.
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _new_nonce() -> str:
    # §2.1: at least 6 characters, 20 is ideal; alphanumeric suits TBA, SOAP and RESTlets alike.
    return secrets.token_hex(10)


class TokenAuth(httpx2.Auth):
    """OAuth 1.0a (HMAC-SHA256) signing of every request, as NetSuite TBA expects.

    Args:
        realm: The account id in realm form (``123456_SB1``).
        consumer_key: Integration consumer key.
        consumer_secret: Integration consumer secret.
        token_id: Access token id.
        token_secret: Access token secret.
        clock: Source of the ``oauth_timestamp``.
        nonce_factory: Source of ``oauth_nonce`` (tests pass a fixed one).
    """

    def __init__(self, *, realm: str, consumer_key: str, consumer_secret: str, token_id: str,
                 token_secret: str, clock: Clock | None = None,
                 nonce_factory: Callable[[], str] = _new_nonce) -> None:
        self._realm = realm
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._token_id = token_id
        self._token_secret = token_secret
        self._clock = clock or SystemClock()
        self._nonce_factory = nonce_factory

    def authorization(self, method: str, url: str) -> str:
        """Build the ``Authorization`` header for one attempt of a request.

        Args:
            method: HTTP method.
            url: The full URL, query string included (its parameters are signed).

        Returns:
            The ``OAuth realm="...", ...`` header value.
        """
        client = oauth1.Client(
            self._consumer_key,
            client_secret=self._consumer_secret,
            resource_owner_key=self._token_id,
            resource_owner_secret=self._token_secret,
            signature_method=oauth1.SIGNATURE_HMAC_SHA256,
            realm=self._realm,
            nonce=self._nonce_factory(),
            timestamp=str(int(self._clock.now().timestamp())),
        )
        # No body and no Content-Type: a JSON body is not part of the base string (§2.1).
        _, headers, _ = client.sign(url, method.upper())
        return str(headers["Authorization"])

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Sign the request (called again for every retry, so each attempt gets a new nonce)."""
        request.headers["Authorization"] = self.authorization(request.method, str(request.url))
        yield request


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and when it stops being usable."""

    value: str
    expires_at: datetime


class ClientCredentialsAuth(httpx2.Auth):
    """OAuth 2.0 client credentials with a JWT assertion; caches and renews the bearer token.

    The token request goes through the same ``httpx2`` client as the call that needed it.

    Args:
        token_url: The token endpoint; also the assertion's audience.
        client_id: Client id of the integration record (``iss``).
        certificate_id: Certificate id (``kid``).
        private_key_pem: PEM private key of the certificate.
        algorithm: PS256/384/512 or ES256/384/512.
        scopes: Scopes to ask for (sent as a JSON array).
        clock: Source of ``iat``/``exp`` and of token expiry.
        assertion_lifetime_s: ``exp - iat`` of the assertion (at most 3600).
        refresh_margin_s: Renew the token this long before it expires.
    """

    requires_response_body = True

    def __init__(self, *, token_url: str, client_id: str, certificate_id: str, private_key_pem: str,
                 algorithm: str = "PS256", scopes: tuple[str, ...] = ("rest_webservices",),
                 clock: Clock | None = None, assertion_lifetime_s: int = 300,
                 refresh_margin_s: float = 120.0) -> None:
        if not 0 < assertion_lifetime_s <= MAX_ASSERTION_LIFETIME_S:
            raise ConfigError(f"assertion lifetime must be 1..{MAX_ASSERTION_LIFETIME_S} s")
        if not algorithm.startswith(("PS", "ES")):
            raise ConfigError("NetSuite accepts PS256/384/512 or ES256/384/512 assertions only")
        self._token_url = token_url
        self._client_id = client_id
        self._certificate_id = certificate_id
        self._private_key_pem = private_key_pem
        self._algorithm = algorithm
        self._scopes = list(scopes)
        self._clock = clock or SystemClock()
        self._assertion_lifetime_s = assertion_lifetime_s
        self._refresh_margin = timedelta(seconds=refresh_margin_s)
        self._token: AccessToken | None = None
        self._lock: asyncio.Lock | None = None
        self.n_tokens_fetched = 0

    def assertion(self) -> str:
        """A freshly signed client assertion (JWT).

        Returns:
            The compact JWT.
        """
        now = int(self._clock.now().timestamp())
        claims = {
            "iss": self._client_id,
            "scope": self._scopes,
            "aud": self._token_url,
            "iat": now,
            "exp": now + self._assertion_lifetime_s,
            "jti": uuid.uuid4().hex,
        }
        headers = {"typ": "JWT", "kid": self._certificate_id}
        try:
            return jwt.encode(claims, self._private_key_pem, algorithm=self._algorithm, headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(f"cannot sign the NetSuite client assertion: {type(exc).__name__}") from None

    def token_request(self) -> httpx2.Request:
        """The form-encoded client-credentials request for a new token."""
        return httpx2.Request("POST", self._token_url, data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER_ASSERTION,
            "client_assertion": self.assertion(),
        })

    def invalidate(self) -> None:
        """Forget the cached token (the next request fetches a new one)."""
        self._token = None

    def _usable(self) -> AccessToken | None:
        token = self._token
        if token is None or self._clock.now() >= token.expires_at - self._refresh_margin:
            return None
        return token

    def _store(self, response: httpx2.Response) -> AccessToken:
        if response.status_code == 429 or response.status_code >= 500:
            # The token endpoint shares the account's concurrency pool: throttling, not bad credentials.
            error = error_from_response(response.status_code, response.content, operation="oauth2.token")
            raise error
        if response.status_code != 200:
            detail = ""
            try:
                body = response.json()
                if isinstance(body, dict):
                    detail = f"{body.get('error', '')} {body.get('error_description', '')}".strip()
            except ValueError:
                detail = ""
            raise AuthError(
                f"NetSuite refused the client assertion ({response.status_code} {detail or 'no detail'}); "
                "check client_id, certificate_id, the key and the certificate's role mapping",
                status=response.status_code, code=detail.split(" ")[0] or None, system=SYSTEM,
                operation="oauth2.token")
        try:
            body = response.json()
            value = str(body["access_token"])
            expires_in = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise ProtocolError("unexpected NetSuite token response", system=SYSTEM,
                                operation="oauth2.token") from None
        token = AccessToken(value, self._clock.now() + timedelta(seconds=expires_in))
        self._token = token
        self.n_tokens_fetched += 1
        return token

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Synchronous flow (the product is async; kept for scripts and tests)."""
        token = self._usable()
        if token is None:
            token = self._store((yield self.token_request()))
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code == 401:
            token = self._store((yield self.token_request()))
            request.headers["Authorization"] = f"Bearer {token.value}"
            yield request

    async def async_auth_flow(
        self, request: httpx2.Request,
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        """Attach a valid token; on a 401 fetch one new token and resend once."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        token = self._usable()
        if token is None:
            async with self._lock:  # one token request, however many calls need it
                token = self._usable()
                if token is None:
                    token_response = yield self.token_request()
                    await token_response.aread()
                    token = self._store(token_response)
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code != 401:
            return
        async with self._lock:
            current = self._usable()
            if current is None or current.value == token.value:
                token_response = yield self.token_request()
                await token_response.aread()
                current = self._store(token_response)
        request.headers["Authorization"] = f"Bearer {current.value}"
        yield request


def build_auth(settings: NetSuiteSettings, *, clock: Clock | None = None) -> httpx2.Auth:
    """Build the auth flow the settings ask for.

    Args:
        settings: The connection's settings.
        clock: Injected clock (timestamps, token expiry).

    Returns:
        A :class:`TokenAuth` or a :class:`ClientCredentialsAuth`.

    Raises:
        ConfigError: When a needed credential is missing.
    """
    if settings.auth_mode == "tba":
        parts = (settings.consumer_key, settings.consumer_secret, settings.token_id, settings.token_secret)
        if any(p is None for p in parts):
            raise ConfigError("TBA needs consumer_key, consumer_secret, token_id and token_secret")
        ck, cs, tk, ts = (p.get_secret_value() for p in parts if p is not None)
        return TokenAuth(realm=settings.realm, consumer_key=ck, consumer_secret=cs, token_id=tk,
                         token_secret=ts, clock=clock)
    if settings.client_id is None or settings.certificate_id is None:
        raise ConfigError("OAuth 2.0 M2M needs client_id and certificate_id")
    try:
        pem = settings.private_key_pem()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the NetSuite private key: {type(exc).__name__}") from None
    return ClientCredentialsAuth(
        token_url=settings.oauth2_token_url, client_id=settings.client_id,
        certificate_id=settings.certificate_id, private_key_pem=pem,
        algorithm=settings.jwt_algorithm, scopes=settings.scopes, clock=clock)

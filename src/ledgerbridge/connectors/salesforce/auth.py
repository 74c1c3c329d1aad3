"""OAuth 2.0 token flows for Salesforce and the token cache (layer ``connectors``).

Imports ``ledgerbridge.core`` and ``ledgerbridge.transport`` only. Four grants (reference/
salesforce-api.md §1.1), all ``POST /services/oauth2/token`` with a form body:

- ``jwt``: JWT bearer, RS256 (the only algorithm Salesforce accepts), claims ``iss`` = client
  id, ``sub`` = username, ``aud`` = login/test host, ``exp`` = now + 3 minutes (§1.1).
- ``client_credentials``: client id + secret, sent to the My Domain host only.
- ``password``: client id/secret, username, password + security token (legacy).
- ``refresh_token``: a refresh token from an interactive consent.

Salesforce returns no ``expires_in`` (§1.2): a token is used until a call answers 401
``INVALID_SESSION_ID``; then :meth:`TokenProvider.reauthenticate` fetches a new one, once, shared
by every task that saw the same stale token.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import nullcontext
from datetime import timedelta

import httpx2
import jwt

from ledgerbridge.connectors.salesforce.errors import ErrorItem, error_from_response, parse_error_items
from ledgerbridge.connectors.salesforce.settings import SalesforceSettings
from ledgerbridge.connectors.salesforce.wire import TokenResponse, parse_token_response
from ledgerbridge.core.errors import AuthError, ConfigError, ProtocolError
from ledgerbridge.core.ports import Clock, SystemClock
from ledgerbridge.core.redaction import redact_text
from ledgerbridge.transport.errors import map_transport_errors, redact_url
from ledgerbridge.transport.metrics import TransportMetrics
from ledgerbridge.transport.retry import RetryPolicy

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = timedelta(minutes=3)
"""``exp`` must be within about 3 minutes of now (reference §1.1; simple-salesforce uses 3 min)."""

SYSTEM = "salesforce"


def jwt_assertion(settings: SalesforceSettings, clock: Clock) -> str:
    """A signed JWT bearer assertion for ``settings`` (RS256; iss, sub, aud, exp).

    Raises:
        ConfigError: The private key is missing or not an RSA PEM key.
    """
    claims = {"iss": settings.client_id, "sub": settings.username, "aud": settings.jwt_audience,
              "exp": int((clock.now() + JWT_LIFETIME).timestamp())}
    key = settings.load_private_key()
    try:
        return jwt.encode(claims, key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigError("the JWT private key is not a usable RSA PEM key "
                          f"({type(exc).__name__}); check private_key / private_key_file") from None


def token_form(settings: SalesforceSettings, clock: Clock) -> dict[str, str]:
    """The form fields of the token request for the configured grant (reference §1.1)."""
    def secret(value: object) -> str:
        getter = getattr(value, "get_secret_value", None)
        return str(getter()) if getter else ""

    mode = settings.auth_mode
    if mode == "jwt":
        return {"grant_type": JWT_GRANT, "assertion": jwt_assertion(settings, clock)}
    if mode == "client_credentials":
        return {"grant_type": "client_credentials", "client_id": settings.client_id or "",
                "client_secret": secret(settings.client_secret)}
    if mode == "password":
        form = {"grant_type": "password", "client_id": settings.client_id or "",
                "username": settings.username or "",
                "password": secret(settings.password) + secret(settings.security_token)}
        if settings.client_secret is not None:
            form["client_secret"] = secret(settings.client_secret)
        return form
    form = {"grant_type": "refresh_token", "client_id": settings.client_id or "",
            "refresh_token": secret(settings.refresh_token)}
    if settings.client_secret is not None:
        form["client_secret"] = secret(settings.client_secret)
    return form


class TokenProvider:
    """Fetches, caches and renews the access token of one connection."""

    def __init__(self, settings: SalesforceSettings, http: httpx2.AsyncClient, *,
                 clock: Clock | None = None, retry: RetryPolicy | None = None,
                 metrics: TransportMetrics | None = None) -> None:
        """Create a provider; no request is made until :meth:`token` is awaited.

        Args:
            settings: Credentials and hosts.
            http: The connection's shared client.
            clock: For the JWT ``exp`` claim.
            retry: Policy for transient failures of the token endpoint.
            metrics: Where token calls are counted.
        """
        self._settings = settings
        self._http = http
        self._clock: Clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._metrics = metrics
        self._token: TokenResponse | None = None
        self._lock = asyncio.Lock()
        self.n_token_requests = 0

    @property
    def current(self) -> TokenResponse | None:
        """The cached token, if any."""
        return self._token

    async def token(self) -> TokenResponse:
        """The cached token, fetching one first if there is none.

        Raises:
            AuthError: The credentials were rejected.
        """
        if self._token is not None:
            return self._token
        async with self._lock:
            if self._token is None:
                self._token = await self._fetch()
            return self._token

    async def reauthenticate(self, stale: TokenResponse | None) -> TokenResponse:
        """Replace ``stale`` with a fresh token (one request however many tasks call this).

        Args:
            stale: The token a call was rejected with.

        Returns:
            The new token (or the one another task already fetched).

        Raises:
            AuthError: The credentials were rejected.
        """
        async with self._lock:
            if self._token is not None and self._token is not stale:
                return self._token
            self._token = None
            self._token = await self._fetch()
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token."""
        self._token = None

    async def _fetch(self) -> TokenResponse:
        return await self._retry.call(self._fetch_once, system=SYSTEM, operation="token")

    async def _fetch_once(self) -> TokenResponse:
        url = self._settings.token_url
        form = token_form(self._settings, self._clock)
        secrets = (*self._settings.secrets(), *form.values())
        safe_url = redact_url(url, secrets)
        self.n_token_requests += 1
        tracking = self._metrics.track(SYSTEM, "token") if self._metrics else nullcontext()
        with tracking, map_transport_errors(system=SYSTEM, operation="token", url=safe_url,
                                            secrets=secrets):
            response = await self._http.post(url, data=form, headers={"Accept": "application/json"})
            return self._parse(response, safe_url, secrets)

    def _parse(self, response: httpx2.Response, safe_url: str, secrets: tuple[str, ...]) -> TokenResponse:
        text = response.text
        if response.status_code == 200:
            try:
                return parse_token_response(json.loads(text))
            except ValueError:
                raise ProtocolError("salesforce token endpoint answered 200 with a non-JSON body",
                                    system=SYSTEM, operation="token", url=safe_url) from None
        if response.status_code in (400, 401, 403):
            try:
                items = parse_error_items(json.loads(text))
            except ValueError:
                items = []
            item = items[0] if items else ErrorItem("invalid_grant", text[:200])
            raise AuthError(redact_text(f"salesforce authentication ({self._settings.auth_mode}) failed: "
                                        f"{item.code}: {item.message}; check the connected app and "
                                        "credentials", secrets),
                            status=response.status_code, code=item.code, system=SYSTEM,
                            operation="token", url=safe_url)
        raise error_from_response(response.status_code, redact_text(text, secrets), operation="token",
                                  url=safe_url)

"""Settings of one NetSuite connection (layer ``connectors``; imports ``core`` only, plus pydantic).

Values come, in order, from the constructor, ``LEDGERBRIDGE_NETSUITE__*`` environment variables,
a ``.env`` file and secret files; secrets are :class:`~pydantic.SecretStr` and never logged.

Host and realm rules are from reference/netsuite-api.md §1.1: the host slug is the account id
lower-cased with ``_`` turned into ``-`` (``123456_SB1`` -> ``123456-sb1``); the OAuth 1.0a realm
keeps the upper-case, underscore form (``123456_SB1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AuthMode = Literal["tba", "oauth2_m2m"]
JwtAlgorithm = Literal["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


class NetSuiteSettings(BaseSettings):
    """How to reach and authenticate to one NetSuite account.

    Attributes:
        account_id: Account id as NetSuite shows it (``123456``, ``123456_SB1``, ``TSTDRV1234567``).
        base_url: Override of ``https://{slug}.suitetalk.api.netsuite.com`` (a sandbox, a proxy).
        auth_mode: ``tba`` (OAuth 1.0a token-based auth) or ``oauth2_m2m`` (client credentials
            with a JWT assertion).
        consumer_key: TBA integration consumer key.
        consumer_secret: TBA integration consumer secret.
        token_id: TBA access token id.
        token_secret: TBA access token secret.
        client_id: OAuth 2.0 client id of the integration record (the assertion's ``iss``).
        certificate_id: Id NetSuite gave the uploaded certificate (the assertion's ``kid``).
        private_key: PEM private key matching the certificate (or use ``private_key_file``).
        private_key_file: Path of that PEM private key.
        jwt_algorithm: Signing algorithm of the assertion (NetSuite accepts PS* and ES*).
        scopes: OAuth 2.0 scopes to ask for.
        token_url: Override of the token endpoint (default: on the REST host).
        ca_file: PEM CA bundle to trust instead of the system store.
        concurrency_share: Slots of the account's concurrency pool this process may use.
        batch_threshold: Upserts of more records than this go through REST batch/async jobs.
        timeout_s: Read/write timeout of one request.
        query_time_zone: Time zone SuiteQL renders datetimes in (the integration user's).
        read_governance_limits: Read ``governanceLimits`` at start to cap the share.
        max_attempts: Attempts of a call that fails transiently (5xx, RCRD_HAS_BEEN_CHANGED).
        max_throttled_attempts: Attempts of a call NetSuite keeps rejecting for concurrency.
        job_poll_interval_s: First wait between polls of an async job (doubles up to 10 s).
        job_timeout_s: Give up waiting for an async job after this long.
    """

    model_config = SettingsConfigDict(
        env_prefix="LEDGERBRIDGE_NETSUITE__", env_nested_delimiter="__", extra="forbid",
        secrets_dir=None,
    )

    account_id: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    base_url: str | None = None
    auth_mode: AuthMode = "tba"

    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    token_id: SecretStr | None = None
    token_secret: SecretStr | None = None

    client_id: str | None = None
    certificate_id: str | None = None
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    jwt_algorithm: JwtAlgorithm = "PS256"
    scopes: tuple[str, ...] = ("rest_webservices",)
    token_url: str | None = None

    ca_file: Path | None = None
    concurrency_share: int = Field(default=5, ge=1, le=1000)
    batch_threshold: int = Field(default=200, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    query_time_zone: str = "UTC"
    read_governance_limits: bool = True
    max_attempts: int = Field(default=5, ge=1)
    max_throttled_attempts: int = Field(default=15, ge=1)
    job_poll_interval_s: float = Field(default=1.0, gt=0)
    job_timeout_s: float = Field(default=900.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _check_auth_fields(self) -> NetSuiteSettings:
        if self.auth_mode == "tba":
            missing = [name for name in ("consumer_key", "consumer_secret", "token_id", "token_secret")
                       if getattr(self, name) is None]
        else:
            missing = [name for name in ("client_id", "certificate_id") if getattr(self, name) is None]
            if self.private_key is None and self.private_key_file is None:
                missing.append("private_key or private_key_file")
        if missing:
            raise ValueError(f"auth_mode={self.auth_mode} needs: {', '.join(missing)}")
        return self

    @property
    def realm(self) -> str:
        """The OAuth 1.0a realm: the account id upper-cased (``123456_SB1``)."""
        return self.account_id.upper()

    @property
    def host_slug(self) -> str:
        """The account id as it appears in host names (``123456-sb1``)."""
        return self.account_id.lower().replace("_", "-")

    @property
    def origin(self) -> str:
        """Scheme and host of the REST service, without a trailing slash."""
        return self.base_url or f"https://{self.host_slug}.suitetalk.api.netsuite.com"

    @property
    def rest_url(self) -> str:
        """Root of the REST services (``.../services/rest``)."""
        return f"{self.origin}/services/rest"

    @property
    def oauth2_token_url(self) -> str:
        """The OAuth 2.0 token endpoint (also the assertion's ``aud``)."""
        return self.token_url or f"{self.rest_url}/auth/oauth2/v1/token"

    def private_key_pem(self) -> str:
        """The M2M private key as PEM text (read from ``private_key_file`` when given).

        Returns:
            The PEM text.

        Raises:
            ValueError: When neither ``private_key`` nor ``private_key_file`` is set.
        """
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        if self.private_key_file is not None:
            return self.private_key_file.read_text()
        raise ValueError("no private key configured")

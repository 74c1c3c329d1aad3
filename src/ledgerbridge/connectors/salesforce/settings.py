"""``SalesforceSettings``: how to reach and authenticate to one org (layer ``connectors``).

Imports ``ledgerbridge.core`` only. Sources, in order: init arguments, environment variables
(``LEDGERBRIDGE_SALESFORCE__<FIELD>``), a dotenv file, secret files; secrets are ``SecretStr``
and never appear in ``repr``, logs or errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledgerbridge.core.errors import ConfigError

AuthMode = Literal["jwt", "client_credentials", "password", "refresh_token"]

LOGIN_URL = "https://login.salesforce.com"
TEST_URL = "https://test.salesforce.com"

_REQUIRED: dict[str, tuple[str, ...]] = {
    "jwt": ("client_id", "username"),
    "client_credentials": ("client_id", "client_secret"),
    "password": ("client_id", "username", "password"),
    "refresh_token": ("client_id", "refresh_token"),
}


class SalesforceSettings(BaseSettings):
    """Connection, authentication and batching options for one Salesforce org.

    Attributes:
        login_url: Token host: ``https://login.salesforce.com``, ``https://test.salesforce.com``
            or the org's My Domain.
        instance_url: The org's My Domain URL; required for client credentials, which only the
            My Domain host accepts (reference/salesforce-api.md §1.1).
        api_version: REST API version, e.g. ``62.0`` (Winter '25).
        auth_mode: ``jwt`` | ``client_credentials`` | ``password`` | ``refresh_token``.
        client_id: The connected app's consumer key.
        client_secret: The connected app's consumer secret.
        username: The integration user (JWT ``sub``, password flow).
        password: The password (password flow).
        security_token: Appended to the password unless the IP is trusted.
        private_key: PEM private key for the JWT bearer flow.
        private_key_file: Path of that PEM key, instead of ``private_key``.
        audience: JWT ``aud``; defaults to the login host (login./test.salesforce.com).
        refresh_token: Refresh token from an interactive consent.
        ca_file: CA bundle to trust (corporate proxy, sandbox TLS).
        verify_tls: Verify server certificates.
        timeout_s: Read/write timeout of one call.
        max_connections: Pool size.
        upsert_key_field: External-id field used for upserts when the caller names none.
        bulk_threshold: Writes of one kind above this many go through Bulk API 2.0.
        reserve_fraction: Share of the daily allocation kept for orders and interactive calls.
        query_batch_size: ``Sforce-Query-Options: batchSize`` (200..2000, §4).
        call_options_client: ``Sforce-Call-Options: client=`` on writes (echo suppression, §9.1).
        bulk_poll_interval_s: Shortest wait between Bulk job polls.
        bulk_rows_per_s: Prior estimate of Bulk ingest speed, used to time the first poll of a
            job (rows ÷ speed) until the connection has measured its own jobs.
        bulk_timeout_s: Give up waiting for one Bulk job after this long.
        max_write_batch: The largest batch the engine should hand to ``upsert``.
        compress_requests: gzip request bodies of 32 KiB and more.
    """

    model_config = SettingsConfigDict(env_prefix="LEDGERBRIDGE_SALESFORCE__", env_nested_delimiter="__",
                                      extra="forbid", frozen=True)

    login_url: str | None = None
    instance_url: str | None = None
    api_version: str = "62.0"
    auth_mode: AuthMode = "jwt"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    audience: str | None = None
    refresh_token: SecretStr | None = None
    ca_file: str | None = None
    verify_tls: bool = True
    timeout_s: float = Field(60.0, gt=0)
    max_connections: int = Field(10, ge=1, le=100)
    upsert_key_field: str = "NetSuite_Id__c"
    bulk_threshold: int = Field(2000, ge=1)
    reserve_fraction: float = Field(0.2, ge=0.0, le=1.0)
    query_batch_size: int = Field(2000, ge=200, le=2000)
    call_options_client: str = "ledgerbridge"
    bulk_poll_interval_s: float = Field(1.0, gt=0)
    bulk_rows_per_s: float = Field(2000.0, gt=0)
    bulk_timeout_s: float = Field(3600.0, gt=0)
    max_write_batch: int = Field(10_000, ge=1)
    compress_requests: bool = True

    @field_validator("login_url", "instance_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"must be an http(s) URL such as {LOGIN_URL}, got {value!r}")
        return value.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        text = value.removeprefix("v")
        major, _, minor = text.partition(".")
        if not major.isdigit() or (minor and not minor.isdigit()):
            raise ValueError(f"api_version must look like 62.0, got {value!r}")
        return f"{int(major)}.{minor or '0'}"

    @model_validator(mode="after")
    def _complete(self) -> SalesforceSettings:
        if not self.login_url and not self.instance_url:
            raise ValueError(f"set login_url (e.g. {LOGIN_URL}) or instance_url")
        missing = [f for f in _REQUIRED[self.auth_mode] if getattr(self, f) in (None, "")]
        if self.auth_mode == "jwt" and self.private_key is None and self.private_key_file is None:
            missing.append("private_key (or private_key_file)")
        if self.auth_mode == "client_credentials" and not self.instance_url:
            missing.append("instance_url (client credentials only work on the My Domain host)")
        if missing:
            raise ValueError(f"auth mode {self.auth_mode!r} needs: {', '.join(missing)}")
        return self

    @property
    def token_url(self) -> str:
        """Where tokens are requested: the My Domain for client credentials, else the login host."""
        host = self.instance_url if self.auth_mode == "client_credentials" else (
            self.login_url or self.instance_url)
        assert host is not None  # guaranteed by the validator
        return f"{host}/services/oauth2/token"

    @property
    def jwt_audience(self) -> str:
        """The JWT ``aud``: login or test host, never the My Domain (§1.1)."""
        if self.audience:
            return self.audience
        host = self.login_url or self.instance_url or LOGIN_URL
        if host in (LOGIN_URL, TEST_URL):
            return host
        if ".my.salesforce.com" in host or ".salesforce.com" in host:
            return TEST_URL if ".sandbox." in host or "test.salesforce.com" in host else LOGIN_URL
        return host  # a local sandbox or proxy: it is its own audience

    def load_private_key(self) -> str:
        """The PEM private key for the JWT flow, from ``private_key`` or ``private_key_file``.

        Raises:
            ConfigError: Neither is set, or the file cannot be read.
        """
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        if self.private_key_file is None:
            raise ConfigError("auth mode 'jwt' needs private_key or private_key_file")
        try:
            return self.private_key_file.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read private_key_file {str(self.private_key_file)!r}: "
                              f"{exc.strerror}") from exc

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for literal redaction in messages."""
        values = [s.get_secret_value() for s in (self.client_secret, self.password, self.security_token,
                                                self.private_key, self.refresh_token) if s is not None]
        return tuple(v for v in values if v)

    @property
    def data_path(self) -> str:
        """``/services/data/vNN.0`` for this API version."""
        return f"/services/data/v{self.api_version}"

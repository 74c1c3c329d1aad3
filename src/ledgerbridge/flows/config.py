"""The configuration model of ``ledgerbridge.yaml`` (layer ``flows``; imports only ``core``).

One YAML file holds connections, the state store and the links/flows. Secrets never live in
the file: they come from ``${ENV_VAR}`` interpolation or ``*_file`` options, are typed
``SecretStr`` and are never printed. A secret written inline still loads, with a warning that
names its line and how to move it out. See ``flows.load`` for the loader that keeps line numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ledgerbridge.flows.spec import LinkSpec, parse_duration_s

DEFAULT_STATE_URL = "sqlite:///.ledgerbridge/state.db"
DEFAULT_SF_API_VERSION = "62.0"

_ACCOUNT_ID = re.compile(r"^[0-9]+(_(SB|sb|RP|rp|TD|td)[0-9]*)?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _read_secret_file(path: str, field: str) -> SecretStr:
    p = Path(path).expanduser()
    try:
        value = p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {field}_file {path!r}: {exc.strerror or exc}") from None
    if not value:
        raise ValueError(f"{field}_file {path!r} is empty")
    return SecretStr(value)


class _SecretsFromFiles(_Model):
    """Mixin: for every secret field ``x`` an optional ``x_file`` may supply the value."""

    _secret_fields: ClassVar[tuple[str, ...]] = ()
    _required: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _resolve_files(self) -> _SecretsFromFiles:
        missing = []
        for name in self._secret_fields:
            file_value = getattr(self, f"{name}_file", None)
            if getattr(self, name) is None and file_value:
                object.__setattr__(self, name, _read_secret_file(file_value, name))
            elif getattr(self, name) is not None and file_value:
                raise ValueError(f"give either {name} or {name}_file, not both")
        for name in self._required:
            if getattr(self, name) is None:
                hint = f" (or {name}_file)" if name in self._secret_fields else ""
                missing.append(f"{name}{hint}")
        if missing:
            mode = getattr(self, "mode", "")
            raise ValueError(f"auth mode {mode!r} needs: {', '.join(missing)}")
        return self


class SalesforceJwtAuth(_SecretsFromFiles):
    """OAuth 2.0 JWT bearer flow: a connected app's consumer key, a user and a private key."""

    mode: Literal["jwt"]
    client_id: str | None = None
    username: str | None = None
    private_key: SecretStr | None = None
    private_key_file: str | None = None
    audience: str | None = Field(None, description="JWT aud; defaults to the login URL")
    _secret_fields = ("private_key",)
    _required = ("client_id", "username", "private_key")


class SalesforceClientCredentialsAuth(_SecretsFromFiles):
    """OAuth 2.0 client credentials (runs as the connected app's integration user)."""

    mode: Literal["client_credentials"]
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: str | None = None
    _secret_fields = ("client_secret",)
    _required = ("client_id", "client_secret")


class SalesforcePasswordAuth(_SecretsFromFiles):
    """OAuth 2.0 username-password flow (legacy; password plus security token)."""

    mode: Literal["password"]
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None
    security_token: SecretStr | None = None
    security_token_file: str | None = None
    _secret_fields = ("client_secret", "password", "security_token")
    _required = ("client_id", "client_secret", "username", "password")


class SalesforceRefreshTokenAuth(_SecretsFromFiles):
    """OAuth 2.0 refresh-token flow (a token issued by an interactive consent)."""

    mode: Literal["refresh_token"]
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: str | None = None
    refresh_token: SecretStr | None = None
    refresh_token_file: str | None = None
    _secret_fields = ("client_secret", "refresh_token")
    _required = ("client_id", "refresh_token")


SalesforceAuth = Annotated[
    SalesforceJwtAuth | SalesforceClientCredentialsAuth | SalesforcePasswordAuth
    | SalesforceRefreshTokenAuth,
    Field(discriminator="mode"),
]


def _check_url(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{field} must be an http(s) URL such as https://login.salesforce.com, "
                         f"got {value!r}")
    return value.rstrip("/")


class SalesforceConnectionSpec(_Model):
    """How to reach a Salesforce org."""

    login_url: str | None = Field(None, description="https://login.salesforce.com, test. or My Domain")
    instance_url: str | None = Field(None, description="the org's My Domain URL, when known")
    api_version: str = DEFAULT_SF_API_VERSION
    auth: SalesforceAuth
    ca_file: str | None = Field(None, description="CA bundle to trust (corporate proxy, sandbox TLS)")
    timeout_s: float = Field(60.0, gt=0)

    @field_validator("login_url", "instance_url")
    @classmethod
    def _urls(cls, value: str | None, info: object) -> str | None:
        return _check_url(value, getattr(info, "field_name", "url"))

    @field_validator("api_version", mode="before")
    @classmethod
    def _version(cls, value: object) -> str:
        text = str(value).lstrip("vV")
        if not re.fullmatch(r"[0-9]{2}\.0", text) or float(text) < 50:
            raise ValueError(f"api_version must look like '62.0' (50.0 or later), got {value!r}")
        return text

    @model_validator(mode="after")
    def _one_url(self) -> SalesforceConnectionSpec:
        if not self.login_url and not self.instance_url:
            raise ValueError("set login_url (e.g. https://login.salesforce.com) or instance_url")
        return self


class NetSuiteTbaAuth(_SecretsFromFiles):
    """Token-based authentication (OAuth 1.0a, HMAC-SHA256)."""

    mode: Literal["tba"]
    consumer_key: SecretStr | None = None
    consumer_key_file: str | None = None
    consumer_secret: SecretStr | None = None
    consumer_secret_file: str | None = None
    token_id: SecretStr | None = None
    token_id_file: str | None = None
    token_secret: SecretStr | None = None
    token_secret_file: str | None = None
    _secret_fields = ("consumer_key", "consumer_secret", "token_id", "token_secret")
    _required = ("consumer_key", "consumer_secret", "token_id", "token_secret")


class NetSuiteM2MAuth(_SecretsFromFiles):
    """OAuth 2.0 client credentials with a certificate-signed JWT assertion."""

    mode: Literal["oauth2_m2m"]
    client_id: str | None = None
    certificate_id: str | None = None
    private_key: SecretStr | None = None
    private_key_file: str | None = None
    algorithm: Literal["PS256", "ES256"] = "PS256"
    _secret_fields = ("private_key",)
    _required = ("client_id", "certificate_id", "private_key")


NetSuiteAuth = Annotated[NetSuiteTbaAuth | NetSuiteM2MAuth, Field(discriminator="mode")]


class NetSuiteConnectionSpec(_Model):
    """How to reach a NetSuite account."""

    account_id: str = Field(description="e.g. 1234567 or 1234567_SB1")
    base_url: str | None = Field(None, description="override the host (a sandbox or a proxy)")
    auth: NetSuiteAuth
    concurrency: int = Field(5, ge=1, le=100, description="our share of the account's concurrency limit")
    ca_file: str | None = None
    timeout_s: float = Field(120.0, gt=0)

    @field_validator("account_id", mode="before")
    @classmethod
    def _account(cls, value: object) -> str:
        text = str(value).strip()
        if not _ACCOUNT_ID.fullmatch(text):
            raise ValueError(f"account_id must look like 1234567 or 1234567_SB1, got {value!r}")
        return text

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        return _check_url(value, "base_url")


class ConnectionsSpec(_Model):
    """The two systems."""

    salesforce: SalesforceConnectionSpec | None = None
    netsuite: NetSuiteConnectionSpec | None = None


class StateSpec(_Model):
    """Where LedgerBridge keeps xrefs, baselines, watermarks, audit and queues."""

    url: str = Field(DEFAULT_STATE_URL, description="sqlite:///path or postgresql://user@host/db")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        ok = re.match(r"^(sqlite(\+aiosqlite)?:///.*|postgres(ql)?(\+asyncpg|\+psycopg)?://.+)$", value)
        if not ok:
            raise ValueError(
                f"state url must be sqlite:///path/to/state.db or postgresql://user@host:5432/db, "
                f"got {value!r}")
        return value


class WebhookSpec(_Model):
    """The receiver of the NetSuite User Event script's signed calls (part of ``ledgerbridge run``)."""

    host: str = Field("127.0.0.1", description="interface to listen on")
    port: int = Field(8780, ge=0, le=65535, description="TCP port (0 picks a free one)")
    path: str = Field("/webhooks/netsuite", description="URL path the script posts to")
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 key shared with the script (${ENV})")
    secret_file: str | None = Field(None, description="file holding the secret instead")
    max_body_bytes: int = Field(16_384, gt=0)
    replay_window_s: float = Field(300.0, gt=0, description="accepted signature age, seconds")
    rate_limit_per_s: float = Field(50.0, gt=0)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path must start with '/', got {value!r}")
        return value

    @model_validator(mode="after")
    def _secret(self) -> WebhookSpec:
        if self.secret is not None and self.secret_file:
            raise ValueError("give either secret or secret_file, not both")
        if self.secret is None and self.secret_file:
            object.__setattr__(self, "secret", _read_secret_file(self.secret_file, "secret"))
        if self.secret is None or not self.secret.get_secret_value():
            raise ValueError(
                "realtime.webhook needs secret (e.g. ${LEDGERBRIDGE_WEBHOOK_SECRET}) or secret_file")
        return self


class SalesforceCdcSpec(_Model):
    """Salesforce Change Data Capture over the Pub/Sub API (gRPC)."""

    enabled: bool = True
    endpoint: str | None = Field(
        None, description="host:port of the Pub/Sub API; default api.pubsub.salesforce.com:7443")
    port: int | None = Field(
        None, ge=1, le=65535, description="Pub/Sub port on the instance URL's host (a local sandbox)")
    tls: bool | None = Field(None, description="TLS on the channel; default: as the instance URL (https)")
    batch_size: int = Field(100, ge=1, le=100, description="events requested at a time")

    @model_validator(mode="after")
    def _one_target(self) -> SalesforceCdcSpec:
        if self.endpoint and self.port:
            raise ValueError("give either endpoint or port, not both")
        return self


class RealtimeSpec(_Model):
    """Push triggers: Salesforce CDC and the NetSuite webhook, with slow polling as a safety net."""

    webhook: WebhookSpec | None = Field(None, description="the NetSuite push receiver (off when absent)")
    salesforce_cdc: SalesforceCdcSpec = Field(default_factory=SalesforceCdcSpec)
    safety_net_interval: float = Field(
        600.0, description="polling of push links (seconds, or 30s / 10m / 1h); default 10m")

    @field_validator("safety_net_interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float:
        seconds = parse_duration_s(value)
        if seconds <= 0:
            raise ValueError("safety_net_interval must be positive")
        return seconds


class OnboardingInvoiceSpec(_Model):
    """The welcome/onboarding invoice created in NetSuite (external id ``onboard-<customer id>``)."""

    item: str = Field(description="internal id of the NetSuite item billed")
    amount: float = Field(ge=0, description="the line's amount")
    memo: str = Field("Welcome / onboarding", description="the invoice memo")


class OnboardingTaskSpec(_Model):
    """The Salesforce Task for the account's customer-success owner."""

    owner_field: str = Field("Customer_Success_Owner__c", description="Account field naming the owner")
    role: str | None = Field(
        None, description="else the first active user (by Id) whose role (UserRole.Name) is this")
    fallback_title: str | None = Field(
        "Customer Success Manager", description="else the first active user with this Title")
    subject: str = Field("Onboard {account}", description="Task subject; {account} is the account name")
    due_in_days: int = Field(3, ge=0, description="ActivityDate = today + this")


class OnboardingEmailSpec(_SecretsFromFiles):
    """A notification by email over SMTP."""

    host: str
    port: int = Field(587, ge=1, le=65535)
    tls: Literal["starttls", "ssl", "none"] = Field("starttls", description="STARTTLS, implicit TLS or none")
    username: str | None = None
    password: SecretStr | None = Field(None, description="SMTP password (${ENV})")
    password_file: str | None = None
    sender: str = Field(description="From address")
    to: list[str] = Field(min_length=1, description="recipients")
    ca_file: str | None = Field(None, description="CA bundle to trust for TLS")
    timeout_s: float = Field(30.0, gt=0)
    _secret_fields = ("password",)


class OnboardingWebhookSpec(_SecretsFromFiles):
    """A notification to a Slack-compatible incoming webhook (POST ``{"text": ...}``)."""

    url: SecretStr | None = Field(None, description="the webhook URL; it embeds a token (${ENV})")
    url_file: str | None = None
    timeout_s: float = Field(15.0, gt=0)
    _secret_fields = ("url",)
    _required = ("url",)

    @field_validator("url")
    @classmethod
    def _http(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.match(r"^https?://", value.get_secret_value()):
            raise ValueError("url must be an http(s) URL")
        return value


class OnboardingSpec(_Model):
    """Customer onboarding after a won deal's account becomes a NetSuite customer (run after each
    pass): an invoice, a Salesforce Task and notifications, each once per customer."""

    enabled: bool = True
    link: str = Field("accounts", description="the Account <-> customer link whose creates start onboarding")
    invoice: OnboardingInvoiceSpec | None = Field(None, description="the welcome invoice (none when absent)")
    task: OnboardingTaskSpec | None = Field(default_factory=OnboardingTaskSpec)
    email: OnboardingEmailSpec | None = None
    webhook: OnboardingWebhookSpec | None = None


class PriceBooksSpec(_Model):
    """NetSuite item prices -> Salesforce price books, run after each pass for the catalog links' items:
    the base price level -> the Standard Price Book, every other level -> a price book of its own, one
    entry per currency the org has, and quantity breaks -> CPQ discount schedules where CPQ exists."""

    enabled: bool = True
    links: list[str] | None = Field(
        None, description="catalog links whose items are priced (NetSuite item -> Product2); default: every "
                          "enabled link whose Salesforce object is Product2")
    base_level: str = Field("1", description="internal id of the NetSuite price level written to the "
                                             "Standard Price Book (Base Price is 1)")
    levels: Literal["all"] | list[str] = Field(
        "all", description="the other price levels written to price books of their own: `all`, or a list "
                           "of NetSuite price level internal ids (an empty list: standard prices only)")
    book_name: str = Field("{level}", description="name of a level's price book; {level} is the NetSuite "
                                                  "price level's name (created, active, when missing)")
    currency: str | None = Field(
        None, description="ISO code of the currency written in a single-currency org, and of CPQ discount "
                          "schedules; default: NetSuite's base currency")
    discount_schedules: Literal["auto", False] = Field(
        "auto", description="quantity breaks at the base level -> SBQQ__DiscountSchedule__c and its tiers: "
                            "`auto` (when the org has Salesforce CPQ) or false")

    @field_validator("base_level")
    @classmethod
    def _level_id(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("base_level must be a NetSuite price level internal id, e.g. \"1\"")
        return value.strip()

    @field_validator("levels", mode="before")
    @classmethod
    def _level_ids(cls, value: object) -> object:
        if isinstance(value, list):
            return [str(v).strip() for v in value]
        return value

    @field_validator("book_name")
    @classmethod
    def _book_name(cls, value: str) -> str:
        if "{level}" not in value:
            raise ValueError("book_name must contain {level} (the price level's name), or every level "
                             "would share one price book")
        return value

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
            raise ValueError(f"currency must be a three-letter ISO code such as USD, got {value!r}")
        return value.strip().upper() if value is not None else None

    def catalog_links(self, links: dict[str, LinkSpec]) -> list[str]:
        """The links whose items are priced (``links``, or every enabled Product2 link)."""
        if self.links is not None:
            return list(self.links)
        return [name for name, link in links.items() if link.enabled and link.salesforce == "Product2"]


class LedgerBridgeConfig(_Model):
    """The whole of ``ledgerbridge.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="LedgerBridge configuration")

    version: Literal[1] = 1
    connections: ConnectionsSpec = Field(default_factory=ConnectionsSpec)
    state: StateSpec = Field(default_factory=StateSpec)
    links: dict[str, LinkSpec] = Field(
        default_factory=dict, description="Salesforce object <-> NetSuite record pairs and their mappings")
    realtime: RealtimeSpec | None = Field(
        None, description="push triggers (Salesforce CDC, NetSuite webhook); absent: polling only")
    onboarding: OnboardingSpec | None = Field(
        None, description="customer onboarding after won deals (invoice, task, notifications)")
    price_books: PriceBooksSpec | None = Field(
        None, description="NetSuite item prices -> Salesforce price books (and CPQ discount schedules), "
                          "after each pass of the catalog links")

    @field_validator("price_books")
    @classmethod
    def _price_book_links(cls, value: PriceBooksSpec | None, info: ValidationInfo) -> PriceBooksSpec | None:
        links = info.data.get("links")
        if value is None or value.links is None or not isinstance(links, dict):
            return value
        problems = []
        for i, name in enumerate(value.links):
            link = links.get(name)
            if link is None:
                known = ", ".join(sorted(links)) or "none"
                problems.append(f"links[{i}]: no link named {name!r} (links: {known})")
            elif link.salesforce != "Product2":
                problems.append(f"links[{i}]: link {name!r} pairs {link.salesforce}, not "
                                "Product2; name the NetSuite item -> Product2 links")
        if problems:
            raise ValueError("; ".join(problems))
        return value

"""Settings of the Salesforce sandbox and its documented default credentials.

Configuration layer; imports only the standard library and the sandbox clock. The defaults are
deterministic so that documentation, tests and the ``ledgerbridge demo`` command can rely on
them; every one can be overridden by a command-line flag or by constructing
``SalesforceSandboxConfig`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ledgerbridge_sandbox.salesforce.clock import Clock

DEFAULT_PORT = 8701
DEFAULT_API_VERSION = "62.0"  # Winter '25: the version the sandbox advertises
MIN_API_VERSION = 50
LATEST_API_VERSION = 66  # Spring '26, the newest release in the reference (§2); served too
DEFAULT_CLIENT_ID = "3MVG9LedgerBridgeSandboxConsumerKey.0000000000000000000000000000"
DEFAULT_CLIENT_SECRET = "LBSANDBOXSECRET0000000000000000000000000000000000000000000000001"
DEFAULT_USERNAME = "integration@ledgerbridge.sandbox"
DEFAULT_PASSWORD = "sandbox-password"
DEFAULT_SECURITY_TOKEN = "SANDBOXTOKEN0000"
DEFAULT_ORG_NAME = "LedgerBridge Demo Co"
# Developer Edition gets 15,000 calls a day, Enterprise 100,000 + 1,000 per licence (reference §2.2).
DEFAULT_API_ALLOCATION = 100_000
# Org default session timeout is commonly 2 hours (reference §1.2); sessions time out on inactivity.
DEFAULT_TOKEN_LIFETIME_S = 7200
# Query page size: default and maximum 2000, minimum 200 (reference §4).
DEFAULT_QUERY_BATCH = 2000
MIN_QUERY_BATCH = 200
# JWT audiences accepted besides the sandbox's own URL (reference §1.1).
DEFAULT_JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass
class ValidationRule:
    """An admin-defined validation rule: fails a save when ``condition`` holds for the record.

    ``condition`` is a SOQL WHERE expression evaluated on the record as it would be saved,
    e.g. ``Credit_Limit__c < 0``. The save fails with FIELD_CUSTOM_VALIDATION_EXCEPTION.
    """

    object: str
    name: str
    condition: str
    message: str
    field: str | None = None


@dataclass
class Faults:
    """Runtime knobs for realism and failure injection (all off by default).

    Attributes:
        latency_ms: fixed delay added to every API call.
        latency_jitter_ms: when set, ``(low, high)`` of a uniform random delay instead.
        server_error_rate: share of API calls answered with 503 SERVER_UNAVAILABLE.
        lock_row_rate: share of record writes failing with UNABLE_TO_LOCK_ROW.
        seed: seed of the random generator deciding which calls fail.
    """

    latency_ms: float = 0.0
    latency_jitter_ms: tuple[float, float] | None = None
    server_error_rate: float = 0.0
    lock_row_rate: float = 0.0
    seed: int = 0


@dataclass
class SalesforceSandboxConfig:
    """Everything that shapes one sandbox org.

    Attributes:
        data: SQLite file path, or ``":memory:"``.
        seed: ``"demo"`` or ``"empty"``: what a fresh (or reset) org contains.
        scale: when set, the demo seed generates this many accounts (with contacts and
            opportunities) instead of its default size.
        seed_number: random seed of the generated data.
        api_version: the API version the sandbox advertises (start-up line, SOAP login); every
            version from 50.0 to the newest release (at least this one) is served.
        client_id, client_secret: the connected app's consumer key and secret.
        username, password, security_token: the integration user's login.
        jwt_certificate_file: PEM certificate or public key trusted for JWT bearer; when
            ``None`` one is generated next to the data (see ``key_dir``).
        jwt_audiences: accepted ``aud`` values besides the sandbox's own URL.
        key_dir: where generated keys (JWT, TLS) are kept; ``None`` = next to the data file,
            or a temporary directory for an in-memory org.
        org_name: the organisation's name.
        api_allocation: daily (rolling 24 h) API request allocation.
        token_lifetime_s: session timeout (inactivity) of issued access tokens.
        duplicate_rules: whether the standard duplicate rules (Account Name, Contact Email)
            are active.
        duplicate_rule_action: ``"alert"`` (bypassed by ``allowSave=true``) or ``"block"``.
        validation_rules: admin-defined validation rules.
        multi_currency: whether ``CurrencyIsoCode`` exists on objects.
        currencies: active currency ISO codes (multi-currency), the first is corporate.
        schema_files: extra schema files adding custom fields or objects.
        faults: latency and failure injection.
        clock: the time source.
        admin_token: when set, the ``/__sandbox__`` admin API requires
            ``Authorization: Bearer <admin_token>``.
    """

    data: str = ":memory:"
    seed: str = "demo"
    scale: int | None = None
    seed_number: int = 42
    api_version: str = DEFAULT_API_VERSION
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    security_token: str = DEFAULT_SECURITY_TOKEN
    jwt_certificate_file: Path | None = None
    jwt_audiences: tuple[str, ...] = DEFAULT_JWT_AUDIENCES
    key_dir: Path | None = None
    org_name: str = DEFAULT_ORG_NAME
    api_allocation: int = DEFAULT_API_ALLOCATION
    token_lifetime_s: float = DEFAULT_TOKEN_LIFETIME_S
    duplicate_rules: bool = True
    duplicate_rule_action: str = "alert"
    validation_rules: list[ValidationRule] = field(default_factory=list)
    multi_currency: bool = False
    currencies: tuple[str, ...] = ("USD", "EUR", "GBP", "CAD")
    schema_files: tuple[Path, ...] = ()
    faults: Faults = field(default_factory=Faults)
    clock: Clock = field(default_factory=Clock)
    admin_token: str | None = None

    @property
    def corporate_currency(self) -> str:
        """The org's default currency."""
        return self.currencies[0] if self.currencies else "USD"

    @property
    def api_versions(self) -> list[str]:
        """Every API version served (50.0 up to the newest release), oldest first."""
        newest = max(int(float(self.api_version)), LATEST_API_VERSION)
        return [f"{v}.0" for v in range(MIN_API_VERSION, newest + 1)]

"""Settings of one NetSuite sandbox instance: account, credentials, governance and realism knobs.

Layer: the sandbox's configuration values; imports only the standard library and ``clock``.

Everything here is a plain value. ``create_app`` takes a ``NetSuiteSandboxConfig``; the knobs under
``TUNABLE_KEYS`` can also be read and changed at run time with ``GET/PUT /__sandbox__/config``.
Facts the reference (shared/reference/netsuite-api.md) marks as unverified are settings here rather
than hard-coded, so a test can flip them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledgerbridge_sandbox.netsuite.clock import Clock, SystemClock

DEFAULT_ACCOUNT_ID = "1234567"
"""Account id served by default (``1234567_SB1`` style ids work too)."""
DEFAULT_CONSUMER_KEY = (
    "ns-sandbox-consumer-key-0001a7c3e5f9b2d4c6e8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1"
)
"""TBA consumer key of the default integration record."""
DEFAULT_CONSUMER_SECRET = (
    "ns-sandbox-consumer-secret-3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1"
)
"""TBA consumer secret of the default integration record."""
DEFAULT_TOKEN_ID = "ns-sandbox-token-id-8c1e4a7b2d5f8e1a4c7b0d3f6e9a2c5b8d1f4e7a0c3b6d9f2e5a8c1b4d7f0e3a6"
"""TBA token id of the default access token."""
DEFAULT_TOKEN_SECRET = (
    "ns-sandbox-token-secret-5b9d3f7a1c5e9b3d7f1a5c9e3b7d1f5a9c3e7b1d5f9a3c7e1b5d9f3a7c1e5b9d3"
)
"""TBA token secret of the default access token."""
DEFAULT_OAUTH2_CLIENT_ID = (
    "ns-sandbox-oauth2-client-id-7e3a9c5b1d7f3e9a5c1b7d3f9e5a1c7b3d9f5e1a7c3b9d5f1e7a3c9b5d1f7e3a"
)
"""OAuth 2.0 client id (the integration record's) expected as ``iss`` of M2M assertions."""
DEFAULT_OAUTH2_CERTIFICATE_ID = "ns-sandbox-m2m-cert-0001"
"""Certificate id expected as ``kid`` of M2M assertions."""

TUNABLE_KEYS = (
    "concurrency_limit",
    "integration_concurrency_limit",
    "occupied_slots",
    "latency_read_ms",
    "latency_write_ms",
    "error_rate",
    "record_changed_rate",
    "invalid_login_rate",
    "error_after_write",
    "rng_seed",
    "timestamp_window_s",
    "nonce_min_length",
    "default_order_status",
    "duplicate_detection",
    "async_job_delay_s",
    "require_transient",
    "derived_touch_last_modified",
    "date_format",
    "suiteql_max_rows",
    "base_url",
    "debug_auth_header",
    "allow_rs256",
    "one_world",
)
"""Settings readable and writable through ``/__sandbox__/config`` while the sandbox runs."""

LATENCY_PRESETS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "zero": ((0.0, 0.0), (0.0, 0.0)),
    "realistic": ((150.0, 400.0), (300.0, 800.0)),
}
"""Named latency presets: ``(read range ms, write range ms)``."""


@dataclass
class NetSuiteSandboxConfig:
    """Configuration of one sandbox (one NetSuite account).

    Attributes:
        account_id: account id, e.g. ``1234567`` or ``1234567_SB1``; the TBA realm must equal it.
        consumer_key: TBA consumer key accepted.
        consumer_secret: TBA consumer secret.
        token_id: TBA token id accepted.
        token_secret: TBA token secret.
        oauth2_client_id: client id expected as the ``iss`` of M2M assertions.
        oauth2_certificate_id: certificate id (``kid``) of the generated M2M key.
        oauth2_certificates: certificate id (``kid``) -> PEM certificate or public key.
        data_path: SQLite file, or ``:memory:``.
        custom_fields_file: JSON file declaring custom fields; None uses the packaged default.
        one_world: OneWorld mode (subsidiary required, subsidiaries must agree).
        concurrency_limit: account concurrency pool size (429 beyond it).
        integration_concurrency_limit: reported by governanceLimits when set; also enforced per
            integration (consumer key / OAuth 2.0 client).
        occupied_slots: slots held by "another integration" (admin hook).
        latency_read_ms: added latency range for reads, ``(low, high)`` in ms.
        latency_write_ms: added latency range for writes, ``(low, high)`` in ms.
        error_rate: probability of a 500 UNEXPECTED_ERROR on any REST call.
        record_changed_rate: probability of RCRD_HAS_BEEN_CHANGED on record writes.
        invalid_login_rate: probability of a spurious 401 INVALID_LOGIN on a correctly signed
            request (seen on real accounts under heavy concurrency; reference §2.3).
        error_after_write: when a 500 is injected on a write, commit the write first (as a lost
            response would look to a client).
        rng_seed: seed of the random generator used for faults and latency.
        clock: time source (inject a ``ManualClock`` in tests).
        timestamp_window_s: accepted TBA timestamp skew.
        nonce_min_length: shortest accepted TBA nonce.
        debug_auth_header: add ``X-Sandbox-Auth-Reason`` to 401 answers.
        allow_rs256: also accept RS256 M2M assertions (older releases did).
        token_ttl_s: lifetime of OAuth 2.0 access tokens.
        duplicate_detection: entity duplicate rules on create: any of ``entityid``,
            ``companyname``, ``email``, ``phone``.
        default_order_status: sales order status when none is sent (``A`` or ``B``).
        date_format: user date format preference used by ``q=`` date values.
        suiteql_max_rows: rows reachable through SuiteQL paging.
        suiteql_timezone: time zone SuiteQL presents datetimes in (REST is always UTC).
        async_job_delay_s: seconds (on ``clock``) before an async job reports completion.
        require_transient: SuiteQL refuses requests without ``Prefer: transient``.
        derived_touch_last_modified: recalculated balances bump the customer's lastModifiedDate.
        base_url: public base URL (``scheme://host:port``) for links; None derives it per request.
        key_dir: where the M2M private key and certificate are kept (None: none generated).
    """

    account_id: str = DEFAULT_ACCOUNT_ID
    consumer_key: str = DEFAULT_CONSUMER_KEY
    consumer_secret: str = DEFAULT_CONSUMER_SECRET
    token_id: str = DEFAULT_TOKEN_ID
    token_secret: str = DEFAULT_TOKEN_SECRET
    oauth2_client_id: str = DEFAULT_OAUTH2_CLIENT_ID
    oauth2_certificate_id: str = DEFAULT_OAUTH2_CERTIFICATE_ID
    oauth2_certificates: dict[str, str] = field(default_factory=dict)
    data_path: str = ":memory:"
    custom_fields_file: Path | None = None
    one_world: bool = True
    concurrency_limit: int = 5
    integration_concurrency_limit: int | None = None
    occupied_slots: int = 0
    latency_read_ms: tuple[float, float] = (0.0, 0.0)
    latency_write_ms: tuple[float, float] = (0.0, 0.0)
    error_rate: float = 0.0
    record_changed_rate: float = 0.0
    invalid_login_rate: float = 0.0
    error_after_write: bool = False
    rng_seed: int = 0
    clock: Clock = field(default_factory=SystemClock)
    timestamp_window_s: int = 300
    nonce_min_length: int = 6
    debug_auth_header: bool = True
    allow_rs256: bool = False
    token_ttl_s: int = 3600
    duplicate_detection: tuple[str, ...] = ("entityid",)
    default_order_status: str = "A"
    date_format: str = "M/D/YYYY"
    suiteql_max_rows: int = 100_000
    suiteql_timezone: str = "UTC"
    async_job_delay_s: float = 0.0
    require_transient: bool = True
    derived_touch_last_modified: bool = False
    base_url: str | None = None
    key_dir: Path | None = None

    @property
    def realm(self) -> str:
        """The OAuth 1.0a realm: the account id, upper-case, with ``_`` (``1234567_SB1``)."""
        return self.account_id.upper().replace("-", "_")

    @property
    def host_slug(self) -> str:
        """The host slug NetSuite derives from the account id (``1234567-sb1``)."""
        return self.account_id.lower().replace("_", "-")

    def set_latency(self, preset_or_ms: str | float) -> None:
        """Set both latency ranges from a preset name or a fixed number of milliseconds.

        Args:
            preset_or_ms: ``"zero"``, ``"realistic"``, a number, or ``"LOW-HIGH"``.

        Raises:
            ValueError: the value is neither a preset nor a number or range.
        """
        if isinstance(preset_or_ms, str) and preset_or_ms in LATENCY_PRESETS:
            self.latency_read_ms, self.latency_write_ms = LATENCY_PRESETS[preset_or_ms]
            return
        rng = parse_range(preset_or_ms)
        self.latency_read_ms = rng
        self.latency_write_ms = rng

    def tunables(self) -> dict[str, Any]:
        """The run-time tunable settings as JSON-ready values."""
        out: dict[str, Any] = {}
        for key in TUNABLE_KEYS:
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def update_tunables(self, changes: dict[str, Any]) -> None:
        """Apply changes to tunable settings.

        Args:
            changes: key -> new value; keys must be in ``TUNABLE_KEYS`` (``latency`` accepts a
                preset name or milliseconds and sets both ranges).

        Raises:
            ValueError: unknown key or a value of the wrong kind.
        """
        for key, value in changes.items():
            if key == "latency":
                self.set_latency(value)
                continue
            if key not in TUNABLE_KEYS:
                raise ValueError(f"unknown or read-only setting {key!r}")
            current = getattr(self, key)
            if key in {"latency_read_ms", "latency_write_ms"}:
                setattr(self, key, parse_range(value))
            elif key == "duplicate_detection":
                if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                    raise ValueError("duplicate_detection must be a list of strings")
                setattr(self, key, tuple(v.lower() for v in value))
            elif key in {"integration_concurrency_limit", "base_url"}:
                setattr(self, key, value)
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                setattr(self, key, value)
            elif isinstance(current, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{key} must be an integer")
                setattr(self, key, value)
            elif isinstance(current, float):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{key} must be a number")
                setattr(self, key, float(value))
            else:
                setattr(self, key, value)


def parse_range(value: object) -> tuple[float, float]:
    """Parse a latency value: a number, ``"LOW-HIGH"``, or a two-element list.

    Args:
        value: the value to parse.

    Returns:
        ``(low, high)`` in milliseconds.

    Raises:
        ValueError: not a number or range.
    """
    if isinstance(value, bool):
        raise ValueError("latency must be a number or a range")
    if isinstance(value, int | float):
        return (float(value), float(value))
    if isinstance(value, list | tuple) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
        return (min(lo, hi), max(lo, hi))
    if isinstance(value, str):
        if "-" in value.strip("-"):
            lo_s, hi_s = value.split("-", 1)
            lo, hi = float(lo_s), float(hi_s)
            return (min(lo, hi), max(lo, hi))
        return (float(value), float(value))
    raise ValueError("latency must be a number or a range")

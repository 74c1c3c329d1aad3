"""The composition root: build connectors, the state store and the engine from the configuration.

Layer ``app``. This is the only place where concrete connectors meet the engine. Everything else
(CLI, dashboard, workers) asks for a :class:`Runtime` and calls the use cases on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from ledgerbridge.connectors.netsuite.connector import NetSuiteConnector
from ledgerbridge.connectors.netsuite.settings import NetSuiteSettings
from ledgerbridge.connectors.salesforce.connector import SalesforceConnector
from ledgerbridge.connectors.salesforce.settings import SalesforceSettings
from ledgerbridge.core.errors import ConfigError
from ledgerbridge.core.ports import Clock, SystemClock
from ledgerbridge.core.store import StateStore
from ledgerbridge.engine import Engine, Operations
from ledgerbridge.flows.config import LedgerBridgeConfig, NetSuiteConnectionSpec, SalesforceConnectionSpec
from ledgerbridge.state import open_state_store


def _auth_fields(auth: BaseModel) -> dict[str, object]:
    """The auth spec's values (secrets stay ``SecretStr``), without ``mode`` and ``*_file`` keys
    (their contents were already read into the secret fields when the configuration loaded)."""
    return {k: v for k, v in auth.model_dump().items()
            if k != "mode" and not k.endswith("_file") and v is not None}


def salesforce_settings(spec: SalesforceConnectionSpec, *, upsert_key_field: str | None = None
                        ) -> SalesforceSettings:
    """Translate the YAML connection spec into the connector's settings."""
    values: dict[str, object] = {
        "login_url": spec.login_url, "instance_url": spec.instance_url, "api_version": spec.api_version,
        "ca_file": spec.ca_file, "timeout_s": spec.timeout_s, "auth_mode": spec.auth.mode,
        **_auth_fields(spec.auth)}
    if upsert_key_field:
        values["upsert_key_field"] = upsert_key_field
    return SalesforceSettings.model_validate(values)


def netsuite_settings(spec: NetSuiteConnectionSpec) -> NetSuiteSettings:
    """Translate the YAML connection spec into the connector's settings."""
    auth = _auth_fields(spec.auth)
    if "algorithm" in auth:
        auth["jwt_algorithm"] = auth.pop("algorithm")
    return NetSuiteSettings.model_validate({
        "account_id": spec.account_id, "base_url": spec.base_url,
        "ca_file": Path(spec.ca_file) if spec.ca_file else None, "concurrency_share": spec.concurrency,
        "timeout_s": spec.timeout_s, "auth_mode": spec.auth.mode, **auth})


@dataclass
class Runtime:
    """Everything a use case needs, built once per command or process."""

    config: LedgerBridgeConfig
    salesforce: SalesforceConnector
    netsuite: NetSuiteConnector
    store: StateStore
    engine: Engine
    clock: Clock

    @property
    def ops(self) -> Operations:
        """Operations (status, dead letters, reviews, conflicts, reconcile, preview)."""
        return Operations(self.engine)


def _require_connections(config: LedgerBridgeConfig) -> tuple[SalesforceConnectionSpec,
                                                               NetSuiteConnectionSpec]:
    missing = [name for name in ("salesforce", "netsuite")
               if getattr(config.connections, name) is None]
    if missing:
        raise ConfigError(f"connections.{' and connections.'.join(missing)} must be configured for this "
                          "command; see `ledgerbridge init --template accounts-customers --sandbox`")
    sf, ns = config.connections.salesforce, config.connections.netsuite
    assert sf is not None and ns is not None
    return sf, ns


def _sf_key_field(config: LedgerBridgeConfig) -> str | None:
    for spec in config.links.values():
        key = getattr(getattr(spec, "ids", None), "salesforce_external_id", None)
        if key:
            return str(key)
    return None


@asynccontextmanager
async def open_runtime(config: LedgerBridgeConfig, *, state_url: str | None = None,
                       clock: Clock | None = None) -> AsyncIterator[Runtime]:
    """Build connectors, open the state store (migrating it) and the engine; close all on exit.

    Args:
        config: the validated configuration.
        state_url: overrides ``state.url`` (``--state``).
        clock: time source (tests inject one).

    Yields:
        The runtime.
    """
    sf_spec, ns_spec = _require_connections(config)
    clock = clock or SystemClock()
    salesforce = SalesforceConnector(salesforce_settings(sf_spec, upsert_key_field=_sf_key_field(config)),
                                     clock=clock)
    netsuite = NetSuiteConnector.from_settings(netsuite_settings(ns_spec), clock=clock)
    store = await open_state_store(state_url or config.state.url)
    try:
        engine = Engine(config.links, salesforce=salesforce, netsuite=netsuite, store=store, clock=clock)
        yield Runtime(config, salesforce, netsuite, store, engine, clock)
    finally:
        await salesforce.aclose()
        await netsuite.aclose()
        await store.aclose()

"""Fixtures for connector-vs-sandbox contract tests, in process (``httpx2.ASGITransport``).

Each test gets a fresh, empty Salesforce sandbox org and builds connectors against it with any
auth mode; the sandbox's admin API (``/__sandbox__``) sets faults, limits and expires sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest
from sf_contract_support import BASE, YieldingClock, settings_for

from ledgerbridge.connectors.salesforce import SalesforceConnector
from ledgerbridge.transport.metrics import TransportMetrics
from ledgerbridge.transport.retry import set_testing

sandbox_app = pytest.importorskip("ledgerbridge_sandbox.salesforce.app")
sandbox_config = pytest.importorskip("ledgerbridge_sandbox.salesforce.config")
sandbox_state = pytest.importorskip("ledgerbridge_sandbox.salesforce.state")


@pytest.fixture(autouse=True)
def _retry_test_mode() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture
def sandbox() -> Any:
    return sandbox_state.SandboxState(sandbox_config.SalesforceSandboxConfig(seed="empty"))


@pytest.fixture
def app(sandbox: Any) -> Any:
    return sandbox_app.create_app(state=sandbox)


@pytest.fixture
def info(sandbox: Any) -> dict[str, Any]:
    return dict(sandbox.info(BASE))


@pytest.fixture
async def admin(app: Any) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE) as client:
        yield client


@pytest.fixture
async def connect(app: Any, info: dict[str, Any]) -> AsyncIterator[Callable[..., SalesforceConnector]]:
    made: list[SalesforceConnector] = []

    def make(
        mode: str = "client_credentials", *, clock: YieldingClock | None = None, **overrides: Any
    ) -> SalesforceConnector:
        conn = SalesforceConnector(
            settings_for(info, mode, **overrides),
            transport=httpx2.ASGITransport(app=app),
            clock=clock or YieldingClock(),
            metrics=TransportMetrics(),
        )
        made.append(conn)
        return conn

    yield make
    for conn in made:
        await conn.aclose()

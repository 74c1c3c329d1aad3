"""Fixtures for connector-vs-sandbox contract tests, in process (``httpx2.ASGITransport``).

Each test gets a fresh, empty Salesforce sandbox org and builds connectors against it with any
auth mode; the sandbox's admin API (``/__sandbox__``) sets faults, limits and expires sessions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from ledgerbridge.connectors.salesforce import SalesforceConnector, SalesforceSettings
from ledgerbridge.transport.metrics import TransportMetrics
from ledgerbridge.transport.retry import set_testing

sandbox_app = pytest.importorskip("ledgerbridge_sandbox.salesforce.app")
sandbox_config = pytest.importorskip("ledgerbridge_sandbox.salesforce.config")
sandbox_state = pytest.importorskip("ledgerbridge_sandbox.salesforce.state")

BASE = "http://sf.sandbox.test"
AUTH_MODES = ("jwt", "client_credentials", "password", "refresh_token")


class YieldingClock:
    """A test clock: ``sleep`` advances time and lets the sandbox's background jobs run."""

    def __init__(self) -> None:
        self.t = datetime.now(UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)
        for _ in range(20):  # Bulk jobs advance 200 rows per event-loop turn
            await asyncio.sleep(0)


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


def settings_for(
    info: dict[str, Any], mode: str = "client_credentials", **overrides: Any
) -> SalesforceSettings:
    """SalesforceSettings for the sandbox in one auth mode (credentials from its info JSON)."""
    common: dict[str, Any] = {"auth_mode": mode, "client_id": info["client_id"], "api_version": "62.0"}
    if mode == "jwt":
        common |= {
            "login_url": BASE,
            "username": info["username"],
            "private_key_file": info["jwt_private_key_file"],
        }
    elif mode == "client_credentials":
        common |= {"instance_url": BASE, "client_secret": info["client_secret"]}
    elif mode == "password":
        common |= {
            "login_url": BASE,
            "client_secret": info["client_secret"],
            "username": info["username"],
            "password": info["password"],
            "security_token": info["security_token"],
        }
    else:
        common |= {
            "login_url": BASE,
            "client_secret": info["client_secret"],
            "refresh_token": info["refresh_token"],
        }
    return SalesforceSettings(**(common | overrides))


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


async def request_counts(admin: httpx2.AsyncClient) -> dict[tuple[str, str, int], int]:
    """The sandbox request log as {(method, route, status): count}."""
    rows = (await admin.get("/__sandbox__/requests")).json()["requests"]
    return {(r["method"], r["route"], r["status"]): r["count"] for r in rows}


async def configure(admin: httpx2.AsyncClient, **knobs: Any) -> dict[str, Any]:
    """PATCH the sandbox runtime knobs (faults, allocation, token lifetime...)."""
    response = await admin.patch("/__sandbox__/config", json=knobs)
    assert response.status_code == 200, response.text
    return dict(response.json())

"""The ``harness`` fixture of the shared conformance suite: one parameter per connector.

How to plug a connector in: write an async context manager ``<system>_harness()`` yielding a
:class:`conformance_harness.Harness` for a fresh sandbox, and add it to ``HARNESSES`` below.

# NetSuite: add ``"netsuite": netsuite_harness`` to HARNESSES (connector on the NetSuite
# sandbox's ASGI app, object ``customer``, an ``externalId`` key, a per-record error such as a
# missing ``companyName``, throttle_next = make the next call answer 429, expire_session =
# invalidate the OAuth 2.0 token or TBA session, n_calls = the sandbox request log).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from conformance_harness import Harness
from netsuite_harness import netsuite_harness

from ledgerbridge.transport.metrics import TransportMetrics
from ledgerbridge.transport.retry import set_testing

SF_BASE = "http://sf.conformance.test"
SF_THROTTLE_RETRY_AFTER_S = 5.0


class _Clock:
    """Test clock: sleeping advances time and yields to the sandbox's background tasks."""

    def __init__(self) -> None:
        self.t = datetime.now(UTC)
        self.slept_s = 0.0

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept_s += seconds
        self.t += timedelta(seconds=seconds)
        for _ in range(20):
            await asyncio.sleep(0)


class _SalesforceWire(httpx2.AsyncBaseTransport):
    """Counts data calls on their way to the sandbox and can answer one with the concurrent limit.

    The Salesforce sandbox does not model the concurrent long-running-request limit
    (reference/salesforce-api.md §2.2: 403 REQUEST_LIMIT_EXCEEDED "ConcurrentRequests ..."), so
    this seam produces it.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.n_data_calls = 0
        self.throttle_next = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if "/services/data/" in request.url.path:
            self.n_data_calls += 1
            if self.throttle_next:
                self.throttle_next = False
                body = [
                    {
                        "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ]
                return httpx2.Response(
                    403,
                    content=json.dumps(body).encode(),
                    headers={
                        "Retry-After": str(int(SF_THROTTLE_RETRY_AFTER_S)),
                        "Content-Type": "application/json;charset=UTF-8",
                    },
                )
        return await self.inner.handle_async_request(request)


@asynccontextmanager
async def salesforce_harness() -> AsyncIterator[Harness]:
    """SalesforceConnector on a fresh, empty Salesforce sandbox org (in process)."""
    app_mod = pytest.importorskip("ledgerbridge_sandbox.salesforce.app")
    config_mod = pytest.importorskip("ledgerbridge_sandbox.salesforce.config")
    state_mod = pytest.importorskip("ledgerbridge_sandbox.salesforce.state")
    from ledgerbridge.connectors.salesforce import SalesforceConnector, SalesforceSettings

    state = state_mod.SandboxState(config_mod.SalesforceSandboxConfig(seed="empty"))
    app = app_mod.create_app(state=state)
    info = state.info(SF_BASE)
    wire = _SalesforceWire(httpx2.ASGITransport(app=app))
    settings = SalesforceSettings(
        instance_url=SF_BASE,
        auth_mode="client_credentials",
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        query_batch_size=200,
    )
    clock = _Clock()
    connector = SalesforceConnector(settings, transport=wire, clock=clock, metrics=TransportMetrics())
    admin = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=SF_BASE)

    async def expire_session() -> None:
        assert (await admin.post("/__sandbox__/sessions/expire")).status_code == 200

    async def throttle_next() -> float | None:
        wire.throttle_next = True
        return SF_THROTTLE_RETRY_AFTER_S

    async def n_calls() -> int:
        return wire.n_data_calls

    async def slept_s() -> float:
        return clock.slept_s

    async def aclose() -> None:
        await connector.aclose()
        await admin.aclose()

    harness = Harness(
        name="salesforce",
        connector=connector,
        object="Account",
        key_field="NetSuite_Id__c",
        page_size=200,
        valid_fields=lambda n: {"Name": f"Conformance {n}", "Phone": f"+1 512 555 {n % 10000:04d}"},
        invalid_fields={"Phone": "no name"},  # Name is required: REQUIRED_FIELD_MISSING
        expire_session=expire_session,
        throttle_next=throttle_next,
        n_calls=n_calls,
        slept_s=slept_s,
        aclose=aclose,
    )
    try:
        yield harness
    finally:
        await harness.aclose()


HARNESSES: dict[str, Callable[[], AbstractAsyncContextManager[Harness]]] = {
    "salesforce": salesforce_harness,
    "netsuite": netsuite_harness,
}


@pytest.fixture(autouse=True)
def _retry_test_mode() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """Each registered connector on a fresh sandbox."""
    async with HARNESSES[request.param]() as h:
        yield h

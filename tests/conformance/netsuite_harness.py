"""The NetSuite entry of the conformance suite: NetSuiteConnector on a fresh NetSuite sandbox.

In process (ASGI transport), OAuth 2.0 M2M, object ``customer`` keyed by ``externalId``.

- ``throttle_next``: a seam in front of the sandbox answers the next REST call with NetSuite's
  429 ``CONCURRENCY_LIMIT_EXCEEDED`` (no Retry-After, reference/netsuite-api.md §7), as the
  sandbox cannot refuse exactly one call on demand; the connector's governor backs off on the
  injected clock and retries once.
- ``n_calls`` counts SuiteQL requests: NetSuite's change feed is one SuiteQL query per page
  followed by one REST GET per record, and the suite counts feed calls.
- ``expire_session``: the sandbox's clock jumps past the bearer token's lifetime while ours
  stays inside it, so NetSuite refuses the cached token and the connector renews it once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx2
from conformance_harness import Harness

from ledgerbridge.connectors.netsuite import NetSuiteConnector, NetSuiteSettings
from ledgerbridge.transport.governor import AdaptiveGovernor
from ledgerbridge_sandbox.netsuite.app import create_app
from ledgerbridge_sandbox.netsuite.clock import ManualClock
from ledgerbridge_sandbox.netsuite.config import DEFAULT_OAUTH2_CERTIFICATE_ID, NetSuiteSandboxConfig

NS_BASE = "http://1234567.suitetalk.conformance.test"
PAGE_SIZE = 10


class _Clock:
    """Test clock: sleeping advances time at once and yields to other tasks."""

    def __init__(self) -> None:
        self.t = datetime.now(UTC)
        self.slept_s = 0.0

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept_s += seconds
        self.t += timedelta(seconds=seconds)
        await asyncio.sleep(0)


class _NetSuiteWire(httpx2.AsyncBaseTransport):
    """Counts SuiteQL calls on their way to the sandbox and can refuse the next REST call with 429."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.n_suiteql = 0
        self.throttle_next = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path.startswith("/services/rest/") and "/auth/oauth2/" not in path:
            if path.endswith("/query/v1/suiteql"):
                self.n_suiteql += 1
            if self.throttle_next:
                self.throttle_next = False
                body = {"type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
                        "title": "Bad Request", "status": 429, "o:errorCode": "USER_ERROR",
                        "o:errorDetails": [{"detail": "Concurrent request limit exceeded. Request blocked.",
                                            "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}]}
                return httpx2.Response(429, content=json.dumps(body).encode(), headers={
                    "Content-Type": "application/vnd.oracle.resource+json; type=error"})
        return await self.inner.handle_async_request(request)


@asynccontextmanager
async def netsuite_harness() -> AsyncIterator[Harness]:
    """NetSuiteConnector on a fresh, empty NetSuite sandbox account (in process)."""
    with TemporaryDirectory() as keys:
        sandbox_clock = ManualClock(datetime.now(UTC))
        app = create_app(NetSuiteSandboxConfig(key_dir=Path(keys), clock=sandbox_clock), seed="empty")
        sb = app.state.sandbox
        wire = _NetSuiteWire(httpx2.ASGITransport(app=app))
        settings = NetSuiteSettings(
            account_id=sb.config.account_id, base_url=NS_BASE, auth_mode="oauth2_m2m",
            client_id=sb.config.oauth2_client_id, certificate_id=DEFAULT_OAUTH2_CERTIFICATE_ID,
            private_key_file=Path(sb.m2m_key.private_key_file), jwt_algorithm="ES256",
            read_governance_limits=False)
        clock = _Clock()
        connector = NetSuiteConnector(settings, httpx2.AsyncClient(transport=wire),
                                      governor=AdaptiveGovernor(settings.concurrency_share), clock=clock,
                                      page_size=PAGE_SIZE)

        async def expire_session() -> None:
            # 3600 s on the sandbox (the token's lifetime is over there); 3400 s here (still
            # inside our cache's validity; the next assertion's exp is ahead of the sandbox).
            sandbox_clock.advance(3600)
            clock.t += timedelta(seconds=3400)

        async def throttle_next() -> float | None:
            wire.throttle_next = True
            return None  # NetSuite announces no Retry-After

        async def n_calls() -> int:
            return wire.n_suiteql

        async def slept_s() -> float:
            return clock.slept_s

        async def aclose() -> None:
            await connector.aclose()

        harness = Harness(
            name="netsuite",
            connector=connector,
            object="customer",
            key_field="externalId",
            page_size=PAGE_SIZE,
            valid_fields=lambda n: {"companyName": f"Conformance {n}", "subsidiary": {"id": "1"}},
            invalid_fields={"companyName": "no subsidiary"},  # OneWorld: USER_ERROR
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

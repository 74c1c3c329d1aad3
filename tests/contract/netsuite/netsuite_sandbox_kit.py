"""Wiring ``NetSuiteConnector`` to the NetSuite sandbox for contract tests (helper, not a test module).

In-process (``httpx2.ASGITransport``) for protocol behaviour; over a loopback socket
(``ServerThread``) for anything about concurrency, where real parallel connections matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from starlette.applications import Starlette

from ledgerbridge.connectors.netsuite import NetSuiteConnector, NetSuiteSettings
from ledgerbridge.core.ports import Clock
from ledgerbridge.transport.governor import AdaptiveGovernor, ThrottleBackoff
from ledgerbridge_sandbox.netsuite.app import create_app
from ledgerbridge_sandbox.netsuite.config import DEFAULT_OAUTH2_CERTIFICATE_ID, NetSuiteSandboxConfig

BASE_URL = "http://1234567.suitetalk.sandbox.test"


class VirtualClock:
    """Real time for ``now()`` plus whatever ``sleep`` skipped: backoffs cost no wall time."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.skipped)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.skipped += seconds


@dataclass
class Rig:
    """A sandbox app and a connector talking to it."""

    app: Starlette
    connector: NetSuiteConnector
    governor: AdaptiveGovernor
    admin: httpx2.AsyncClient

    @property
    def sandbox(self) -> Any:
        return self.app.state.sandbox

    async def log(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.admin.get("/__sandbox__/requests")).json()
        return body

    async def configure(self, **changes: Any) -> None:
        response = await self.admin.put("/__sandbox__/config", json=changes)
        assert response.status_code == 200, response.text

    async def aclose(self) -> None:
        await self.connector.aclose()
        await self.admin.aclose()


def settings_for(app: Starlette, base_url: str, *, mode: str = "tba", **overrides: Any) -> NetSuiteSettings:
    """Connector settings with the sandbox's credentials."""
    sb = app.state.sandbox
    cfg = sb.config
    values: dict[str, Any] = {
        "account_id": cfg.account_id,
        "base_url": base_url,
        "auth_mode": mode,
        "read_governance_limits": False,
    }
    if mode == "tba":
        values.update(
            consumer_key=cfg.consumer_key,
            consumer_secret=cfg.consumer_secret,
            token_id=cfg.token_id,
            token_secret=cfg.token_secret,
        )
    else:
        assert sb.m2m_key is not None, "start the sandbox with key_dir for OAuth 2.0 M2M"
        values.update(
            client_id=cfg.oauth2_client_id,
            certificate_id=DEFAULT_OAUTH2_CERTIFICATE_ID,
            private_key_file=Path(sb.m2m_key.private_key_file),
            jwt_algorithm="ES256",
        )
    values.update(overrides)
    return NetSuiteSettings(**values)


def in_process(
    config: NetSuiteSandboxConfig | None = None,
    *,
    mode: str = "tba",
    share: int = 5,
    clock: Clock | None = None,
    backoff: ThrottleBackoff | None = None,
    page_size: int = 1000,
    max_offset_rows: int = 100_000,
    **overrides: Any,
) -> Rig:
    """A sandbox app in this process and a connector on an ASGI transport."""
    app = create_app(config or NetSuiteSandboxConfig(), seed="empty")
    transport = httpx2.ASGITransport(app=app)
    settings = settings_for(app, BASE_URL, mode=mode, concurrency_share=share, **overrides)
    governor = AdaptiveGovernor(settings.concurrency_share)
    connector = NetSuiteConnector(
        settings,
        httpx2.AsyncClient(transport=transport),
        governor=governor,
        clock=clock,
        backoff=backoff,
        page_size=page_size,
        max_offset_rows=max_offset_rows,
    )
    admin = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL)
    return Rig(app, connector, governor, admin)


def over_socket(
    app: Starlette,
    url: str,
    *,
    share: int,
    clock: Clock | None = None,
    backoff: ThrottleBackoff | None = None,
    **overrides: Any,
) -> Rig:
    """A connector talking to an app already served on ``url`` (a ``ServerThread``)."""
    settings = settings_for(app, url, concurrency_share=share, **overrides)
    governor = AdaptiveGovernor(settings.concurrency_share)
    connector = NetSuiteConnector(
        settings, httpx2.AsyncClient(), governor=governor, clock=clock, backoff=backoff
    )
    return Rig(app, connector, governor, httpx2.AsyncClient(base_url=url))


def customer(n: int, **extra: Any) -> dict[str, Any]:
    """Fields of a customer the sandbox accepts (OneWorld: a subsidiary is required)."""
    return {"companyName": f"Contract Customer {n}", "subsidiary": {"id": "1"}, **extra}

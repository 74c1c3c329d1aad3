"""Helpers of the Salesforce contract tests (not a test module): sandbox credentials, clock, admin calls."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

from ledgerbridge.connectors.salesforce import SalesforceSettings

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


async def request_counts(admin: httpx2.AsyncClient) -> dict[tuple[str, str, int], int]:
    """The sandbox request log as {(method, route, status): count}."""
    rows = (await admin.get("/__sandbox__/requests")).json()["requests"]
    return {(r["method"], r["route"], r["status"]): r["count"] for r in rows}


async def configure(admin: httpx2.AsyncClient, **knobs: Any) -> dict[str, Any]:
    """PATCH the sandbox runtime knobs (faults, allocation, token lifetime...)."""
    response = await admin.patch("/__sandbox__/config", json=knobs)
    assert response.status_code == 200, response.text
    return dict(response.json())

"""Helpers shared by the Salesforce sandbox tests (imported by ``conftest.py`` and the tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx2

from ledgerbridge_sandbox.salesforce import ManualClock, SalesforceSandboxConfig, create_app
from ledgerbridge_sandbox.salesforce.state import SandboxState

V = "62.0"
BASE = f"/services/data/v{V}"
NOW = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


class Api:
    """A thin client bound to one sandbox app; paths are relative to ``/services/data/vNN.0``."""

    def __init__(self, client: httpx2.AsyncClient, state: SandboxState, token: str) -> None:
        self.client = client
        self.state = state
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    def _url(self, path: str) -> str:
        return path if path.startswith(("/services", "/__sandbox__", "/id/")) else BASE + path

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, self._url(path), headers=headers, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx2.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx2.Response:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx2.Response:
        return await self.request("PATCH", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx2.Response:
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx2.Response:
        return await self.request("DELETE", path, **kwargs)

    async def query(self, soql: str, **kwargs: Any) -> Any:
        r = await self.get("/query", params={"q": soql}, **kwargs)
        assert r.status_code == 200, r.text
        return r.json()

    async def create(self, type_name: str, body: dict[str, Any]) -> str:
        r = await self.post(f"/sobjects/{type_name}", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def make_config(**kwargs: Any) -> SalesforceSandboxConfig:
    kwargs.setdefault("clock", ManualClock(NOW))
    kwargs.setdefault("seed", "empty")
    return SalesforceSandboxConfig(**kwargs)


async def open_api(config: SalesforceSandboxConfig) -> tuple[httpx2.AsyncClient, Api]:
    app = create_app(config)
    state: SandboxState = app.state.sandbox
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="https://sandbox.test")
    return client, Api(client, state, state.default_token())

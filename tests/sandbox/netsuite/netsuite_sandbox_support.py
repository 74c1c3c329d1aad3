"""Shared helpers of the NetSuite sandbox tests: ``NS`` wraps an in-process app under a TestClient."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from ledgerbridge_sandbox.netsuite import ManualClock
from ledgerbridge_sandbox.netsuite.app import Sandbox
from ledgerbridge_sandbox.netsuite.testing import TBAAuth

START = datetime(2025, 6, 2, 9, 0, 0, tzinfo=UTC)


class NS:
    """A sandbox app under a TestClient, with shortcuts used across the tests."""

    def __init__(self, app: Any, clock: ManualClock) -> None:
        self.app = app
        self.clock = clock
        self.sb: Sandbox = app.state.sandbox
        cfg = self.sb.config
        self.auth = TBAAuth(
            cfg.account_id, cfg.consumer_key, cfg.consumer_secret, cfg.token_id, cfg.token_secret, clock=clock
        )
        self.http = TestClient(app, base_url="http://testserver/services/rest")
        self.http.auth = self.auth

    # raw calls ------------------------------------------------------------------------------

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.http.post(path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.http.patch(path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.http.put(path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.http.delete(path, **kw)

    # shortcuts ------------------------------------------------------------------------------

    def create(self, rtype: str, body: dict[str, Any], **params: Any) -> str:
        r = self.post(f"/record/v1/{rtype}", json=body, params=params)
        assert r.status_code == 204, r.text
        return str(r.headers["location"].rsplit("/", 1)[1])

    def record(self, rtype: str, rid: str, **params: Any) -> dict[str, Any]:
        r = self.get(f"/record/v1/{rtype}/{rid}", params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def update(self, rtype: str, rid: str, body: dict[str, Any], **params: Any) -> None:
        r = self.patch(f"/record/v1/{rtype}/{rid}", json=body, params=params)
        assert r.status_code == 204, r.text

    def transform(self, from_type: str, rid: str, to_type: str, body: dict[str, Any] | None = None) -> str:
        r = self.post(f"/record/v1/{from_type}/{rid}/!transform/{to_type}", json=body or {})
        assert r.status_code == 204, r.text
        return str(r.headers["location"].rsplit("/", 1)[1])

    def query(self, q: str, *, params: list[Any] | None = None, limit: int = 1000, offset: int = 0) -> Any:
        body: dict[str, Any] = {"q": q}
        if params is not None:
            body["params"] = params
        return self.post(
            "/query/v1/suiteql",
            json=body,
            params={"limit": limit, "offset": offset},
            headers={"Prefer": "transient"},
        )

    def rows(self, q: str, **kw: Any) -> list[dict[str, Any]]:
        r = self.query(q, **kw)
        assert r.status_code == 200, r.text
        return [{k: v for k, v in item.items() if k != "links"} for item in r.json()["items"]]

    def customer(self, name: str = "Acme Corp", **extra: Any) -> str:
        return self.create("customer", {"companyName": name, "subsidiary": {"id": "2"}, **extra})

    def item(
        self,
        item_id: str = "WIDGET-1",
        base_price: float = 100.0,
        rtype: str = "serviceSaleItem",
        **extra: Any,
    ) -> str:
        return self.create(rtype, {"itemId": item_id, "basePrice": base_price, **extra})

    def order(self, customer: str, lines: list[dict[str, Any]], **extra: Any) -> str:
        return self.create(
            "salesOrder", {"entity": {"id": customer}, "orderStatus": "B", "item": {"items": lines}, **extra}
        )


def error_code(response: Any) -> str:
    """The first ``o:errorCode`` of an error answer."""
    return str(response.json()["o:errorDetails"][0]["o:errorCode"])

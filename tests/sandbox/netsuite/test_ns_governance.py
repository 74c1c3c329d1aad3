"""Concurrency governance (429 CONCURRENCY_LIMIT_EXCEEDED), governanceLimits, faults and the admin API."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from netsuite_sandbox_support import NS, error_code
from starlette.testclient import TestClient

from ledgerbridge_sandbox.netsuite import NetSuiteSandboxConfig
from ledgerbridge_sandbox.netsuite.testing import NetSuiteSandbox

CONCURRENCY_BODY = {
    "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
    "title": "Bad Request",
    "status": 429,
    "o:errorCode": "USER_ERROR",
    "o:errorDetails": [
        {
            "detail": "Concurrent request limit exceeded. Request blocked.",
            "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
        }
    ],
}


@pytest.mark.parametrize("limit", [5, 15])
def test_exactly_five_rejections_over_the_limit_under_real_load(limit: int) -> None:
    """C + 5 slow requests in parallel over a socket: C succeed, exactly 5 get 429."""
    config = NetSuiteSandboxConfig(concurrency_limit=limit, latency_read_ms=(1000.0, 1000.0))
    with NetSuiteSandbox(config) as sandbox:

        async def burst() -> list[Any]:
            async with sandbox.async_client() as client:
                return await asyncio.gather(*[client.get("/record/v1/currency/1") for _ in range(limit + 5)])

        responses = asyncio.run(burst())
        log = sandbox.requests()
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: limit, 429: 5}
    rejected = next(r for r in responses if r.status_code == 429)
    assert rejected.json() == CONCURRENCY_BODY
    assert log["max_in_flight"] == limit
    assert log["rejected"] == 5


def test_occupied_slots_count_against_the_pool(ns: NS) -> None:
    ns.sb.config.occupied_slots = 5
    r = ns.get("/record/v1/currency/1")
    assert r.status_code == 429
    assert r.json() == CONCURRENCY_BODY
    assert ns.post("/auth/oauth2/v1/token", data={"grant_type": "client_credentials"}).status_code == 429
    ns.sb.config.occupied_slots = 4
    assert ns.get("/record/v1/currency/1").status_code == 200
    assert ns.sb.log.max_in_flight == 5


def test_occupy_admin_hook(ns: NS) -> None:
    admin = TestClient(ns.app, base_url="http://testserver/__sandbox__")
    assert admin.post("/occupy", json={"slots": 2}).json() == {"occupied_slots": 2, "limit": 5}
    assert ns.sb.config.occupied_slots == 2
    assert admin.delete("/occupy").json()["occupied_slots"] == 0


def test_governance_limits_reports_the_pool(make_ns: Any) -> None:
    ns = make_ns(concurrency_limit=15)
    assert ns.get("/system/v1/governanceLimits").json() == {
        "accountConcurrencyLimit": 15,
        "accountUnallocatedConcurrencyLimit": 15,
        "integrationLimitType": "accountLimit",
    }
    ns2 = make_ns(concurrency_limit=15, integration_concurrency_limit=5)
    assert ns2.get("/system/v1/governanceLimits").json() == {
        "accountConcurrencyLimit": 15,
        "accountUnallocatedConcurrencyLimit": 10,
        "integrationConcurrencyLimit": 5,
        "integrationLimitType": "integrationSpecific",
    }


def test_request_log_counts_by_route_template(ns: NS) -> None:
    admin = TestClient(ns.app, base_url="http://testserver/__sandbox__")
    admin.delete("/requests")
    ns.get("/record/v1/currency/1")
    ns.get("/record/v1/currency/2")
    ns.get("/record/v1/currency/999")
    ns.query("SELECT id FROM currency")
    log = admin.get("/requests").json()
    rows = {(r["method"], r["route"], r["status"]): r["count"] for r in log["counts"]}
    assert rows[("GET", "/services/rest/record/v1/{rtype}/{rid}", 200)] == 2
    assert rows[("GET", "/services/rest/record/v1/{rtype}/{rid}", 404)] == 1
    assert rows[("POST", "/services/rest/query/v1/suiteql", 200)] == 1
    assert log["total"] == 4
    assert admin.delete("/requests").status_code == 204
    assert admin.get("/requests").json()["total"] == 0


def test_config_admin_api(ns: NS) -> None:
    admin = TestClient(ns.app, base_url="http://testserver/__sandbox__")
    config = admin.get("/config").json()
    assert config["concurrency_limit"] == 5 and config["latency_read_ms"] == [0.0, 0.0]
    changed = admin.put("/config", json={"concurrency_limit": 15, "latency": "realistic"}).json()
    assert changed["concurrency_limit"] == 15
    assert changed["latency_read_ms"] == [150.0, 400.0] and changed["latency_write_ms"] == [300.0, 800.0]
    assert admin.put("/config", json={"latency_read_ms": 0, "latency_write_ms": "0"}).status_code == 200
    assert admin.put("/config", json={"nope": 1}).status_code == 400
    assert admin.put("/config", json={"concurrency_limit": "many"}).status_code == 400


def test_unexpected_error_rate(ns: NS) -> None:
    ns.sb.config.error_rate = 1.0
    r = ns.get("/record/v1/currency/1")
    assert r.status_code == 500
    body = r.json()
    assert body["title"] == "Internal Server Error"
    assert body["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"
    assert body["o:errorDetails"][0]["detail"].startswith("An unexpected error occurred. Error ID: ")


def test_unexpected_error_after_the_write_committed(ns: NS) -> None:
    ns.sb.config.error_rate = 1.0
    ns.sb.config.error_after_write = True
    r = ns.post(
        "/record/v1/customer",
        json={"companyName": "Lost Reply Co", "subsidiary": {"id": "2"}, "externalId": "LOST-1"},
    )
    assert r.status_code == 500
    ns.sb.config.error_rate = 0.0
    assert ns.get("/record/v1/customer/eid:LOST-1").json()["companyName"] == "Lost Reply Co"


def test_record_has_been_changed_on_writes_only(ns: NS) -> None:
    cid = ns.customer()
    ns.sb.config.record_changed_rate = 1.0
    r = ns.patch(f"/record/v1/customer/{cid}", json={"phone": "1"})
    assert r.status_code == 400 and error_code(r) == "RCRD_HAS_BEEN_CHANGED"
    assert ns.get(f"/record/v1/customer/{cid}").status_code == 200
    assert "phone" not in ns.record("customer", cid)


def test_fault_rng_is_seeded(make_ns: Any) -> None:
    def pattern() -> list[int]:
        ns = make_ns(error_rate=0.5, rng_seed=7)
        return [ns.get("/record/v1/currency/1").status_code for _ in range(12)]

    first = pattern()
    assert first == pattern()
    assert set(first) == {200, 500}


def test_latency_is_applied_inside_the_slot(make_ns: Any) -> None:
    ns = make_ns(latency_read_ms=(20.0, 20.0))
    import time

    started = time.monotonic()
    assert ns.get("/record/v1/currency/1").status_code == 200
    assert time.monotonic() - started >= 0.019


def test_reset_and_seed_admin_api(ns: NS) -> None:
    admin = TestClient(ns.app, base_url="http://testserver/__sandbox__")
    ns.customer("Temp Co")
    seeded = admin.post("/seed", json={"seed": "demo", "scale": 30}).json()
    assert seeded["counts"]["customer"] > 10 and seeded["counts"]["inventoryItem"] > 0
    reset = admin.post("/reset").json()
    assert reset["seed"] == "empty" and "customer" not in reset["counts"]
    assert ns.rows("SELECT COUNT(*) n FROM customer") == [{"n": "0"}]
    assert admin.post("/seed", json={"seed": "nope"}).status_code == 400


def test_clock_admin_api(ns: NS) -> None:
    admin = TestClient(ns.app, base_url="http://testserver/__sandbox__")
    before = admin.get("/clock").json()
    assert before["manual"] is True
    after = admin.post("/clock", json={"advance_days": 2}).json()
    assert after["now"] > before["now"]


def test_ui_edits_are_not_governed_and_mark_the_source(ns: NS) -> None:
    admin = TestClient(ns.app, base_url="http://testserver/__sandbox__")
    ns.sb.config.occupied_slots = 5
    r = admin.post("/ui/record/customer", json={"companyName": "UI Co", "subsidiary": {"id": "2"}})
    assert r.status_code == 201
    cid = r.json()["id"]
    so = admin.post("/ui/record/salesOrder", json={"entity": {"id": cid}, "item": {"items": []}})
    assert so.status_code == 400 and error_code(so) == "USER_ERROR"
    ns.sb.config.occupied_slots = 0
    item = ns.item()
    so = admin.post(
        "/ui/record/salesOrder", json={"entity": {"id": cid}, "item": {"items": [{"item": {"id": item}}]}}
    )
    assert ns.record("salesOrder", so.json()["id"])["source"]["id"] == "userInterface"
    assert admin.patch(f"/ui/record/customer/{cid}", json={"phone": "5"}).status_code == 204
    assert admin.get(f"/ui/record/customer/{cid}").json()["phone"] == "5"


def test_integration_limit_is_enforced_per_consumer_key(make_ns: Any) -> None:
    ns = make_ns(concurrency_limit=15, integration_concurrency_limit=2)
    key = ns.sb.config.consumer_key
    ns.sb.integration_in_flight[key] = 2
    r = ns.get("/record/v1/currency/1")
    assert r.status_code == 429 and r.json() == CONCURRENCY_BODY
    ns.sb.integration_in_flight[key] = 1
    assert ns.get("/record/v1/currency/1").status_code == 200


def test_spurious_invalid_login_fault(make_ns: Any) -> None:
    ns = make_ns(invalid_login_rate=1.0)
    r = ns.get("/record/v1/currency/1")
    assert r.status_code == 401 and r.headers["x-sandbox-auth-reason"] == "SimulatedUnderLoad"


def test_account_host_slug_must_match(make_ns: Any) -> None:
    ns = make_ns(account_id="1234567_SB1")
    ok = TestClient(ns.app, base_url="https://1234567-sb1.suitetalk.api.netsuite.com/services/rest")
    ok.auth = ns.auth
    assert ok.get("/record/v1/currency/1").status_code == 200
    other = TestClient(ns.app, base_url="https://7654321.suitetalk.api.netsuite.com/services/rest")
    other.auth = ns.auth
    r = other.get("/record/v1/currency/1")
    assert r.status_code == 401 and r.headers["x-sandbox-auth-reason"] == "WrongAccountHost"

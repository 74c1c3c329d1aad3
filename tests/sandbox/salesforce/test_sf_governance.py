"""API limits, injected faults, the request log and the admin API (reference §2.1, §2.2, §10.4)."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from salesforce_sandbox_support import Api, make_config, open_api

from ledgerbridge_sandbox.salesforce import Faults
from ledgerbridge_sandbox.salesforce.governance import ApiUsage, FaultInjector

pytestmark = pytest.mark.anyio


async def test_every_data_response_carries_sforce_limit_info(api: Api) -> None:
    r1 = await api.get("/sobjects")
    r2 = await api.get("/limits")
    assert r1.headers["sforce-limit-info"] == "api-usage=1/100000"
    assert r2.headers["sforce-limit-info"] == "api-usage=2/100000"
    assert r2.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 99998}
    versions = await api.client.get("/services/data/")
    assert "sforce-limit-info" not in versions.headers  # the versions resource is free
    assert api.state.org.usage.used == 2


async def test_allocation_is_a_rolling_24_hour_window(api: Api) -> None:
    await api.client.patch("/__sandbox__/config", json={"api_allocation": 3})
    for _ in range(3):
        assert (await api.get("/limits")).status_code == 200
    assert (await api.get("/limits")).status_code == 403
    api.state.config.clock.advance(24 * 3600 + 60)
    api.state.sessions.lifetime_s = 10**9
    assert (await api.get("/limits")).status_code == 200


def test_api_usage_counter_expires_old_minutes() -> None:
    from salesforce_sandbox_support import NOW

    from ledgerbridge_sandbox.salesforce import ManualClock

    clock = ManualClock(NOW)
    usage = ApiUsage(clock, 10)
    usage.count(4)
    clock.advance(12 * 3600)
    usage.count(3)
    assert usage.used == 7 and usage.header() == "api-usage=7/10"
    clock.advance(12 * 3600 + 1)
    assert usage.used == 3


def test_fault_injection_is_deterministic_for_a_seed() -> None:
    def decisions(seed: int) -> list[bool]:
        inj = FaultInjector(Faults(server_error_rate=0.3, lock_row_rate=0.5, seed=seed))
        return [inj.server_error() for _ in range(50)] + [inj.lock_row() for _ in range(50)]

    assert decisions(7) == decisions(7)
    assert decisions(7) != decisions(8)
    assert 5 < sum(decisions(7)[:50]) < 25


async def test_lock_row_faults_hit_writes_per_record(api: Api) -> None:
    await api.client.patch("/__sandbox__/config", json={"lock_row_rate": 0.5, "seed": 3})
    r = await api.post(
        "/composite/sobjects",
        json={"records": [{"attributes": {"type": "Account"}, "Name": f"L{i}"} for i in range(40)]},
    )
    codes = [x["errors"][0]["statusCode"] if not x["success"] else "OK" for x in r.json()]
    assert {"OK", "UNABLE_TO_LOCK_ROW"} == set(codes)
    assert (await api.get("/limits")).status_code == 200  # reads are never locked


async def test_latency_is_added_to_api_calls(api: Api) -> None:
    await api.client.patch("/__sandbox__/config", json={"latency_ms": 30})
    start = time.perf_counter()
    await api.get("/limits")
    assert time.perf_counter() - start >= 0.03
    await api.client.patch("/__sandbox__/config", json={"latency_ms": 0, "latency_jitter_ms": [1, 2]})
    assert api.state.org.faults.latency_s() <= 0.002


async def test_request_log_counts_method_route_status(api: Api) -> None:
    await api.client.delete("/__sandbox__/requests")
    rid = await api.create("Account", {"Name": "x"})
    await api.get(f"/sobjects/Account/{rid}")
    await api.get(f"/sobjects/Account/{rid}")
    await api.get("/sobjects/Account/001000000000000AAA")
    await api.client.get("/services/data/v62.0/limits")  # no token
    log = (await api.client.get("/__sandbox__/requests")).json()
    rows = {(r["method"], r["route"], r["status"]): r["count"] for r in log["requests"]}
    assert rows[("GET", "/services/data/v{version}/sobjects/{sobject}/{record_id}", 200)] == 2
    assert rows[("POST", "/services/data/v{version}/sobjects/{sobject}", 201)] == 1
    assert rows[("GET", "(unauthenticated)", 401)] == 1
    assert log["total"] == 5
    assert (await api.client.delete("/__sandbox__/requests")).status_code == 204
    assert (await api.client.get("/__sandbox__/requests")).json() == {"total": 0, "requests": []}


async def test_admin_reset_and_seed(api: Api) -> None:
    await api.create("Account", {"Name": "temp"})
    r = await api.client.post("/__sandbox__/seed", json={"seed": "demo", "scale": 20})
    assert r.status_code == 200 and r.json()["counts"]["Account"] == 20
    assert r.json()["counts"]["Contact"] == 40 and r.json()["counts"]["Opportunity"] == 30
    assert (await api.query("SELECT COUNT() FROM Account WHERE Name = 'temp'"))["totalSize"] == 0
    r = await api.client.post("/__sandbox__/reset", json={"seed": "empty"})
    assert r.json()["counts"]["Account"] == 0 and r.json()["counts"]["User"] == 1
    assert (await api.get("/limits")).status_code == 200  # sessions survive a reset
    r = await api.client.post("/__sandbox__/seed", json={"seed": "nope"})
    assert r.status_code == 400


async def test_admin_changes_feed_and_ui_edits(api: Api) -> None:
    rid = await api.create("Account", {"Name": "Feed"})
    first = (await api.client.get("/__sandbox__/changes", params={"after": 0})).json()
    last = first["latestReplayId"]
    r = await api.client.patch(f"/__sandbox__/records/Account/{rid}", json={"Phone": "42"})
    assert r.status_code == 204
    newer = (await api.client.get("/__sandbox__/changes", params={"after": last})).json()["events"]
    assert len(newer) == 1 and newer[0]["payload"]["ChangeEventHeader"]["changeOrigin"] == ""
    assert newer[0]["payload"]["Phone"] == "42"


async def test_change_log_wait_wakes_on_commit(api: Api) -> None:
    import asyncio

    log = api.state.org.changes
    latest = log.latest_replay_id()
    waiter = asyncio.create_task(log.wait(latest, timeout=5))
    await asyncio.sleep(0)
    await api.create("Account", {"Name": "Wake"})
    assert await waiter is True
    assert await log.wait(log.latest_replay_id(), timeout=0.01) is False


async def test_gzip_request_and_response_bodies(api: Api) -> None:
    body = gzip.compress(json.dumps({"Name": "Zipped"}).encode())
    r = await api.post(
        "/sobjects/Account",
        content=body,
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    )
    assert r.status_code == 201
    r = await api.get("/sobjects/Account/describe", headers={"accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.json()["name"] == "Account"


async def test_pretty_print_header(api: Api) -> None:
    r = await api.get("/limits", headers={"X-PrettyPrint": "1"})
    assert r.text.startswith('{\n  "ConcurrentAsyncGetReportInstances" : {')


async def test_multi_currency_adds_currency_iso_code() -> None:
    client, a = await open_api(make_config(multi_currency=True, seed="demo"))
    async with client:
        fields = {f["name"]: f for f in (await a.get("/sobjects/Opportunity/describe")).json()["fields"]}
        assert fields["CurrencyIsoCode"]["restrictedPicklist"] is True
        rows = await a.query("SELECT CurrencyIsoCode, COUNT(Id) FROM Account GROUP BY CurrencyIsoCode")
        assert {r["CurrencyIsoCode"] for r in rows["records"]} <= {"USD", "EUR", "GBP", "CAD"}
        assert (await a.query("SELECT COUNT() FROM CurrencyType"))["totalSize"] == 4


async def test_user_schema_file_adds_fields_and_objects(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "extra.yaml"
    path.write_text(
        "objects:\n  Account:\n    fields:\n      Segment__c: {type: picklist, values: [SMB, ENT],"
        " restricted: true}\n  Invoice__c:\n    label: Invoice\n    fields:\n"
        "      Account__c: {type: reference, referenceTo: [Account], childRelationship: Invoices__r}\n"
        "      Total__c: {type: currency, precision: 16, scale: 2}\n"
    )
    client, a = await open_api(make_config(schema_files=(path,)))
    async with client:
        acc = await a.create("Account", {"Name": "S", "Segment__c": "SMB"})
        inv = await a.create("Invoice__c", {"Account__c": acc, "Total__c": 12.5})
        assert inv.startswith("a0")
        rows = await a.query("SELECT Name, (SELECT Total__c FROM Invoices__r) FROM Account")
        assert rows["records"][0]["Invoices__r"]["records"][0]["Total__c"] == 12.5
        bad = await a.post("/sobjects/Account", json={"Name": "T", "Segment__c": "XL"})
        assert bad.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


async def test_describe_answers_304_when_unchanged(api: Api) -> None:
    first = await api.get("/sobjects/Account/describe")
    etag, stamp = first.headers["etag"], first.headers["last-modified"]
    assert stamp.endswith("GMT")
    assert (await api.get("/sobjects/Account/describe", headers={"If-None-Match": etag})).status_code == 304
    r = await api.get("/sobjects", headers={"If-Modified-Since": stamp})
    assert r.status_code == 304 and r.content == b""
    old = "Fri, 14 Aug 2020 20:53:02 GMT"
    assert (await api.get("/sobjects", headers={"If-Modified-Since": old})).status_code == 200

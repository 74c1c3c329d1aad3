"""Sandbox answers compared with responses transcribed from the reference (``tests/fixtures/salesforce``).

Shapes are compared (keys, key order where recorded, value types); fixed texts exactly; ids,
timestamps and URLs only by form.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from salesforce_sandbox_support import NOW, Api

from ledgerbridge_sandbox.salesforce import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from ledgerbridge_sandbox.salesforce.rest import release_label

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "salesforce"
ID_RE = re.compile(r"^[a-zA-Z0-9]{18}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    assert data["_source"].startswith("salesforce-api.md §")
    return data


def shape(value: Any) -> Any:
    """Types instead of values; dict keys kept in order; lists by their first element."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, int | float):
        return "number"
    return "str"


def assert_same_shape(actual: Any, expected: Any, ordered: bool = True) -> None:
    a, e = shape(actual), shape(expected)
    if ordered:
        assert json.dumps(a) == json.dumps(e), (a, e)
    else:
        assert a == e


async def test_token_success_and_error(api: Api) -> None:
    ok = await api.client.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )
    body = ok.json()
    body.pop("scope")
    assert_same_shape(body, fixture("token_success.json")["response"])
    assert re.match(r"^https://[^/]+/id/00D\w{15}/005\w{15}$", body["id"])
    assert body["issued_at"] == str(int(NOW.timestamp() * 1000))
    bad = await api.client.post(
        "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "username": "x",
            "password": "y",
        },
    )
    assert bad.json() == fixture("token_error.json")["response"]


async def test_versions_and_resources(api: Api) -> None:
    expected = fixture("versions.json")
    versions = (await api.client.get("/services/data/")).json()
    assert_same_shape(versions[0], expected["entry"])
    labels = {v["version"]: v["label"] for v in versions}
    for version, label in expected["labels"].items():
        assert labels[version] == label
    assert release_label("20.0") == expected["entry"]["label"]


async def test_describe_global_and_describe(api: Api) -> None:
    expected = fixture("describe_global.json")["response"]
    actual = (await api.get("/sobjects")).json()
    account = next(o for o in actual["sobjects"] if o["name"] == "Account")
    assert_same_shape(account, expected["sobjects"][0])
    assert account["urls"] == {
        k: v.replace("v60.0", "v62.0") for k, v in expected["sobjects"][0]["urls"].items()
    }
    assert (actual["encoding"], actual["maxBatchSize"]) == ("UTF-8", 200)
    keys = fixture("describe_keys.json")
    describe = (await api.get("/sobjects/Opportunity/describe")).json()
    assert sorted(describe) == sorted(keys["top_level"])
    for field in describe["fields"]:
        assert sorted(field) == sorted(keys["field"]), field["name"]
    child = (await api.get("/sobjects/Account/describe")).json()["childRelationships"][0]
    assert sorted(child) == sorted(keys["child_relationship"])
    stage_fixture = fixture("field_stagename.json")
    stage = next(f for f in describe["fields"] if f["name"] == "StageName")
    for key, value in stage_fixture["field"].items():
        if key == "picklistValues":
            assert stage[key][0] == value[0]
        else:
            assert stage[key] == value, key
    account_id = next(f for f in describe["fields"] if f["name"] == "AccountId")
    assert {k: account_id[k] for k in stage_fixture["account_id"]} == stage_fixture["account_id"]


async def test_create_upsert_and_replication_shapes(api: Api) -> None:
    created = (await api.post("/sobjects/Account", json={"Name": "F"})).json()
    assert_same_shape(created, fixture("create_success.json")["response"])
    up = fixture("upsert_created.json")
    first = (await api.patch("/sobjects/Account/NetSuite_Id__c/F1", json={"Name": "G"})).json()
    again = (await api.patch("/sobjects/Account/NetSuite_Id__c/F1", json={"Name": "G"})).json()
    assert_same_shape(first, up["created"]) and first["created"] is True
    assert_same_shape(again, up["updated"]) and again["created"] is False
    api.state.config.clock.advance(120)
    await api.delete(f"/sobjects/Account/{created['id']}")
    api.state.config.clock.advance(120)
    window = {"start": "2024-06-03T08:00:00Z", "end": "2024-06-03T10:00:00Z"}
    updated = (await api.get("/sobjects/Account/updated", params=window)).json()
    assert_same_shape(updated, fixture("get_updated.json")["response"])
    deleted = (await api.get("/sobjects/Account/deleted", params=window)).json()
    assert_same_shape(deleted, fixture("get_deleted.json")["response"])
    assert DATETIME_RE.match(deleted["deletedRecords"][0]["deletedDate"])


async def test_query_and_aggregate_shapes(demo: Api) -> None:
    page = (
        await demo.get(
            "/query",
            params={"q": "SELECT Name FROM Contact"},
            headers={"Sforce-Query-Options": "batchSize=200"},
        )
    ).json()
    page["records"] = page["records"][:1]
    assert_same_shape(page, fixture("query_page.json")["response"])
    assert re.match(r"^/services/data/v62\.0/query/01g\w{15}-200$", page["nextRecordsUrl"])
    expected = fixture("query_aggregate.json")
    agg = (await demo.query("SELECT OwnerId, SUM(Amount) FROM Opportunity GROUP BY OwnerId"))["records"][0]
    assert (
        list(agg) == ["attributes", "OwnerId", "expr0"]
        and agg["attributes"] == expected["record"]["attributes"]
    )
    count = await demo.query("SELECT COUNT() FROM Account")
    assert_same_shape(count, expected["count"])


async def test_collections_and_composite_shapes(api: Api) -> None:
    expected = fixture("collections_results.json")
    await api.create("Account", {"Name": "Dup", "NetSuite_Id__c": "D1"})
    results = (
        await api.post(
            "/composite/sobjects",
            json={
                "records": [
                    {"attributes": {"type": "Account"}, "Name": "New"},
                    {"attributes": {"type": "Account"}, "Name": "Other", "NetSuite_Id__c": "D1"},
                ]
            },
        )
    ).json()
    assert_same_shape(results, expected["create"][:1])
    assert_same_shape(results[1], expected["create"][1])
    assert results[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    upsert = (
        await api.patch(
            "/composite/sobjects/Contact/NetSuite_Id__c",
            json={"records": [{"attributes": {"type": "Contact"}, "NetSuite_Id__c": "C1", "LastName": "X"}]},
        )
    ).json()
    assert_same_shape(upsert[0], expected["upsert_item"])
    assert (await api.delete("/composite/sobjects")).json() == expected["delete_without_ids"]
    comp = fixture("composite_response.json")
    out = (
        await api.post(
            "/composite",
            json={
                "compositeRequest": [
                    {
                        "method": "POST",
                        "url": "/services/data/v62.0/sobjects/Account",
                        "referenceId": "refAccount",
                        "body": {"Name": "Sample"},
                    },
                    {
                        "method": "GET",
                        "url": "/services/data/v62.0/sobjects/Account/001Hp000000zzzzIAA",
                        "referenceId": "CCI__RefId__0__",
                    },
                ]
            },
        )
    ).json()["compositeResponse"]
    assert_same_shape(out[0], comp["created"])
    assert out[1] == comp["not_found"]


async def test_bulk_job_and_error_shapes(api: Api) -> None:
    job = (await api.post("/jobs/ingest", json={"object": "Account", "operation": "insert"})).json()
    expected = fixture("bulk_ingest_job.json")["response"]
    assert_same_shape(job, expected)
    assert job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"
    errors = fixture("errors.json")
    assert (await api.client.get("/services/data/v62.0/sobjects")).json() == errors["invalid_session"]
    assert (await api.get("/sobjects/Nope__c")).json() == errors["unknown_object"]
    await api.client.post("/__sandbox__/api-usage", json={"used": 100_000})
    assert (await api.get("/limits")).json() == errors["limit_exceeded"]


async def test_duplicates_detected_shape(api: Api) -> None:
    await api.create("Contact", {"LastName": "A", "Email": "a@b.example"})
    body = (await api.post("/sobjects/Contact", json={"LastName": "B", "Email": "a@b.example"})).json()
    expected = fixture("duplicates_detected.json")["response"]
    assert_same_shape(body, expected)
    assert body[0]["duplicateResult"]["matchResults"][0]["rule"] == "Standard_Contact_Match_Rule_v1_1"


async def test_change_event_header_shape(api: Api) -> None:
    rid = await api.create("Account", {"Name": "E"})
    await api.patch(
        f"/sobjects/Account/{rid}",
        json={"BillingState": "CA"},
        headers={"Sforce-Call-Options": "client=ns-sync"},
    )
    await asyncio.sleep(0)
    event = api.state.org.changes.read_after(0)[-1]
    expected = fixture("cdc_event.json")["payload"]["ChangeEventHeader"]
    assert_same_shape(event.header, expected)
    assert event.header["changeOrigin"] == "com/salesforce/api/rest/62.0;client=ns-sync"
    assert ID_RE.match(event.header["commitUser"])


async def test_limits_names(api: Api) -> None:
    expected = fixture("limits.json")
    limits = (await api.get("/limits")).json()
    assert set(expected["names"]) <= set(limits)
    assert all(set(v) == {"Max", "Remaining"} for v in limits.values())
    await api.create("Account", {"Name": "Counted"})
    counts = (await api.get("/limits/recordCount", params={"sObjects": "Account,Lead"})).json()
    assert counts == expected["record_count"]

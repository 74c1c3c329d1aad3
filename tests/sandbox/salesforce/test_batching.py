"""sObject Collections, composite, batch, tree, graph and Bulk API 2.0 (reference §5, §6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from salesforce_sandbox_support import BASE, Api

from ledgerbridge_sandbox.salesforce import ids

pytestmark = pytest.mark.anyio


async def test_collections_create_results_align_with_input(api: Api) -> None:
    r = await api.post(
        "/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "A"},
                {"attributes": {"type": "Contact"}},
                {"attributes": {"type": "Contact"}, "LastName": "Smith"},
            ],
        },
    )
    assert r.status_code == 200
    a, bad, c = r.json()
    assert a["success"] and a["id"].startswith("001") and a["errors"] == []
    assert bad == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    assert c["success"] and c["id"].startswith("003")


async def test_collections_update_upsert_retrieve_and_delete(api: Api) -> None:
    created = (
        await api.post(
            "/composite/sobjects",
            json={
                "records": [
                    {"attributes": {"type": "Account"}, "Name": f"N{i}", "NetSuite_Id__c": f"ns{i}"}
                    for i in range(3)
                ]
            },
        )
    ).json()
    ids = [x["id"] for x in created]
    r = await api.patch(
        "/composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Id": ids[0], "Phone": "1"},
                {"attributes": {"type": "Account"}, "Id": ids[1], "Name": None},
            ]
        },
    )
    ok, bad = r.json()
    assert ok == {"id": ids[0], "success": True, "errors": []}
    assert bad["id"] == ids[1] and bad["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    r = await api.patch(
        "/composite/sobjects/Account/NetSuite_Id__c",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "NetSuite_Id__c": "ns2", "Phone": "2"},
                {"attributes": {"type": "Account"}, "NetSuite_Id__c": "ns9", "Name": "New"},
            ],
        },
    )
    updated, inserted = r.json()
    assert updated == {"id": ids[2], "success": True, "errors": [], "created": False}
    assert inserted["created"] is True and inserted["success"] is True
    got = (
        await api.get(
            "/composite/sobjects/Account", params={"ids": f"{ids[0]},{ids[2]}", "fields": "Name,Phone"}
        )
    ).json()
    assert [(g["Name"], g["Phone"]) for g in got] == [("N0", "1"), ("N2", "2")]
    r = await api.delete("/composite/sobjects", params={"ids": f"{ids[0]},{ids[0]}", "allOrNone": "false"})
    first, second = r.json()
    assert first == {"id": ids[0], "success": True, "errors": []}
    assert second["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    r = await api.delete("/composite/sobjects")
    assert r.status_code == 400
    assert r.json() == [{"errorCode": "REQUIRED_FIELD_MISSING", "message": "At least 1 Id is required."}]


async def test_collections_reject_more_than_200_records(api: Api) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": f"x{i}"} for i in range(201)]
    r = await api.post("/composite/sobjects", json={"records": records})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


async def test_composite_references_and_one_api_call(api: Api) -> None:
    await api.client.delete("/__sandbox__/requests")
    used = api.state.org.usage.used
    r = await api.post(
        "/composite",
        json={
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/Account",
                    "referenceId": "refAccount",
                    "body": {"Name": "S"},
                },
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/Contact",
                    "referenceId": "refContact",
                    "body": {"LastName": "Smith", "AccountId": "@{refAccount.id}"},
                },
                {
                    "method": "GET",
                    "url": f"{BASE}/query?q=SELECT+Id,LastName+FROM+Contact",
                    "referenceId": "q1",
                },
                {
                    "method": "PATCH",
                    "url": f"{BASE}/sobjects/Contact/@{{q1.records[0].Id}}",
                    "referenceId": "upd",
                    "body": {"Title": "CFO"},
                },
                {
                    "method": "GET",
                    "url": f"{BASE}/sobjects/Account/{ids.make_id('001', 987654)}",
                    "referenceId": "missing",
                },
            ],
        },
    )
    out = r.json()["compositeResponse"]
    assert r.status_code == 200
    assert out[0]["httpStatusCode"] == 201 and out[0]["httpHeaders"]["Location"].startswith(
        f"{BASE}/sobjects/"
    )
    assert out[1]["httpStatusCode"] == 201
    assert out[2]["body"]["records"][0]["LastName"] == "Smith"
    assert out[3] == {"body": None, "httpHeaders": {}, "httpStatusCode": 204, "referenceId": "upd"}
    assert out[4] == {
        "body": [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
        "httpHeaders": {},
        "httpStatusCode": 404,
        "referenceId": "missing",
    }
    assert api.state.org.usage.used == used + 1
    log = (await api.client.get("/__sandbox__/requests")).json()
    assert log["total"] == 1 and log["requests"][0]["route"].endswith("/composite")


async def test_composite_without_all_or_none_halts_only_dependants(api: Api) -> None:
    r = await api.post(
        "/composite",
        json={
            "compositeRequest": [
                {"method": "POST", "url": f"{BASE}/sobjects/Contact", "referenceId": "bad", "body": {}},
                {
                    "method": "PATCH",
                    "url": f"{BASE}/sobjects/Contact/@{{bad.id}}",
                    "referenceId": "dep",
                    "body": {},
                },
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/Account",
                    "referenceId": "ok",
                    "body": {"Name": "fine"},
                },
            ]
        },
    )
    bad, dep, ok = r.json()["compositeResponse"]
    assert bad["httpStatusCode"] == 400
    assert dep["httpStatusCode"] == 400 and dep["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert ok["httpStatusCode"] == 201


async def test_batch_tree_and_graph(api: Api) -> None:
    aid = await api.create("Account", {"Name": "B"})
    r = (
        await api.post(
            "/composite/batch",
            json={
                "batchRequests": [
                    {"method": "PATCH", "url": f"v62.0/sobjects/Account/{aid}", "richInput": {"Name": "B2"}},
                    {"method": "GET", "url": f"v62.0/sobjects/Account/{aid}?fields=Name"},
                ]
            },
        )
    ).json()
    assert r["hasErrors"] is False
    assert r["results"][0] == {"statusCode": 204, "result": None}
    assert r["results"][1]["result"]["Name"] == "B2"
    r = await api.post(
        "/composite/tree/Account",
        json={
            "records": [
                {
                    "attributes": {"type": "Account", "referenceId": "ref1"},
                    "Name": "Tree",
                    "Contacts": {
                        "records": [
                            {"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Leaf"}
                        ]
                    },
                }
            ]
        },
    )
    assert r.status_code == 201
    assert [x["referenceId"] for x in r.json()["results"]] == ["ref1", "ref2"]
    r = await api.post(
        "/composite/tree/Account",
        json={
            "records": [
                {
                    "attributes": {"type": "Account", "referenceId": "r1"},
                    "Name": "Tree2",
                    "Contacts": {
                        "records": [{"attributes": {"type": "Contact", "referenceId": "r2"}, "Email": "123"}]
                    },
                }
            ]
        },
    )
    assert r.status_code == 400 and r.json()["hasErrors"] is True
    assert (await api.query("SELECT COUNT() FROM Account WHERE Name = 'Tree2'"))["totalSize"] == 0
    r = (
        await api.post(
            "/composite/graph",
            json={
                "graphs": [
                    {
                        "graphId": "g1",
                        "compositeRequest": [
                            {
                                "method": "POST",
                                "url": f"{BASE}/sobjects/Account",
                                "referenceId": "a",
                                "body": {"Name": "G"},
                            }
                        ],
                    },
                    {
                        "graphId": "g2",
                        "compositeRequest": [
                            {
                                "method": "POST",
                                "url": f"{BASE}/sobjects/Contact",
                                "referenceId": "c",
                                "body": {},
                            }
                        ],
                    },
                ]
            },
        )
    ).json()
    assert [g["isSuccessful"] for g in r["graphs"]] == [True, False]


async def _wait_job(api: Api, kind: str, job_id: str) -> dict[str, Any]:
    seen = []
    for _ in range(500):
        info = (await api.get(f"/jobs/{kind}/{job_id}")).json()
        seen.append(info["state"])
        if info["state"] in {"JobComplete", "Failed", "Aborted"}:
            info["_seen"] = seen
            return dict(info)
        await asyncio.sleep(0)
    raise AssertionError(f"job stuck: {seen[-1]}")


async def test_bulk_ingest_insert_runs_in_the_background(api: Api) -> None:
    job = (
        await api.post("/jobs/ingest", json={"object": "Account", "operation": "insert", "lineEnding": "LF"})
    ).json()
    assert (
        job["state"] == "Open" and job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"
    )
    assert job["id"].startswith("750")
    csv = 'Name,Phone,NumberOfEmployees\n"Bulk, One",1,5\nBulk Two,2,many\n,3,1\n'
    r = await api.put(
        f"/jobs/ingest/{job['id']}/batches", content=csv.encode(), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 201 and r.content == b""
    r = await api.patch(f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert r.json()["state"] == "UploadComplete"
    info = await _wait_job(api, "ingest", job["id"])
    assert info["state"] == "JobComplete" and info["jobType"] == "V2Ingest"
    assert info["numberRecordsProcessed"] == 3 and info["numberRecordsFailed"] == 2
    assert "UploadComplete" in info["_seen"] or "InProgress" in info["_seen"]
    ok = (await api.get(f"/jobs/ingest/{job['id']}/successfulResults/")).text
    lines = ok.strip().split("\n")
    assert lines[0] == '"sf__Id","sf__Created","Name","Phone","NumberOfEmployees"'
    assert lines[1].endswith('"true","Bulk, One","1","5"') and lines[1].startswith('"001')
    failed = (await api.get(f"/jobs/ingest/{job['id']}/failedResults/")).text.strip().split("\n")
    assert failed[0] == '"sf__Id","sf__Error","Name","Phone","NumberOfEmployees"'
    assert '"JSON_PARSER_ERROR:' in failed[1]
    assert '"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"' in failed[2]
    unprocessed = (await api.get(f"/jobs/ingest/{job['id']}/unprocessedRecords/")).text
    assert unprocessed.strip() == '"Name","Phone","NumberOfEmployees"'


async def test_bulk_ingest_upsert_update_and_delete(api: Api) -> None:
    async def run(operation: str, csv: str, **extra: Any) -> dict[str, Any]:
        job = (
            await api.post("/jobs/ingest", json={"object": "Account", "operation": operation, **extra})
        ).json()
        await api.put(f"/jobs/ingest/{job['id']}/batches", content=csv.encode())
        await api.patch(f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
        info = await _wait_job(api, "ingest", job["id"])
        info["ok"] = (
            (await api.get(f"/jobs/ingest/{job['id']}/successfulResults")).text.strip().split("\n")[1:]
        )
        return info

    info = await run("upsert", "NetSuite_Id__c,Name\nN1,One\nN2,Two\n", externalIdFieldName="NetSuite_Id__c")
    assert info["numberRecordsFailed"] == 0 and all('"true"' in line for line in info["ok"])
    info = await run("upsert", "NetSuite_Id__c,Name\nN1,Uno\n", externalIdFieldName="NetSuite_Id__c")
    assert '"false"' in info["ok"][0]
    rid = info["ok"][0].split(",")[0].strip('"')
    await run("update", f"Id,Phone\n{rid},555\n")
    assert (await api.get(f"/sobjects/Account/{rid}")).json()["Phone"] == "555"
    info = await run("delete", f"Id\n{rid}\n")
    assert info["numberRecordsProcessed"] == 1
    assert (await api.get(f"/sobjects/Account/{rid}")).status_code == 404
    bad = await run("insert", "Name,Bogus__c\nx,y\n")
    assert bad["state"] == "Failed" and "Bogus__c" in bad["errorMessage"]
    r = await api.post("/jobs/ingest", json={"object": "Account", "operation": "upsert"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALIDJOB"


async def test_bulk_query_pages_with_locator(demo: Api) -> None:
    r = await demo.post(
        "/jobs/query", json={"operation": "query", "query": "SELECT Id, Name, Account.Name FROM Contact"}
    )
    job = r.json()
    assert r.status_code == 200 and job["state"] == "UploadComplete"
    info = await _wait_job(demo, "query", job["id"])
    assert info["jobType"] == "V2Query" and info["numberRecordsProcessed"] == 400
    locator, rows, pages = "", 0, 0
    while True:
        params = {"maxRecords": "150", **({"locator": locator} if locator else {})}
        page = await demo.get(f"/jobs/query/{job['id']}/results", params=params)
        assert page.headers["content-type"].startswith("text/csv")
        lines = page.text.strip().split("\n")
        assert lines[0] == '"Id","Name","Account.Name"'
        assert int(page.headers["sforce-numberofrecords"]) == len(lines) - 1
        rows += len(lines) - 1
        pages += 1
        locator = page.headers["sforce-locator"]
        if locator == "null":
            break
    assert rows == 400 and pages == 3
    r = await demo.post(
        "/jobs/query",
        json={
            "operation": "query",
            "query": "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName",
        },
    )
    assert r.status_code == 400


async def test_bulk_abort_and_job_list(api: Api) -> None:
    job = (await api.post("/jobs/ingest", json={"object": "Contact", "operation": "insert"})).json()
    await api.put(f"/jobs/ingest/{job['id']}/batches", content=b"LastName\nA\nB\n")
    assert (await api.patch(f"/jobs/ingest/{job['id']}", json={"state": "Aborted"})).json()[
        "state"
    ] == "Aborted"
    unprocessed = (await api.get(f"/jobs/ingest/{job['id']}/unprocessedrecords")).text.strip().split("\n")
    assert unprocessed == ['"LastName"', '"A"', '"B"']
    listed = (await api.get("/jobs/ingest")).json()
    assert listed["done"] is True and [j["id"] for j in listed["records"]] == [job["id"]]
    assert (await api.delete(f"/jobs/ingest/{job['id']}")).status_code == 204

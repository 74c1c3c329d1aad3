"""Asynchronous requests, idempotency keys and batch operations (reference §3.8-§3.10)."""

from __future__ import annotations

from typing import Any

from netsuite_sandbox_support import NS, error_code

ASYNC = {"Prefer": "respond-async"}
BATCH = {"Prefer": "respond-async", "Content-Type": "application/vnd.oracle.resource+json; type=collection"}


def _job_path(response: Any) -> str:
    assert response.status_code == 202, response.text
    location = str(response.headers["location"])
    assert location.startswith("http://testserver/services/rest/async/v1/job/")
    return location.split("/services/rest", 1)[1]


def test_async_create_job_task_result(ns: NS) -> None:
    r = ns.post(
        "/record/v1/customer", json={"companyName": "Async Co", "subsidiary": {"id": "2"}}, headers=ASYNC
    )
    assert r.headers["preference-applied"] == "respond-async" and r.content == b""
    job = _job_path(r)
    body = ns.get(job).json()
    assert body["completed"] is True and body["progress"] == "succeeded"
    assert body["task"]["links"][0]["href"].endswith(f"{job}/task")
    tasks = ns.get(f"{job}/task").json()
    assert tasks["count"] == 1
    task = ns.get(f"{job}/task/1").json()
    assert task["progress"] == "succeeded" and task["links"][0]["rel"] == "related"
    assert task["startTime"] == "2025-06-02T09:00:00Z"
    result = ns.get(f"{job}/task/1/result")
    assert result.status_code == 200 and result.json()["companyName"] == "Async Co"
    assert ns.rows("SELECT companyname FROM customer") == [{"companyname": "Async Co"}]


def test_job_is_pending_until_the_delay_has_passed(make_ns: Any, clock: Any) -> None:
    ns = make_ns(async_job_delay_s=30)
    job = _job_path(
        ns.post(
            "/record/v1/customer", json={"companyName": "Later Co", "subsidiary": {"id": "2"}}, headers=ASYNC
        )
    )
    assert ns.get(job).json() | {"links": None, "task": None} == {
        "links": None,
        "id": job.rsplit("/", 1)[1],
        "completed": False,
        "progress": "pending",
        "task": None,
    }
    assert ns.get(f"{job}/task/1/result").status_code == 404
    clock.advance(31)
    assert ns.get(job).json()["progress"] == "succeeded"


def test_failed_task_keeps_the_error(ns: NS) -> None:
    job = _job_path(ns.post("/record/v1/customer", json={"email": "x@y.example"}, headers=ASYNC))
    assert ns.get(job).json()["progress"] == "failed"
    assert ns.get(f"{job}/task/1").json()["progress"] == "failed"
    result = ns.get(f"{job}/task/1/result")
    assert result.status_code == 400 and error_code(result) == "USER_ERROR"


def test_idempotency_key_returns_the_original_job_without_redoing_work(ns: NS) -> None:
    headers = {**ASYNC, "X-NetSuite-Idempotency-Key": "5b6c3e2a-0000-4000-8000-000000000001"}
    first = _job_path(
        ns.post(
            "/record/v1/customer", json={"companyName": "Once Co", "subsidiary": {"id": "2"}}, headers=headers
        )
    )
    again = ns.post(
        "/record/v1/customer", json={"companyName": "Twice Co", "subsidiary": {"id": "2"}}, headers=headers
    )
    assert again.status_code == 400 and error_code(again) == "IDEMPOTENCY_ERROR"
    assert again.json()["title"] == "Conflict"
    assert again.headers["location"].endswith(first)
    assert ns.rows("SELECT companyname FROM customer") == [{"companyname": "Once Co"}]
    sync = ns.post(
        "/record/v1/customer",
        json={"companyName": "Sync Co", "subsidiary": {"id": "2"}},
        headers={"X-NetSuite-Idempotency-Key": "5b6c3e2a-0000-4000-8000-000000000001"},
    )
    assert sync.status_code == 204


def test_async_patch_delete_and_transform(ns: NS) -> None:
    cid, item = ns.customer(), ns.item()
    job = _job_path(ns.patch(f"/record/v1/customer/{cid}", json={"phone": "9"}, headers=ASYNC))
    assert ns.get(f"{job}/task/1/result").json()["phone"] == "9"
    so = ns.order(cid, [{"item": {"id": item}}])
    job = _job_path(ns.post(f"/record/v1/salesOrder/{so}/!transform/invoice", json={}, headers=ASYNC))
    invoice = ns.get(f"{job}/task/1/result").json()
    assert invoice["createdFrom"]["id"] == so
    job = _job_path(ns.delete(f"/record/v1/invoice/{invoice['id']}", headers=ASYNC))
    assert ns.get(f"{job}/task/1/result").status_code == 204


def test_batch_create_update_upsert(ns: NS) -> None:
    items = [
        {"companyName": f"Batch Co {n}", "subsidiary": {"id": "2"}, "externalId": f"B-{n}"} for n in range(3)
    ]
    items.append({"companyName": "Broken"})
    job = _job_path(ns.post("/record/v1/customer", json={"items": items}, headers=BATCH))
    tasks = ns.get(f"{job}/task").json()
    assert tasks["totalResults"] == 4
    results = [ns.get(f"{job}/task/{n}/result") for n in range(1, 5)]
    assert [r.status_code for r in results] == [200, 200, 200, 400]
    assert ns.get(job).json()["progress"] == "failed"
    first_id = results[0].json()["id"]
    job = _job_path(
        ns.patch(
            "/record/v1/customer",
            json={"items": [{"id": first_id, "phone": "1"}, {"externalId": "B-1", "phone": "2"}]},
            headers=BATCH,
        )
    )
    assert ns.get(job).json()["progress"] == "succeeded"
    assert ns.record("customer", first_id)["phone"] == "1"
    assert ns.record("customer", "eid:B-1")["phone"] == "2"
    job = _job_path(
        ns.put(
            "/record/v1/customer",
            json={
                "items": [
                    {"externalId": "B-2", "phone": "3"},
                    {"externalId": "B-9", "companyName": "New Co", "subsidiary": {"id": "2"}},
                ]
            },
            headers=BATCH,
        )
    )
    assert ns.get(job).json()["progress"] == "succeeded"
    assert ns.record("customer", "eid:B-9")["companyName"] == "New Co"
    r = ns.put("/record/v1/customer", json={"items": [{"phone": "3"}]}, headers=BATCH)
    assert r.status_code == 400 and error_code(r) == "INVALID_CONTENT"


def test_batch_limits(ns: NS) -> None:
    too_many = [{"companyName": f"C{n}", "subsidiary": {"id": "2"}} for n in range(101)]
    r = ns.post("/record/v1/customer", json={"items": too_many}, headers=BATCH)
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"
    r = ns.post(
        "/record/v1/customer",
        json={"items": too_many[:2]},
        headers={"Content-Type": "application/vnd.oracle.resource+json; type=collection"},
    )
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"


def test_batch_get_and_delete(ns: NS) -> None:
    a, b = ns.customer("A Co", externalId="EA"), ns.customer("B Co")
    r = ns.get("/record/v1/customer", params={"expandRecords": "true", "ids": f"{b},eid:'EA'"})
    assert [i["companyName"] for i in r.json()["items"]] == ["B Co", "A Co"]
    job = _job_path(
        ns.get("/record/v1/customer", params={"expandRecords": "true", "ids": f"{a},999"}, headers=ASYNC)
    )
    assert ns.get(f"{job}/task/1/result").json()["id"] == a
    assert ns.get(f"{job}/task/2/result").status_code == 404
    job = _job_path(ns.delete("/record/v1/customer", params={"ids": f"{a},{b}"}, headers=ASYNC))
    assert ns.get(job).json()["progress"] == "succeeded"
    assert ns.rows("SELECT COUNT(*) n FROM customer") == [{"n": "0"}]


def test_unknown_job(ns: NS) -> None:
    r = ns.get("/async/v1/job/999")
    assert r.status_code == 404 and error_code(r) == "NONEXISTENT_ID"

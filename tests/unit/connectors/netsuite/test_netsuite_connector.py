"""NetSuiteConnector against scripted HTTP answers (MockTransport) for cases a sandbox cannot stage.

The contract tests in tests/contract/netsuite run the same connector against the sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from netsuite_testkit import FakeClock, load_wire, tba_settings

from ledgerbridge.connectors.netsuite import NetSuiteConnector
from ledgerbridge.connectors.netsuite.async_jobs import IDEMPOTENCY_HEADER
from ledgerbridge.core.errors import AuthError, ErrorKind
from ledgerbridge.core.ports import SystemPort
from ledgerbridge.core.records import Priority, Watermark, Write
from ledgerbridge.transport.governor import AdaptiveGovernor

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx2.Request], httpx2.Response]


class Script:
    """Routes (method, path regex) to handlers; every unmatched request fails the test."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.log: list[httpx2.Request] = []
        self.authorizations: list[str] = []  # as sent (a retried request object is re-signed in place)

    def on(self, method: str, path: str, handler: Handler | httpx2.Response) -> None:
        fn: Handler
        if isinstance(handler, httpx2.Response):
            fixed = handler

            def fn(_request: httpx2.Request) -> httpx2.Response:
                return fixed
        else:
            fn = handler
        self.routes.insert(0, (method, re.compile(path + "$"), fn))

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.log.append(request)
        self.authorizations.append(request.headers.get("Authorization", ""))
        path = request.url.path.removeprefix("/services/rest")
        for method, pattern, handler in self.routes:
            if method == request.method and pattern.match(path):
                return handler(request)
        raise AssertionError(f"unexpected {request.method} {request.url}")

    def calls(self, method: str, path: str) -> list[httpx2.Request]:
        pattern = re.compile(path + "$")
        return [
            r
            for r in self.log
            if r.method == method and pattern.match(r.url.path.removeprefix("/services/rest"))
        ]


def error(
    status: int, code: str, detail: str = "x", headers: dict[str, str] | None = None
) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers=headers,
        json={"status": status, "o:errorDetails": [{"detail": detail, "o:errorCode": code}]},
    )


def connector(
    script: Script, clock: FakeClock, *, governor: AdaptiveGovernor | None = None, **overrides: Any
) -> NetSuiteConnector:
    kwargs = {k: overrides.pop(k) for k in ("page_size", "max_offset_rows") if k in overrides}
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(script))
    return NetSuiteConnector(
        tba_settings(**overrides), http, governor=governor or AdaptiveGovernor(4), clock=clock, **kwargs
    )


def test_connector_is_a_system_port(clock: FakeClock) -> None:
    port: SystemPort = connector(Script(), clock)
    assert port.system == "netsuite"
    assert port.capabilities.max_page_size == 1000 and port.capabilities.upsert_by_external_id


async def test_upsert_results_align_with_input_and_bad_records_are_values(clock: FakeClock) -> None:
    script = Script()
    script.on("PATCH", r"/record/v1/customer/\d+", httpx2.Response(204))
    script.on("PATCH", r"/record/v1/customer/999", error(404, "NONEXISTENT_ID"))
    script.on(
        "PUT",
        r"/record/v1/customer/eid:.*",
        httpx2.Response(204, headers={"Location": "https://ns.test/services/rest/record/v1/customer/77"}),
    )
    script.on("PUT", r"/record/v1/customer/eid:BAD", error(400, "INVALID_CONTENT", "bad subsidiary"))
    script.on(
        "POST",
        r"/record/v1/customer",
        httpx2.Response(204, headers={"Location": "https://ns.test/services/rest/record/v1/customer/647"}),
    )
    ns = connector(script, clock)
    results = await ns.upsert(
        "customer",
        [
            Write({"companyName": "A"}, id="5"),
            Write({"companyName": "B"}, id="999"),
            Write({"companyName": "C", "subsidiary": {"id": "1", "refName": "Parent"}}, external_id="SF-1"),
            Write({"companyName": "D"}, external_id="BAD"),
            Write({"companyName": "E"}),
        ],
        key_field="externalId",
    )
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert results[0].ok and results[0].id == "5"
    assert results[1].error is not None and results[1].error.kind is ErrorKind.NOT_FOUND
    assert results[2].ok and results[2].id == "77"
    assert results[3].error is not None and results[3].error.code == "INVALID_CONTENT"
    assert results[4].ok and results[4].id == "647" and results[4].created
    put = script.calls("PUT", r"/record/v1/customer/eid:SF-1")[0]
    assert json.loads(put.content) == {"companyName": "C", "subsidiary": {"id": "1"}}
    assert put.headers["Content-Type"] == "application/json"
    assert put.headers["Authorization"].startswith('OAuth realm="123456_SB1"')


async def test_upsert_by_another_key_is_refused_per_record(clock: FakeClock) -> None:
    results = await connector(Script(), clock).upsert("customer", [Write({"a": 1})], key_field="email")
    assert results[0].error is not None and results[0].error.kind is ErrorKind.CONFIG


async def test_transient_errors_and_record_changed_are_retried(clock: FakeClock) -> None:
    script = Script()
    answers = iter(
        [error(500, "UNEXPECTED_ERROR"), error(400, "RCRD_HAS_BEEN_CHANGED"), httpx2.Response(204)]
    )
    script.on("PATCH", r"/record/v1/customer/1", lambda _r: next(answers))
    results = await connector(script, clock).upsert("customer", [Write({"a": 1}, id="1")])
    assert results[0].ok
    assert len(script.calls("PATCH", r"/record/v1/customer/1")) == 3


async def test_throttled_calls_cut_the_governor_and_are_retried(clock: FakeClock) -> None:
    script = Script()
    answers = iter(
        [httpx2.Response(429, json=load_wire("error_429_concurrency.json"))] * 2 + [httpx2.Response(204)]
    )
    script.on("PATCH", r"/record/v1/customer/1", lambda _r: next(answers))
    gov = AdaptiveGovernor(4)
    ns = connector(script, clock, governor=gov)
    results = await ns.upsert("customer", [Write({"a": 1}, id="1")])
    assert results[0].ok
    budget = await ns.budget()
    assert budget.throttled == 2 and budget.concurrency_limit is not None and budget.concurrency_limit < 4
    assert len(clock.sleeps) >= 2  # backed off on the injected clock, not the wall


async def test_invalid_login_is_retried_once_with_a_fresh_nonce_then_raised(clock: FakeClock) -> None:
    script = Script()
    answers = iter(
        [httpx2.Response(401, json=load_wire("error_401_invalid_login.json")), httpx2.Response(204)]
    )
    script.on("PATCH", r"/record/v1/customer/1", lambda _r: next(answers))
    ns = connector(script, clock)
    assert (await ns.upsert("customer", [Write({"a": 1}, id="1")]))[0].ok
    nonces = [
        re.search(r'oauth_nonce="([^"]+)"', header).group(1)  # type: ignore[union-attr]
        for header in script.authorizations
    ]
    assert len(nonces) == 2 and nonces[0] != nonces[1]

    script.on(
        "PATCH",
        r"/record/v1/customer/2",
        httpx2.Response(401, json=load_wire("error_401_invalid_login.json")),
    )
    with pytest.raises(AuthError):
        await ns.upsert("customer", [Write({"a": 1}, id="2")])
    assert len(script.calls("PATCH", r"/record/v1/customer/2")) == 2


async def test_read_changes_pages_to_the_end_and_switches_to_keyset_past_the_offset_cap(
    clock: FakeClock,
) -> None:
    rows = [{"id": str(i), "lastmodified": f"2024-05-01 10:00:{i:02d}"} for i in range(1, 8)]
    seen_queries: list[dict[str, Any]] = []

    def suiteql(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        seen_queries.append({"q": body["q"], "params": body.get("params", []), **dict(request.url.params)})
        assert request.headers["Prefer"] == "transient"
        limit, offset = int(request.url.params["limit"]), int(request.url.params["offset"])
        source = rows
        if "id > ?" in body["q"]:
            last_id = int(body["params"][-1])
            source = [r for r in rows if int(r["id"]) > last_id]
        page = source[offset : offset + limit]
        return httpx2.Response(
            200,
            json={
                "items": [{"links": [], **r} for r in page],
                "count": len(page),
                "offset": offset,
                "hasMore": offset + limit < len(source),
                "totalResults": len(source),
                "links": [],
            },
        )

    def get(request: httpx2.Request) -> httpx2.Response:
        rid = request.url.path.rsplit("/", 1)[-1]
        if rid == "4":
            return error(404, "NONEXISTENT_ID")  # deleted since the query
        return httpx2.Response(
            200,
            json={
                "links": [],
                "id": rid,
                "companyName": f"C{rid}",
                "lastModifiedDate": f"2024-05-01T10:00:{int(rid):02d}Z",
            },
        )

    script = Script()
    script.on("POST", r"/query/v1/suiteql", suiteql)
    script.on("GET", r"/record/v1/customer/\d+", get)
    ns = connector(script, clock, page_size=2, max_offset_rows=4)
    pages = [p async for p in ns.read_changes("customer", Watermark(datetime(2024, 5, 1, tzinfo=UTC)))]
    ids = [r.id for p in pages for r in p.records]
    assert ids == ["1", "2", "3", "5", "6", "7"]
    assert [p.has_more for p in pages] == [True, True, True, False]
    assert pages[-1].watermark == Watermark(datetime(2024, 5, 1, 10, 0, 7, tzinfo=UTC), "7")
    assert pages[0].records[0].fields["companyName"] == "C1"
    assert any("id > ?" in q["q"] for q in seen_queries)  # keyset after the offset cap
    assert all(int(q["offset"]) + int(q["limit"]) <= 4 for q in seen_queries)
    get_params = script.calls("GET", r"/record/v1/customer/1")[0].url.params
    assert get_params["expandSubResources"] == "true"


async def test_read_changes_skips_rows_delivered_at_the_watermark(clock: FakeClock) -> None:
    rows = [
        {"id": "3", "lastmodified": "2024-05-01 10:00:00"},
        {"id": "4", "lastmodified": "2024-05-01 10:00:00"},
    ]
    script = Script()
    script.on("POST", r"/query/v1/suiteql", httpx2.Response(200, json={"items": rows, "hasMore": False}))
    script.on(
        "GET",
        r"/record/v1/customer/\d+",
        lambda r: httpx2.Response(200, json={"id": r.url.path.rsplit("/", 1)[-1]}),
    )
    ns = connector(script, clock)
    since = Watermark(datetime(2024, 5, 1, 10, tzinfo=UTC), "3")
    pages = [p async for p in ns.read_changes("customer", since)]
    assert [r.id for r in pages[0].records] == ["4"]
    assert pages[0].records[0].modified_at == datetime(2024, 5, 1, 10, tzinfo=UTC)


async def test_read_deleted_and_find(clock: FakeClock) -> None:
    script = Script()

    def suiteql(request: httpx2.Request) -> httpx2.Response:
        q = json.loads(request.content)["q"]
        if "deletedrecord" in q:
            return httpx2.Response(
                200,
                json={
                    "items": [{"recordid": "9", "deleted": "2024-05-02 01:02:03", "type": "customer"}],
                    "hasMore": False,
                },
            )
        if "externalid IN (?, ?)" in q:  # one query for all the keys: misses cost no call each
            return httpx2.Response(200, json={"items": [{"id": "12"}], "hasMore": False})
        assert "email IN (?, ?)" in q
        return httpx2.Response(200, json={"items": [{"id": "11"}], "hasMore": False})

    script.on("POST", r"/query/v1/suiteql", suiteql)
    script.on("GET", r"/record/v1/customer/11", httpx2.Response(200, json={"id": "11", "email": "a@x"}))
    script.on("GET", r"/record/v1/customer/12", httpx2.Response(200, json={"id": "12"}))
    ns = connector(script, clock)
    deleted = await ns.read_deleted("customer", None)
    assert [(d.id, d.deleted_at) for d in deleted] == [("9", datetime(2024, 5, 2, 1, 2, 3, tzinfo=UTC))]
    assert [r.id for r in await ns.find("customer", "email", ["a@x", "b@x"])] == ["11"]
    assert [r.id for r in await ns.find("customer", "externalId", ["SF-1", "SF-2"])] == ["12"]


async def test_governance_limits_cap_the_ceiling_at_start(clock: FakeClock) -> None:
    script = Script()
    script.on(
        "GET", r"/system/v1/governanceLimits", httpx2.Response(200, json=load_wire("governance_limits.json"))
    )
    script.on("GET", r"/record/v1/customer/1", httpx2.Response(200, json={"id": "1"}))
    gov = AdaptiveGovernor(5)
    ns = connector(script, clock, governor=gov, read_governance_limits=True)
    await ns.read_by_ids("customer", ["1"])
    await ns.read_by_ids("customer", ["1"])
    assert gov.ceiling == 2 and gov.limit == 2
    assert len(script.calls("GET", r"/system/v1/governanceLimits")) == 1
    assert (await ns.budget()).extra["account_limit"] == 5


async def test_governance_limits_refused_for_non_admins_is_ignored(clock: FakeClock) -> None:
    script = Script()
    script.on("GET", r"/system/v1/governanceLimits", error(403, "INSUFFICIENT_PERMISSION"))
    script.on("GET", r"/record/v1/customer/1", httpx2.Response(200, json={"id": "1"}))
    gov = AdaptiveGovernor(5)
    ns = connector(script, clock, governor=gov, read_governance_limits=True)
    assert [r.id for r in await ns.read_by_ids("customer", ["1"])] == ["1"]
    assert gov.ceiling == 5


async def test_describe_reads_the_metadata_catalog_once(clock: FakeClock) -> None:
    script = Script()
    script.on(
        "GET",
        r"/record/v1/metadata-catalog/customer",
        httpx2.Response(200, json={"type": "object", "properties": {"companyName": {"type": "string"}}}),
    )
    ns = connector(script, clock)
    schema = await ns.describe("customer")
    assert schema.field("companyname") is not None
    await ns.describe("customer")
    calls = script.calls("GET", r"/record/v1/metadata-catalog/customer")
    assert len(calls) == 1 and calls[0].headers["Accept"] == "application/schema+json"


class JobServer:
    """Scripted async batch endpoints (§3.8-§3.10)."""

    def __init__(
        self, script: Script, *, bad: frozenset[str] = frozenset(), lose_first_submit: bool = False
    ) -> None:
        self.jobs: dict[str, list[dict[str, Any]]] = {}
        self.keys: dict[str, str] = {}
        self.bad = bad
        self.lose_first_submit = lose_first_submit
        self.polls = 0
        script.on("PUT", r"/record/v1/customer", self.submit)
        script.on("GET", r"/async/v1/job/\d+", self.job)
        script.on("GET", r"/async/v1/job/\d+/task", self.tasks)
        script.on("GET", r"/async/v1/job/\d+/task/\d+/result", self.result)

    def submit(self, request: httpx2.Request) -> httpx2.Response:
        assert request.headers["Prefer"] == "respond-async"
        assert request.headers["Content-Type"] == "application/vnd.oracle.resource+json; type=collection"
        key = request.headers[IDEMPOTENCY_HEADER]
        if key in self.keys:
            return error(
                400,
                "IDEMPOTENCY_ERROR",
                headers={"Location": f"/services/rest/async/v1/job/{self.keys[key]}"},
            )
        items = json.loads(request.content)["items"]
        assert len(items) <= 100
        job_id = str(len(self.jobs) + 1)
        self.jobs[job_id] = items
        self.keys[key] = job_id
        if self.lose_first_submit:
            self.lose_first_submit = False
            raise httpx2.ReadTimeout("lost the answer", request=request)
        return httpx2.Response(
            202, headers={"Location": f"https://ns.test/services/rest/async/v1/job/{job_id}"}
        )

    def job(self, request: httpx2.Request) -> httpx2.Response:
        self.polls += 1
        job_id = request.url.path.rsplit("/", 1)[-1]
        done = self.polls % 2 == 0
        return httpx2.Response(
            200, json={"id": job_id, "completed": done, "progress": "succeeded" if done else "pending"}
        )

    def tasks(self, request: httpx2.Request) -> httpx2.Response:
        job_id = request.url.path.split("/")[-2]
        items = [{"links": [], "id": str(i + 1)} for i in range(len(self.jobs[job_id]))]
        return httpx2.Response(200, json={"items": items, "hasMore": False})

    def result(self, request: httpx2.Request) -> httpx2.Response:
        parts = request.url.path.split("/")
        job_id, task = parts[-4], int(parts[-2])
        item = self.jobs[job_id][task - 1]
        if item["externalId"] in self.bad:
            return httpx2.Response(
                200,
                json={
                    "status": 400,
                    "o:errorDetails": [
                        {"detail": "bad", "o:errorCode": "USER_ERROR", "o:errorPath": "companyName"}
                    ],
                },
            )
        return httpx2.Response(
            200, json={"id": str(1000 + int(job_id) * 1000 + task), "externalId": item["externalId"]}
        )


async def test_large_upserts_go_as_batch_jobs_with_aligned_per_record_results(clock: FakeClock) -> None:
    script = Script()
    server = JobServer(script, bad=frozenset({"E-17", "E-150"}))
    ns = connector(script, clock, batch_threshold=10)
    writes = [Write({"companyName": f"C{i}"}, external_id=f"E-{i}") for i in range(250)]
    results = await ns.upsert("customer", writes, key_field="externalId", priority=Priority.BACKFILL)
    assert [r.index for r in results] == list(range(250))
    assert len(server.jobs) == 3  # 100 + 100 + 50
    failed = [r.index for r in results if not r.ok]
    assert failed == [17, 150]
    assert results[17].error is not None and results[17].error.fields == ("companyName",)
    assert results[0].id == "2001" and results[249].id == "4050"
    assert clock.sleeps  # polled on the injected clock


async def test_a_retried_batch_submission_follows_the_original_job(clock: FakeClock) -> None:
    script = Script()
    server = JobServer(script, lose_first_submit=True)
    ns = connector(script, clock, batch_threshold=1)
    results = await ns.upsert("customer", [Write({"a": 1}, external_id=f"E-{i}") for i in range(3)])
    assert all(r.ok for r in results)
    assert len(server.jobs) == 1  # the resubmission did not create a second job
    submits = script.calls("PUT", r"/record/v1/customer")
    assert len(submits) == 2 and len({s.headers[IDEMPOTENCY_HEADER] for s in submits}) == 1


async def test_invalid_login_while_other_calls_are_in_flight_is_treated_as_throttling(
    clock: FakeClock,
) -> None:
    import asyncio

    script = Script()
    gate = asyncio.Event()
    answers = iter(
        [httpx2.Response(401, json=load_wire("error_401_invalid_login.json")), httpx2.Response(204)]
    )

    async def flaky(request: httpx2.Request) -> httpx2.Response:
        return next(answers)

    async def slow(request: httpx2.Request) -> httpx2.Response:
        await gate.wait()
        return httpx2.Response(204)

    async def handler(request: httpx2.Request) -> httpx2.Response:
        script.log.append(request)
        if request.url.path.endswith("/customer/1"):
            response = await flaky(request)
            gate.set()
            return response
        return await slow(request)

    gov = AdaptiveGovernor(4)
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    ns = NetSuiteConnector(tba_settings(), http, governor=gov, clock=clock)
    results = await ns.upsert("customer", [Write({"a": 2}, id="2"), Write({"a": 1}, id="1")])
    assert all(r.ok for r in results)
    assert gov.stats().n_throttled == 1 and gov.stats().n_decreases == 1
    assert clock.sleeps  # backed off like any throttled call


async def test_a_create_without_external_id_is_not_retried_after_a_500(clock: FakeClock) -> None:
    script = Script()
    script.on("POST", r"/record/v1/customer", error(500, "UNEXPECTED_ERROR"))
    results = await connector(script, clock).upsert("customer", [Write({"companyName": "X"})])
    assert results[0].error is not None and results[0].error.kind is ErrorKind.TRANSIENT
    assert len(script.calls("POST", r"/record/v1/customer")) == 1  # it may have been saved: no blind retry


async def test_find_falls_back_to_the_q_filter_when_suiteql_refuses_the_column(clock: FakeClock) -> None:
    script = Script()
    script.on(
        "POST", r"/query/v1/suiteql", error(400, "INVALID_PARAMETER", "Search error occurred: Field 'x'")
    )
    pages = iter(
        [
            httpx2.Response(200, json={"items": [{"id": "7"}], "hasMore": True}),
            httpx2.Response(200, json={"items": [{"id": "8"}], "hasMore": False}),
        ]
    )
    script.on("GET", r"/record/v1/customer", lambda _r: next(pages))
    script.on(
        "GET",
        r"/record/v1/customer/\d+",
        lambda r: httpx2.Response(200, json={"id": r.url.path.rsplit("/", 1)[-1]}),
    )
    found = await connector(script, clock).find("customer", "custentity_code", ["A", "B"])
    assert [r.id for r in found] == ["7", "8"]
    listing = script.calls("GET", r"/record/v1/customer")
    assert listing[0].url.params["q"] == 'custentity_code IS "A" OR custentity_code IS "B"'
    assert [c.url.params["offset"] for c in listing] == ["0", "1000"]


async def test_record_reads_never_ask_for_the_id_as_a_body_field(clock: FakeClock) -> None:
    script = Script()
    seen: list[str] = []

    def get(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.url.params.get("fields", ""))
        return httpx2.Response(200, json={"id": "7", "tranId": "INV7"})

    script.on("GET", r"/record/v1/invoice/7", get)
    ns = connector(script, clock)
    records = await ns.read_by_ids("invoice", ["7"], fields=["id", "tranId", "status"])
    assert [r.id for r in records] == ["7"]
    assert seen == ["tranId,status"]

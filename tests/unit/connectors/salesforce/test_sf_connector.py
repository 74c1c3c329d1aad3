"""SalesforceConnector over a strict scripted transport: paging, writes, retries, auth, budget.

These cover the wire behaviour the sandbox cannot (or not yet) produce; the contract tests run
the same connector against the Salesforce sandbox.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from sf_scripted import INSTANCE, Scripted, body_of, json_response

from ledgerbridge.core.errors import AuthError, ConcurrencyLimited, ErrorKind, QuotaExhausted, RequestRejected
from ledgerbridge.core.records import Priority, Watermark, Write

DATA = "/services/data/v62.0"


def rec(i: int, stamp: str = "2024-01-01T00:00:00.000+0000", **fields: object) -> dict[str, object]:
    rid = f"001000000000{i:03d}AAA"
    return {
        "attributes": {"type": "Account", "url": f"{DATA}/sobjects/Account/{rid}"},
        "Id": rid,
        "SystemModstamp": stamp,
        **fields,
    }


def soql_of(request: httpx2.Request) -> str:
    return parse_qs(urlsplit(str(request.url)).query)["q"][0]


class FakeClock:
    def __init__(self) -> None:
        self.t = datetime(2024, 1, 1, tzinfo=UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)


# ---- reads -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_read_changes_follows_next_records_url_to_the_end(scripted: Scripted, make_connector) -> None:
    scripted.token()
    scripted.expect(
        "GET",
        r"/query\?q=",
        json_response(
            200,
            {
                "totalSize": 3,
                "done": False,
                "nextRecordsUrl": f"{DATA}/query/01gXX-2",
                "records": [rec(1), rec(2)],
            },
        ),
    )
    scripted.expect(
        "GET",
        r"/query/01gXX-2$",
        json_response(
            200, {"totalSize": 3, "done": True, "records": [rec(3, "2024-01-02T00:00:00.000+0000", Name="C")]}
        ),
    )
    conn = make_connector()
    since = Watermark(datetime(2023, 12, 31, tzinfo=UTC))
    pages = [p async for p in conn.read_changes("Account", since, fields=["Name"])]
    assert [len(p.records) for p in pages] == [2, 1]
    assert [p.has_more for p in pages] == [True, False]
    assert pages[0].watermark == Watermark(datetime(2024, 1, 1, tzinfo=UTC), "001000000000002AAA")
    assert pages[1].watermark == Watermark(datetime(2024, 1, 2, tzinfo=UTC), "001000000000003AAA")
    first = scripted.data_requests()[0]
    assert soql_of(first) == (
        "SELECT Id, SystemModstamp, Name FROM Account WHERE SystemModstamp >= "
        "2023-12-31T00:00:00Z ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert first.headers["Authorization"].startswith("Bearer 00D")
    assert first.headers["Sforce-Query-Options"] == "batchSize=2000"
    assert "Sforce-Call-Options" not in first.headers  # reads carry no client id
    assert pages[1].records[0].fields == {
        "Id": "001000000000003AAA",
        "SystemModstamp": "2024-01-02T00:00:00.000+0000",
        "Name": "C",
    }


@pytest.mark.anyio
async def test_read_changes_without_fields_selects_describe_fields_once(
    scripted: Scripted, make_connector
) -> None:
    scripted.token()
    describe = {
        "name": "Account",
        "fields": [
            {"name": "Id", "type": "id"},
            {"name": "Name", "type": "string"},
            {"name": "BillingAddress", "type": "address"},
            {"name": "SystemModstamp", "type": "datetime"},
        ],
    }
    scripted.expect("GET", r"/sobjects/Account/describe$", json_response(200, describe))
    scripted.expect(
        "GET", r"/query\?q=", *[json_response(200, {"totalSize": 0, "done": True, "records": []})] * 2
    )
    conn = make_connector()
    for _ in range(2):
        pages = [p async for p in conn.read_changes("Account", None)]
        assert pages[0].records == [] and pages[0].watermark is None
    assert soql_of(scripted.data_requests()[1]).startswith("SELECT Id, SystemModstamp, Name FROM Account")


@pytest.mark.anyio
async def test_read_by_ids_chunks_by_200_and_skips_non_ids(scripted: Scripted, make_connector) -> None:
    scripted.token()
    ids = [f"001000000000{i:03d}AAA" for i in range(250)]
    scripted.expect(
        "GET",
        r"/query\?q=",
        json_response(200, {"totalSize": 1, "done": True, "records": [rec(1, Name="A")]}),
        json_response(200, {"totalSize": 0, "done": True, "records": []}),
    )
    got = await make_connector().read_by_ids("Account", [*ids, "not-an-id'"], fields=["Name"])
    assert [r.id for r in got] == ["001000000000001AAA"]
    queries = [soql_of(r) for r in scripted.data_requests()]
    assert queries[0].count("'001") == 200 and queries[1].count("'001") == 50
    assert "not-an-id" not in "".join(queries)


@pytest.mark.anyio
async def test_find_quotes_values(scripted: Scripted, make_connector) -> None:
    scripted.token()
    scripted.expect("GET", r"/query\?q=", json_response(200, {"totalSize": 0, "done": True, "records": []}))
    await make_connector().find("Account", "Name", ["O'Brien Ltd"], fields=["Name"])
    assert (
        soql_of(scripted.data_requests()[0]) == r"SELECT Id, Name FROM Account WHERE Name IN ('O\'Brien Ltd')"
    )


@pytest.mark.anyio
async def test_read_deleted_uses_query_all_and_reports_merges(scripted: Scripted, make_connector) -> None:
    scripted.token()
    scripted.expect(
        "GET",
        r"/sobjects/Account/describe$",
        json_response(
            200,
            {
                "name": "Account",
                "fields": [{"name": "Id", "type": "id"}, {"name": "MasterRecordId", "type": "reference"}],
            },
        ),
    )
    scripted.expect(
        "GET",
        r"/queryAll\?q=",
        json_response(
            200,
            {
                "totalSize": 2,
                "done": True,
                "records": [
                    rec(1, IsDeleted=True, MasterRecordId=None),
                    rec(2, IsDeleted=True, MasterRecordId="001000000000009AAA"),
                ],
            },
        ),
    )
    got = await make_connector().read_deleted("Account", Watermark(datetime(2024, 1, 1, tzinfo=UTC)))
    assert [(d.id, d.merged_into) for d in got] == [
        ("001000000000001AAA", None),
        ("001000000000002AAA", "001000000000009AAA"),
    ]
    assert "IsDeleted = true" in soql_of(scripted.data_requests()[1])


# ---- writes ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_upsert_by_external_id_uses_one_collections_call_aligned_with_input(
    scripted: Scripted, make_connector
) -> None:
    scripted.token()
    scripted.expect(
        "PATCH",
        r"/composite/sobjects/Account/NetSuite_Id__c$",
        json_response(
            200,
            [
                {"id": "001000000000001AAA", "success": True, "errors": [], "created": True},
                {
                    "success": False,
                    "errors": [
                        {
                            "statusCode": "REQUIRED_FIELD_MISSING",
                            "message": "Required fields are missing: [Name]",
                            "fields": ["Name"],
                        }
                    ],
                },
                {"id": "001000000000003AAA", "success": True, "errors": [], "created": False},
            ],
        ),
    )
    writes = [
        Write({"Name": "A"}, external_id="1"),
        Write({}, external_id="2"),
        Write({"Name": "C"}, external_id="3"),
    ]
    results = await make_connector().upsert("Account", writes)
    assert [r.index for r in results] == [0, 1, 2]
    assert results[0].created and results[0].id == "001000000000001AAA"
    assert results[1].error is not None and results[1].error.fields == ("Name",)
    assert results[2].ok and not results[2].created
    sent = scripted.data_requests()[0]
    assert sent.headers["Sforce-Call-Options"] == "client=ledgerbridge"
    assert body_of(sent)["records"][1] == {
        "attributes": {"type": "Account"},
        "NetSuite_Id__c": "2",
    }


@pytest.mark.anyio
async def test_mixed_writes_travel_in_one_composite_call(
    scripted: Scripted, make_connector, settings
) -> None:
    scripted.token()

    def composite(request: httpx2.Request) -> httpx2.Response:
        body = body_of(request)
        out = []
        for sub in body["compositeRequest"]:
            n = len(sub["body"]["records"])
            out.append(
                {
                    "referenceId": sub["referenceId"],
                    "httpStatusCode": 200,
                    "httpHeaders": {},
                    "body": [
                        {
                            "id": f"001000000000{i:03d}AAA",
                            "success": True,
                            "errors": [],
                            **(
                                {"created": True}
                                if sub["method"] == "PATCH" and "NetSuite" in sub["url"]
                                else {}
                            ),
                        }
                        for i in range(n)
                    ],
                }
            )
        return json_response(200, {"compositeResponse": out})

    scripted.expect("POST", r"/composite$", composite)
    writes = [
        Write({"Name": "new"}),
        Write({"Name": "upd"}, id="001000000000777AAA"),
        Write({"Name": "ups"}, external_id="9"),
    ]
    results = await make_connector(settings.model_copy(update={"bulk_threshold": 1000})).upsert(
        "Account", writes
    )
    assert all(r.ok for r in results) and [r.index for r in results] == [0, 1, 2]
    assert results[2].created
    body = body_of(scripted.data_requests()[0])
    assert [s["method"] for s in body["compositeRequest"]] == ["POST", "PATCH", "PATCH"]
    assert body["allOrNone"] is False


@pytest.mark.anyio
async def test_1000_creates_fit_one_composite_of_five_collections(
    scripted: Scripted, make_connector, settings
) -> None:
    scripted.token()

    def composite(request: httpx2.Request) -> httpx2.Response:
        subs = body_of(request)["compositeRequest"]
        return json_response(
            200,
            {
                "compositeResponse": [
                    {
                        "referenceId": s["referenceId"],
                        "httpStatusCode": 200,
                        "body": [{"id": "001000000000001AAA", "success": True, "errors": []}]
                        * len(s["body"]["records"]),
                    }
                    for s in subs
                ]
            },
        )

    scripted.expect("POST", r"/composite$", composite, composite)
    conn = make_connector(settings.model_copy(update={"bulk_threshold": 5000}))
    results = await conn.upsert("Account", [Write({"Name": str(i)}) for i in range(1001)])
    assert len(results) == 1001 and all(r.ok for r in results)
    assert len(scripted.data_requests()) == 2  # 5 collections in the first, 1 in the second


@pytest.mark.anyio
async def test_a_failed_subrequest_fails_only_its_records(
    scripted: Scripted, make_connector, settings
) -> None:
    scripted.token()
    scripted.expect(
        "POST",
        r"/composite$",
        json_response(
            200,
            {
                "compositeResponse": [
                    {
                        "referenceId": "c0",
                        "httpStatusCode": 200,
                        "body": [{"id": "001000000000001AAA", "success": True, "errors": []}] * 200,
                    },
                    {
                        "referenceId": "c1",
                        "httpStatusCode": 400,
                        "body": [{"errorCode": "INVALID_FIELD", "message": "No such column 'Bad__c'"}],
                    },
                ]
            },
        ),
    )
    conn = make_connector(settings.model_copy(update={"bulk_threshold": 5000}))
    results = await conn.upsert("Account", [Write({"Name": str(i)}) for i in range(201)])
    assert all(r.ok for r in results[:200])
    assert results[200].error is not None and results[200].error.code == "INVALID_FIELD"


@pytest.mark.anyio
async def test_records_that_hit_unable_to_lock_row_are_resent_alone(
    scripted: Scripted, make_connector
) -> None:
    scripted.token()
    scripted.expect(
        "PATCH",
        r"/composite/sobjects$",
        json_response(
            200,
            [
                {"id": "001000000000001AAA", "success": True, "errors": []},
                {
                    "id": "001000000000002AAA",
                    "success": False,
                    "errors": [
                        {
                            "statusCode": "UNABLE_TO_LOCK_ROW",
                            "message": "unable to obtain exclusive access",
                            "fields": [],
                        }
                    ],
                },
            ],
        ),
        json_response(200, [{"id": "001000000000002AAA", "success": True, "errors": []}]),
    )
    writes = [Write({"Name": "a"}, id="001000000000001AAA"), Write({"Name": "b"}, id="001000000000002AAA")]
    results = await make_connector().upsert("Account", writes)
    assert all(r.ok for r in results)
    resent = body_of(scripted.data_requests()[1])["records"]
    assert [r["Id"] for r in resent] == ["001000000000002AAA"]


@pytest.mark.anyio
async def test_delete_reports_malformed_ids_without_sending_them(scripted: Scripted, make_connector) -> None:
    scripted.token()
    scripted.expect(
        "DELETE",
        r"/composite/sobjects\?ids=001000000000001AAA&allOrNone=false$",
        json_response(
            200,
            [
                {
                    "id": "001000000000001AAA",
                    "success": False,
                    "errors": [
                        {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}
                    ],
                }
            ],
        ),
    )
    results = await make_connector().delete("Account", ["bogus", "001000000000001AAA"])
    assert results[0].error is not None and results[0].error.code == "MALFORMED_ID"
    assert results[1].error is not None and results[1].error.kind is ErrorKind.NOT_FOUND


@pytest.mark.anyio
async def test_bulk_ingest_above_the_threshold_aligns_results(scripted: Scripted, make_connector) -> None:
    clock = FakeClock()
    scripted.token()
    job = "7502f0000007zCgAAI"
    scripted.expect("POST", r"/jobs/ingest$", json_response(200, {"id": job, "state": "Open"}))
    scripted.expect("PUT", rf"/jobs/ingest/{job}/batches$", httpx2.Response(201))
    scripted.expect(
        "PATCH", rf"/jobs/ingest/{job}$", json_response(200, {"id": job, "state": "UploadComplete"})
    )
    scripted.expect(
        "GET",
        rf"/jobs/ingest/{job}$",
        json_response(200, {"id": job, "state": "InProgress"}),
        json_response(
            200, {"id": job, "state": "JobComplete", "numberRecordsProcessed": 6, "numberRecordsFailed": 1}
        ),
    )
    ok_rows = "".join(
        f'"001000000000{i:03d}AAA","{str(i % 2 == 0).lower()}","{i}","N{i}"\n' for i in (5, 4, 3, 1, 0)
    )
    scripted.expect(
        "GET",
        rf"/jobs/ingest/{job}/successfulResults/$",
        httpx2.Response(200, text='"sf__Id","sf__Created","NetSuite_Id__c","Name"\n' + ok_rows),
    )
    scripted.expect(
        "GET",
        rf"/jobs/ingest/{job}/failedResults/$",
        httpx2.Response(
            200,
            text='"sf__Id","sf__Error","NetSuite_Id__c","Name"\n'
            '"","STRING_TOO_LONG:Name: data value too large:Name --","2","N2"\n',
        ),
    )
    writes = [Write({"Name": f"N{i}"}, external_id=str(i)) for i in range(6)]
    results = await make_connector(clock=clock).upsert("Account", writes)
    assert [r.index for r in results] == list(range(6))
    assert [r.ok for r in results] == [True, True, False, True, True, True]
    assert results[2].error is not None and results[2].error.code == "STRING_TOO_LONG"
    assert results[4].created and not results[3].created
    create = body_of(scripted.data_requests()[0])
    assert create == {
        "object": "Account",
        "operation": "upsert",
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
        "externalIdFieldName": "NetSuite_Id__c",
    }
    upload = scripted.data_requests()[1]
    assert upload.headers["Content-Type"] == "text/csv"
    assert upload.content.decode().splitlines()[0] == '"NetSuite_Id__c","Name"'
    assert clock.slept == [1.0, 2.0]  # first poll after the interval, then doubling without progress


# ---- failures, retries, auth, budget -----------------------------------------------------


@pytest.mark.anyio
async def test_expired_session_reauthenticates_exactly_once(scripted: Scripted, make_connector) -> None:
    scripted.expect(
        "POST",
        r"/services/oauth2/token$",
        *[
            json_response(
                200,
                {"access_token": f"00D000000000001!token-number-{n}-abcdefghijkl", "instance_url": INSTANCE},
            )
            for n in (1, 2)
        ],
    )
    expired = json_response(
        401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    )
    scripted.expect(
        "GET", r"/query\?q=", expired, json_response(200, {"totalSize": 0, "done": True, "records": []})
    )
    conn = make_connector()
    _ = [p async for p in conn.read_changes("Account", None, fields=["Name"])]
    auths = [r.headers["Authorization"] for r in scripted.data_requests()]
    assert "token-number-1" in auths[0] and "token-number-2" in auths[1]


@pytest.mark.anyio
async def test_a_second_401_after_reauth_raises_auth_error(scripted: Scripted, make_connector) -> None:
    scripted.expect(
        "POST",
        r"/services/oauth2/token$",
        *[
            json_response(
                200, {"access_token": "00D000000000001!some-token-abcdefghijklmnop", "instance_url": INSTANCE}
            )
        ]
        * 2,
    )
    expired = json_response(
        401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    )
    scripted.expect("GET", r"/query\?q=", expired, expired)
    with pytest.raises(AuthError) as info:
        _ = [p async for p in make_connector().read_changes("Account", None, fields=["Name"])]
    assert info.value.code == "INVALID_SESSION_ID"
    assert "some-token" not in str(info.value)


@pytest.mark.anyio
async def test_5xx_and_connection_resets_are_retried(scripted: Scripted, make_connector) -> None:
    scripted.token()

    def reset(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadError("connection reset", request=request)

    scripted.expect(
        "GET",
        r"/query\?q=",
        httpx2.Response(503, text="Service Unavailable"),
        json_response(500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}]),
        reset,
        json_response(200, {"totalSize": 0, "done": True, "records": []}),
    )
    conn = make_connector()
    pages = [p async for p in conn.read_changes("Account", None, fields=["Name"])]
    assert pages[0].records == []
    sample = conn.metrics.registry.get_sample_value
    assert (
        sample(
            "ledgerbridge_http_retries_total",
            {"system": "salesforce", "operation": "read_changes", "kind": "transient"},
        )
        == 3
    )
    assert (
        sample(
            "ledgerbridge_http_calls_total",
            {"system": "salesforce", "operation": "read_changes", "outcome": "ok"},
        )
        == 1
    )


@pytest.mark.anyio
async def test_concurrent_request_limit_is_handed_back_without_burning_calls(
    scripted: Scripted, make_connector
) -> None:
    scripted.token()
    scripted.expect(
        "GET",
        r"/query\?q=",
        json_response(
            403,
            [
                {
                    "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                    "errorCode": "REQUEST_LIMIT_EXCEEDED",
                }
            ],
            {"Retry-After": "4"},
        ),
    )
    with pytest.raises(ConcurrencyLimited) as info:
        _ = [p async for p in make_connector().read_changes("Account", None, fields=["Name"])]
    assert info.value.retry_after_s == 4.0
    assert len(scripted.data_requests()) == 1


@pytest.mark.anyio
async def test_limit_header_feeds_the_budget_and_the_reserve_stops_background_reads(
    scripted: Scripted, make_connector
) -> None:
    scripted.token()
    scripted.expect(
        "GET",
        r"/query\?q=",
        json_response(
            200,
            {"totalSize": 0, "done": True, "records": []},
            {"Sforce-Limit-Info": "api-usage=85000/100000"},
        ),
    )
    scripted.expect(
        "PATCH",
        r"/composite/sobjects/Account/NetSuite_Id__c$",
        json_response(
            200,
            [{"id": "001000000000001AAA", "success": True, "errors": [], "created": True}],
            {"Sforce-Limit-Info": "api-usage=85001/100000"},
        ),
    )
    conn = make_connector()
    _ = [p async for p in conn.read_changes("Account", None, fields=["Name"], priority=Priority.ORDER)]
    budget = await conn.budget()
    assert (budget.calls_used, budget.calls_limit) == (85000, 100000)
    with pytest.raises(QuotaExhausted, match="reserve"):
        _ = [p async for p in conn.read_changes("Account", None, fields=["Name"], priority=Priority.BACKFILL)]
    results = await conn.upsert("Account", [Write({"Name": "A"}, external_id="1")], priority=Priority.ORDER)
    assert results[0].ok
    assert (await conn.budget()).calls_used == 85001
    assert (
        conn.metrics.registry.get_sample_value(
            "ledgerbridge_api_usage", {"system": "salesforce", "bound": "used"}
        )
        == 85001
    )


@pytest.mark.anyio
async def test_daily_limit_exhaustion_stops_every_later_call(scripted: Scripted, make_connector) -> None:
    scripted.token()
    scripted.expect(
        "GET",
        r"/query\?q=",
        json_response(
            403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        ),
    )
    conn = make_connector()
    with pytest.raises(QuotaExhausted):
        _ = [p async for p in conn.read_changes("Account", None, fields=["Name"], priority=Priority.ORDER)]
    with pytest.raises(QuotaExhausted):
        await conn.upsert("Account", [Write({"Name": "A"}, external_id="1")], priority=Priority.INTERACTIVE)
    assert len(scripted.data_requests()) == 1


@pytest.mark.anyio
async def test_secrets_never_reach_log_events(scripted: Scripted, make_connector) -> None:
    from structlog.testing import capture_logs

    scripted.token()
    scripted.expect(
        "GET",
        r"/query\?q=",
        json_response(400, [{"errorCode": "MALFORMED_QUERY", "message": "unexpected token csecret-value"}]),
    )
    with capture_logs() as events, pytest.raises(RequestRejected):
        _ = [p async for p in make_connector().read_changes("Account", None, fields=["Name"])]
    text = repr(events)
    assert events and "csecret-value" not in text and "AQ4AQFirstTokenValue" not in text


@pytest.mark.anyio
async def test_capabilities_and_system(make_connector) -> None:
    conn = make_connector()
    assert conn.system == "salesforce"
    assert conn.capabilities.max_write_batch == 10_000 and conn.capabilities.upsert_by_external_id
    await conn.aclose()


@pytest.mark.anyio
async def test_large_request_bodies_are_gzipped(scripted: Scripted, make_connector, settings) -> None:
    import gzip

    scripted.token()

    def composite(request: httpx2.Request) -> httpx2.Response:
        assert request.headers["Content-Encoding"] == "gzip"
        subs = json.loads(gzip.decompress(request.content))["compositeRequest"]
        return json_response(
            200,
            {
                "compositeResponse": [
                    {
                        "referenceId": s["referenceId"],
                        "httpStatusCode": 200,
                        "body": [{"id": "001000000000001AAA", "success": True, "errors": []}]
                        * len(s["body"]["records"]),
                    }
                    for s in subs
                ]
            },
        )

    scripted.expect("POST", r"/composite$", composite)
    conn = make_connector(settings.model_copy(update={"bulk_threshold": 5000}))
    results = await conn.upsert("Account", [Write({"Name": f"Account number {i}"}) for i in range(1000)])
    assert all(r.ok for r in results)

"""SalesforceConnector against the Salesforce sandbox, in process.

Where the sandbox cannot produce a case (the concurrent-request limit, a 401 that survives
re-authentication) the unit tests cover it over a scripted transport.
"""

from __future__ import annotations

import pytest
from sf_contract_support import AUTH_MODES, YieldingClock, configure, request_counts

from ledgerbridge.core.errors import ErrorKind, NotFound, QuotaExhausted, ServerError
from ledgerbridge.core.records import Priority, Write

pytestmark = pytest.mark.anyio


def accounts(n: int, start: int = 0) -> list[Write]:
    return [
        Write({"Name": f"Account {i}", "Phone": f"+1 512 555 {i:04d}"}, external_id=f"NS-{i}")
        for i in range(start, start + n)
    ]


@pytest.mark.parametrize("mode", AUTH_MODES)
async def test_every_auth_mode_gets_a_token_and_reads(connect, mode: str) -> None:
    conn = connect(mode)
    schema = await conn.describe("Account")
    assert schema.fields["NetSuite_Id__c"].is_external_id
    results = await conn.upsert("Account", accounts(2))
    assert all(r.ok and r.created for r in results)
    found = await conn.find("Account", "NetSuite_Id__c", ["NS-0", "NS-1"], fields=["Name"])
    assert sorted(r.fields["Name"] for r in found) == ["Account 0", "Account 1"]  # type: ignore[type-var]
    assert conn.auth.n_token_requests == 1


async def test_wrong_credentials_are_an_auth_error(connect) -> None:
    from ledgerbridge.core.errors import AuthError

    conn = connect("password", password="wrong")
    with pytest.raises(AuthError) as info:
        await conn.describe("Account")
    assert info.value.code == "invalid_grant"
    assert "wrong" not in str(info.value)


async def test_read_changes_pages_to_the_end_with_monotonic_watermarks(connect) -> None:
    conn = connect(query_batch_size=200)
    await conn.upsert("Account", accounts(450))
    pages = [p async for p in conn.read_changes("Account", None, fields=["Name", "NetSuite_Id__c"])]
    assert [len(p.records) for p in pages] == [200, 200, 50]
    assert [p.has_more for p in pages] == [True, True, False]
    ids = [r.id for p in pages for r in p.records]
    assert len(set(ids)) == 450
    marks = [p.watermark for p in pages]
    assert all(m is not None for m in marks) and marks == sorted(marks)  # type: ignore[type-var]
    rec = pages[0].records[0]
    assert "attributes" not in rec.fields and rec.modified_at is not None
    assert rec.fields["SystemModstamp"] is not None


async def test_read_changes_from_a_watermark_returns_later_changes(connect) -> None:
    conn = connect()
    await conn.upsert("Account", accounts(3))
    first = [p async for p in conn.read_changes("Account", None, fields=["Name"])]
    mark = first[-1].watermark
    await conn.upsert("Account", [Write({"Name": "Renamed"}, external_id="NS-1")])
    again = [
        r for p in [p async for p in conn.read_changes("Account", mark, fields=["Name"])] for r in p.records
    ]
    assert "Renamed" in {r.fields["Name"] for r in again}
    assert all(r.modified_at is not None and mark is not None and r.modified_at >= mark.at for r in again)


async def test_writes_of_every_kind_are_aligned_and_bad_rows_are_values(connect) -> None:
    conn = connect()
    created = await conn.upsert("Account", [Write({"Name": "Keep"}), Write({"Name": "Old name"})])
    assert all(r.ok and r.created and r.id for r in created)
    writes = [
        Write({"Name": "New by key"}, external_id="NS-100"),
        Write({"Phone": "1"}),  # create without the required Name
        Write({"Name": "Updated"}, id=created[1].id),
        Write({"Name": "x" * 300}, external_id="NS-101"),  # longer than Name allows
        Write({"Name": "Created"}),
        Write({"Name": "Ghost"}, id="001000000000000AAA"),  # no such record
    ]
    results = await conn.upsert("Account", writes)
    assert [r.index for r in results] == list(range(6))
    assert [r.ok for r in results] == [True, False, True, False, True, False]
    codes = {i: r.error.code for i, r in enumerate(results) if r.error}
    assert codes[1] == "REQUIRED_FIELD_MISSING" and codes[3] == "STRING_TOO_LONG"
    assert all(results[i].error.kind is ErrorKind.RECORD for i in (1, 3))  # type: ignore[union-attr]
    assert results[0].created and not results[2].created
    fetched = {r.id: r for r in await conn.read_by_ids("Account", [created[1].id or ""], fields=["Name"])}
    assert fetched[created[1].id or ""].fields["Name"] == "Updated"


async def test_duplicate_external_ids_are_record_errors(connect) -> None:
    conn = connect()
    results = await conn.upsert(
        "Account",
        [Write({"Name": "A", "NetSuite_Id__c": "DUP"}), Write({"Name": "B", "NetSuite_Id__c": "DUP"})],
    )
    assert results[0].ok
    assert results[1].error is not None and results[1].error.code == "DUPLICATE_VALUE"


async def test_a_thousand_writes_cost_one_composite_call(connect, admin) -> None:
    conn = connect()
    await admin.delete("/__sandbox__/requests")
    results = await conn.upsert("Account", accounts(1000))
    assert len(results) == 1000 and all(r.ok for r in results)
    counts = await request_counts(admin)
    data_calls = {k: v for k, v in counts.items() if k[1].startswith("/services/data")}
    assert sum(data_calls.values()) == 1, data_calls


async def test_delete_and_read_deleted(connect) -> None:
    conn = connect()
    created = await conn.upsert("Account", accounts(3))
    ids = [r.id or "" for r in created]
    results = await conn.delete("Account", [ids[0], ids[1], "001000000000000AAA"])
    assert [r.ok for r in results] == [True, True, False]
    deleted = await conn.read_deleted("Account", None)
    assert {d.id for d in deleted} == {ids[0], ids[1]}
    assert {r.id for r in await conn.read_by_ids("Account", ids)} == {ids[2]}


async def test_describe_of_an_unknown_object_is_not_found(connect) -> None:
    with pytest.raises(NotFound):
        await connect().describe("Nope__c")


async def test_find_escapes_quotes(connect) -> None:
    conn = connect()
    await conn.upsert("Account", [Write({"Name": "O'Brien & Sons \\ Co"}, external_id="Q")])
    found = await conn.find("Account", "Name", ["O'Brien & Sons \\ Co"], fields=["Name"])
    assert [r.fields["Name"] for r in found] == ["O'Brien & Sons \\ Co"]


async def test_expired_sessions_are_refreshed_once(connect, admin) -> None:
    conn = connect("jwt")
    await conn.upsert("Account", accounts(1))
    assert (await admin.post("/__sandbox__/sessions/expire")).status_code == 200
    found = await conn.find("Account", "NetSuite_Id__c", ["NS-0"])
    assert len(found) == 1
    assert conn.auth.n_token_requests == 2


async def test_token_lifetime_expiry_is_refreshed(connect, admin) -> None:
    conn = connect("password")
    await conn.describe("Account")
    await configure(admin, token_lifetime_s=60)
    await admin.post("/__sandbox__/clock", json={"advance_s": 3600})
    assert await conn.read_by_ids("Account", ["001000000000000AAA"]) == []
    assert conn.auth.n_token_requests == 2


async def test_injected_503s_are_retried(connect, admin) -> None:
    conn = connect()
    await conn.upsert("Account", accounts(5))
    await configure(admin, server_error_rate=0.3, seed=7)
    for _ in range(5):
        pages = [p async for p in conn.read_changes("Account", None, fields=["Name"])]
        assert len(pages[0].records) == 5
    retried = conn.metrics.registry.get_sample_value(
        "ledgerbridge_http_retries_total",
        {"system": "salesforce", "operation": "read_changes", "kind": "transient"},
    )
    assert retried is not None and retried >= 1


async def test_persistent_503s_give_up_after_max_attempts(connect, admin) -> None:
    conn = connect()
    await conn.describe("Account")
    await admin.delete("/__sandbox__/requests")
    await configure(admin, server_error_rate=1.0)
    with pytest.raises(ServerError):
        await conn.find("Account", "Name", ["x"], fields=["Name"])
    counts = await request_counts(admin)
    assert sum(v for k, v in counts.items() if k[2] == 503) == conn.retry.max_attempts


async def test_unable_to_lock_row_records_are_resent(connect, admin) -> None:
    conn = connect()
    await configure(admin, lock_row_rate=0.3, seed=3)
    results = await conn.upsert("Account", accounts(40))
    assert all(r.ok for r in results), [r.error for r in results if r.error][:3]
    await configure(admin, lock_row_rate=0.0)
    assert len(await conn.find("Account", "NetSuite_Id__c", [f"NS-{i}" for i in range(40)])) == 40


async def test_writes_carry_the_client_id_into_change_origin(connect, admin) -> None:
    conn = connect()
    await conn.upsert("Account", accounts(1))
    events = (await admin.get("/__sandbox__/changes", params={"entity": "Account"})).json()["events"]
    origins = [str(e) for e in events]
    assert any("client=ledgerbridge" in o for o in origins)


async def test_limit_info_feeds_the_budget_and_the_reserve_holds_back_background_work(connect, admin) -> None:
    conn = connect(reserve_fraction=0.2)
    await configure(admin, api_allocation=1000)
    await admin.post("/__sandbox__/api-usage", json={"used": 500})
    await conn.describe("Account")
    budget = await conn.budget()
    assert budget.calls_limit == 1000 and budget.calls_used is not None and 500 < budget.calls_used < 510
    await admin.post("/__sandbox__/api-usage", json={"used": 850})
    await conn.upsert("Account", accounts(1), priority=Priority.ORDER)  # refreshes the header
    await admin.delete("/__sandbox__/requests")
    with pytest.raises(QuotaExhausted, match="reserve"):
        _ = [p async for p in conn.read_changes("Account", None, fields=["Name"], priority=Priority.BACKFILL)]
    assert (await request_counts(admin)) == {}, "a held-back call must not reach Salesforce"
    results = await conn.upsert("Account", accounts(1, start=1), priority=Priority.ORDER)
    assert results[0].ok


async def test_a_spent_allocation_is_quota_exhausted(connect, admin) -> None:
    conn = connect()
    await conn.describe("Account")
    await configure(admin, api_allocation=100)
    await admin.post("/__sandbox__/api-usage", json={"used": 100})
    with pytest.raises(QuotaExhausted):
        await conn.find("Account", "Name", ["x"], fields=["Name"], priority=Priority.INTERACTIVE)
    await admin.delete("/__sandbox__/requests")
    with pytest.raises(QuotaExhausted):
        await conn.find("Account", "Name", ["x"], fields=["Name"], priority=Priority.INTERACTIVE)
    assert (await request_counts(admin)) == {}


async def test_bulk_ingest_above_the_threshold_aligns_results(connect, admin) -> None:
    clock = YieldingClock()
    conn = connect(bulk_threshold=10, clock=clock)
    writes = accounts(30)
    writes[4] = Write({"Name": "y" * 300}, external_id="NS-4")
    writes[17] = Write({"Name": "z" * 300}, external_id="NS-17")
    await admin.delete("/__sandbox__/requests")
    results = await conn.upsert("Account", writes)
    assert [r.index for r in results] == list(range(30))
    assert [i for i, r in enumerate(results) if not r.ok] == [4, 17]
    assert results[4].error is not None and results[4].error.code == "STRING_TOO_LONG"
    assert all(r.created for i, r in enumerate(results) if i not in (4, 17))
    found = await conn.find("Account", "NetSuite_Id__c", ["NS-3", "NS-18"], fields=["Name"])
    by_id = {r.id: r.fields["Name"] for r in found}
    assert by_id == {results[3].id: "Account 3", results[18].id: "Account 18"}
    counts = await request_counts(admin)
    ingest = {
        (m, r.rsplit("/jobs/ingest", 1)[1]): c for (m, r, _), c in counts.items() if "/jobs/ingest" in r
    }
    # create, upload, close, poll(s), successfulResults + failedResults (no unprocessed rows)
    assert ingest[("POST", "")] == 1 and ingest[("PUT", "/{job_id}/batches")] == 1
    assert ingest[("PATCH", "/{job_id}")] == 1 and ingest[("GET", "/{job_id}/{kind}")] == 2
    assert ingest[("GET", "/{job_id}")] >= 1
    # the same keys again update, except NS-4, which failed the first time and is created now
    again = await conn.upsert("Account", accounts(12))
    assert all(r.ok for r in again)
    assert [i for i, r in enumerate(again) if r.created] == [4]


async def test_bulk_query_pages_with_the_locator(connect) -> None:
    conn = connect(bulk_threshold=5)
    await conn.upsert("Account", accounts(25))
    pages = [page async for page in conn.bulk.query("SELECT Id, Name FROM Account", max_records=10)]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert {row["Name"] for p in pages for row in p} == {f"Account {i}" for i in range(25)}


async def test_read_by_ids_skips_unknown_and_malformed_ids(connect) -> None:
    conn = connect()
    created = await conn.upsert("Account", accounts(2))
    got = await conn.read_by_ids(
        "Account", [created[0].id or "", "001000000000000AAA", "junk"], fields=["Name"]
    )
    assert [r.id for r in got] == [created[0].id]


async def test_a_bulk_job_refused_as_a_whole_fails_every_row_as_a_value(connect) -> None:
    conn = connect(bulk_threshold=2)
    writes = [Write({"Name": f"A{i}", "Bogus__c": "x"}, external_id=f"B-{i}") for i in range(3)]
    results = await conn.upsert("Account", writes)
    assert [r.index for r in results] == [0, 1, 2]
    assert all(r.error is not None and r.error.kind is ErrorKind.CONFIG for r in results)
    assert results[0].error is not None and "Bogus__c" in results[0].error.message

"""NetSuiteConnector against the NetSuite sandbox, in process (ASGI transport).

Concurrency behaviour lives in ``test_netsuite_concurrency.py`` (over loopback sockets).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from netsuite_sandbox_kit import Rig, VirtualClock, customer, in_process

from ledgerbridge.connectors.netsuite.auth import ClientCredentialsAuth
from ledgerbridge.core.errors import ErrorKind
from ledgerbridge.core.records import Priority, Watermark, Write
from ledgerbridge_sandbox.netsuite.clock import ManualClock
from ledgerbridge_sandbox.netsuite.config import NetSuiteSandboxConfig

pytestmark = pytest.mark.anyio


async def seed(rig: Rig, n: int, start: int = 0) -> list[str]:
    writes = [Write(customer(i), external_id=f"ct-{i}") for i in range(start, start + n)]
    results = await rig.connector.upsert("customer", writes, key_field="externalId")
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:2]
    return [r.id for r in results if r.id]


@pytest.mark.parametrize("mode", ["tba", "oauth2_m2m"])
async def test_both_auth_modes_read_and_write(mode: str, tmp_path: Path, clock: VirtualClock) -> None:
    rig = in_process(NetSuiteSandboxConfig(key_dir=tmp_path), mode=mode, clock=clock)
    try:
        ids = await seed(rig, 2)
        records = await rig.connector.read_by_ids("customer", ids)
        assert [r.fields["companyName"] for r in records] == ["Contract Customer 0", "Contract Customer 1"]
        assert (await rig.log())["rejected"] == 0
    finally:
        await rig.aclose()


async def test_expired_bearer_token_is_renewed_once_and_the_call_succeeds(
    tmp_path: Path, clock: VirtualClock
) -> None:
    sandbox_clock = ManualClock(datetime.now(UTC))
    rig = in_process(
        NetSuiteSandboxConfig(key_dir=tmp_path, clock=sandbox_clock), mode="oauth2_m2m", clock=clock
    )
    try:
        ids = await seed(rig, 1)
        auth = rig.connector.client.auth
        assert isinstance(auth, ClientCredentialsAuth)
        assert auth.n_tokens_fetched == 1
        # The token expires on NetSuite's side while our cache still thinks it is good.
        # 3600 s on the sandbox (token expired there); 3400 s here (inside our cache's validity,
        # and the next assertion's exp = iat + 300 s is still ahead of the sandbox clock).
        sandbox_clock.advance(3600)
        clock.skipped += 3400
        records = await rig.connector.read_by_ids("customer", ids)
        assert [r.id for r in records] == ids
        assert auth.n_tokens_fetched == 2
    finally:
        await rig.aclose()


async def test_read_changes_pages_to_the_end_and_resumes_from_the_watermark(clock: VirtualClock) -> None:
    rig = in_process(clock=clock, page_size=5)
    try:
        ids = await seed(rig, 23)
        pages = [p async for p in rig.connector.read_changes("customer", None)]
        assert len(pages) == 5
        assert [p.has_more for p in pages] == [True] * 4 + [False]
        seen = [r.id for p in pages for r in p.records]
        assert set(ids) <= set(seen) and len(seen) == len(set(seen))
        stamps = [r.modified_at for p in pages for r in p.records]
        assert all(s is not None for s in stamps) and stamps == sorted(stamps)  # type: ignore[type-var]
        marks = [p.watermark for p in pages]
        assert all(m is not None for m in marks) and marks == sorted(marks)  # type: ignore[type-var]
        last = pages[-1].watermark
        more = await seed(rig, 2, start=100)
        again = [
            r.id for p in [p async for p in rig.connector.read_changes("customer", last)] for r in p.records
        ]
        assert set(more) <= set(again)
        assert not set(again) & (set(seen) - {pages[-1].records[-1].id})  # only the overlap row, if any
    finally:
        await rig.aclose()


async def test_keyset_paging_past_the_offset_cap_reaches_every_row(clock: VirtualClock) -> None:
    rig = in_process(NetSuiteSandboxConfig(suiteql_max_rows=10), clock=clock, page_size=5, max_offset_rows=10)
    try:
        ids = await seed(rig, 27)
        seen = [
            r.id for p in [p async for p in rig.connector.read_changes("customer", None)] for r in p.records
        ]
        assert set(ids) <= set(seen)
        assert len(seen) == len(set(seen))
    finally:
        await rig.aclose()


async def test_single_call_upserts_align_and_report_bad_records_as_values(clock: VirtualClock) -> None:
    rig = in_process(clock=clock)
    try:
        writes = [
            Write(customer(1), external_id="al-1"),
            Write({"companyName": "No subsidiary"}, external_id="al-2"),
            Write(customer(3)),
            Write(customer(4), id="999999"),
        ]
        results = await rig.connector.upsert("customer", writes, key_field="externalId")
        assert [r.index for r in results] == [0, 1, 2, 3]
        assert [r.ok for r in results] == [True, False, True, False]
        assert results[1].error is not None and results[1].error.code == "USER_ERROR"
        assert not results[1].error.kind.is_retryable
        assert results[2].created and results[2].id
        assert results[3].error is not None and results[3].error.kind is ErrorKind.NOT_FOUND
        # the upsert is idempotent: the same external id again updates the same record
        again = await rig.connector.upsert(
            "customer", [Write(customer(1, email="x@y.example"), external_id="al-1")]
        )
        assert again[0].ok and again[0].id == results[0].id
    finally:
        await rig.aclose()


async def test_batch_jobs_align_results_and_report_bad_records_as_values(clock: VirtualClock) -> None:
    rig = in_process(clock=clock, batch_threshold=3)
    try:
        writes = [Write(customer(i), external_id=f"bj-{i}") for i in range(130)]
        writes[7] = Write({"companyName": "No subsidiary"}, external_id="bj-bad-7")
        writes[120] = Write({"companyName": "No subsidiary either"}, external_id="bj-bad-120")
        results = await rig.connector.upsert(
            "customer", writes, key_field="externalId", priority=Priority.BACKFILL
        )
        assert [r.index for r in results] == list(range(130))
        assert [r.index for r in results if not r.ok] == [7, 120]
        assert results[7].error is not None and results[7].error.code
        ok_ids = [r.id for r in results if r.ok]
        assert len(set(ok_ids)) == 128 and all(ok_ids)
        by_eid = await rig.connector.find("customer", "externalId", ["bj-5", "bj-129"])
        assert {r.id for r in by_eid} == {results[5].id, results[129].id}
        counts = {(c["method"], c["route"]) for c in (await rig.log())["counts"]}
        assert ("PUT", "/services/rest/record/v1/{rtype}") in counts  # went as batch jobs
    finally:
        await rig.aclose()


async def test_server_errors_and_record_changed_are_retried_until_they_succeed(clock: VirtualClock) -> None:
    rig = in_process(NetSuiteSandboxConfig(rng_seed=7), clock=clock, max_attempts=8)
    try:
        await rig.configure(record_changed_rate=0.3, error_rate=0.2)
        writes = [Write(customer(i), external_id=f"rt-{i}") for i in range(20)]
        results = await rig.connector.upsert("customer", writes, key_field="externalId")
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:2]
        records = await rig.connector.read_by_ids("customer", [r.id for r in results if r.id])
        assert len(records) == 20
        statuses = {c["status"] for c in (await rig.log())["counts"]}
        assert {400, 500} <= statuses  # the faults really happened
    finally:
        await rig.aclose()


async def test_find_delete_and_read_deleted(clock: VirtualClock) -> None:
    rig = in_process(clock=clock)
    try:
        ids = await seed(rig, 3)
        found = await rig.connector.find("customer", "companyName", ["Contract Customer 1", "nobody"])
        assert [r.id for r in found] == [ids[1]]
        before = Watermark(clock.now() - timedelta(minutes=5))
        results = await rig.connector.delete("customer", [ids[0], "999999"])
        assert results[0].ok and results[1].error is not None and results[1].error.kind is ErrorKind.NOT_FOUND
        deleted = await rig.connector.read_deleted("customer", before)
        assert [d.id for d in deleted] == [ids[0]]
        assert await rig.connector.read_by_ids("customer", [ids[0]]) == []
    finally:
        await rig.aclose()


async def test_describe_reads_the_metadata_catalog(clock: VirtualClock) -> None:
    rig = in_process(clock=clock)
    try:
        schema = await rig.connector.describe("customer")
        assert schema.field("companyName") is not None
        assert schema.field("externalId") is not None and schema.fields["externalId"].is_external_id
        assert "links" not in schema.fields
    finally:
        await rig.aclose()


async def test_governance_limits_cap_the_share_at_start(clock: VirtualClock) -> None:
    rig = in_process(
        NetSuiteSandboxConfig(integration_concurrency_limit=2),
        clock=clock,
        share=5,
        read_governance_limits=True,
    )
    try:
        await seed(rig, 1)
        budget = await rig.connector.budget()
        assert budget.concurrency_limit == 2 and rig.governor.ceiling == 2
        assert budget.extra["account_limit"] == 5
    finally:
        await rig.aclose()


async def test_batch_jobs_mix_updates_creates_and_missing_ids(clock: VirtualClock) -> None:
    rig = in_process(clock=clock, batch_threshold=2)
    try:
        ids = await seed(rig, 3)
        writes = [Write({"email": f"u{i}@x.example"}, id=ids[i]) for i in range(3)]
        writes += [Write(customer(10 + i)) for i in range(2)] + [Write({"email": "x@y.example"}, id="999999")]
        results = await rig.connector.upsert("customer", writes)
        assert [r.index for r in results] == list(range(6))
        assert [r.ok for r in results] == [True] * 5 + [False]
        assert [r.id for r in results[:3]] == ids and all(r.created for r in results[3:5])
        assert results[5].error is not None and results[5].error.kind is ErrorKind.NOT_FOUND
        emails = [r.fields.get("email") for r in await rig.connector.read_by_ids("customer", ids)]
        assert emails == ["u0@x.example", "u1@x.example", "u2@x.example"]
    finally:
        await rig.aclose()


async def test_the_q_filter_lookup_agrees_with_the_suiteql_lookup(clock: VirtualClock) -> None:
    rig = in_process(clock=clock)
    try:
        results = await rig.connector.upsert(
            "customer",
            [Write(customer(i, email=f"q{i}@x.example"), external_id=f"q-{i}") for i in range(4)],
        )
        wanted = ["q1@x.example", "q3@x.example"]
        by_filter = await rig.connector._find_by_filter("customer", "email", wanted, Priority.INTERACTIVE)
        by_suiteql = [r.id for r in await rig.connector.find("customer", "email", wanted)]
        assert sorted(by_filter) == sorted(by_suiteql) == sorted([results[1].id, results[3].id])
    finally:
        await rig.aclose()


@pytest.mark.parametrize("batch_threshold", [200, 1], ids=["single-calls", "batch-jobs"])
async def test_an_update_writes_a_sublist_whole_instead_of_appending_to_it(
        clock: VirtualClock, batch_threshold: int) -> None:
    """A mapped sublist is the whole list: updates send ``?replace=`` (reference §3.4), so re-syncing
    an address book (by id or by external id, one call or a batch job) leaves exactly the lines sent."""
    rig = in_process(clock=clock, batch_threshold=batch_threshold)

    def book(*cities: str) -> dict[str, object]:
        return {"items": [{"label": c, "addressBookAddress": {"addr1": "1 Main St", "city": c,
                                                              "country": "US"}} for c in cities]}

    async def cities(rid: str) -> list[str]:
        [rec] = await rig.connector.read_by_ids("customer", [rid])
        lines = rec.fields["addressBook"]
        assert isinstance(lines, dict) and isinstance(lines["items"], list)
        return sorted(str(ln["addressBookAddress"]["city"]) for ln in lines["items"])  # type: ignore[index]

    async def write(fields: dict[str, object], **key: str) -> None:
        other = Write(customer(8), external_id="sub-8")  # two writes, so a threshold of 1 batches them
        results = await rig.connector.upsert("customer", [Write(fields, **key), other],  # type: ignore[arg-type]
                                             key_field="externalId")
        assert all(r.ok for r in results), [r.error for r in results]

    try:
        [made] = await rig.connector.upsert("customer", [Write({**customer(7), "addressBook": book("Austin")},
                                                               external_id="sub-7")], key_field="externalId")
        assert made.ok and made.id
        assert await cities(made.id) == ["Austin"]
        await write({"addressBook": book("Boston", "Chicago")}, id=made.id)
        assert await cities(made.id) == ["Boston", "Chicago"]
        await write({"addressBook": book("Denver")}, external_id="sub-7")
        assert await cities(made.id) == ["Denver"]
        # a body without sublists sends no replace (other lines are not touched)
        await write({"phone": "+1 512 555 0100"}, id=made.id)
        assert await cities(made.id) == ["Denver"]
    finally:
        await rig.aclose()

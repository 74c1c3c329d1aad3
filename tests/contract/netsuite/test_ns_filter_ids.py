"""``filter_ids``: which of the given records exist and satisfy a SuiteQL condition (a link's scope),
by one SuiteQL query per batch of ids, the ids bound as parameters."""

from __future__ import annotations

from typing import Any

import pytest
from netsuite_sandbox_kit import VirtualClock, customer, in_process

from ledgerbridge.core.records import Write

pytestmark = pytest.mark.anyio


def suiteql_calls(log: dict[str, Any]) -> int:
    return sum(int(r["count"]) for r in log["counts"] if str(r["route"]).endswith("/suiteql"))


async def test_filter_ids_keeps_the_records_in_scope_in_one_query(clock: VirtualClock) -> None:
    rig = in_process(clock=clock)
    try:
        writes = [Write(customer(i, isInactive=i % 2 == 1), external_id=f"fi-{i}") for i in range(5)]
        results = await rig.connector.upsert("customer", writes, key_field="externalId")
        assert all(r.ok for r in results), [r.error for r in results]
        ids = [str(r.id) for r in results]
        assert (await rig.connector.delete("customer", [ids[2]]))[0].ok
        before = suiteql_calls(await rig.log())
        kept = await rig.connector.filter_ids("customer", [*ids, "999999"], "isinactive = 'F'")
        assert sorted(kept, key=int) == [ids[0], ids[4]]
        assert suiteql_calls(await rig.log()) - before == 1
        named = await rig.connector.filter_ids("customer", ids, "companyname = 'Contract Customer 3'")
        assert named == [ids[3]]
        assert await rig.connector.filter_ids("customer", [], "isinactive = 'F'") == []
    finally:
        await rig.aclose()

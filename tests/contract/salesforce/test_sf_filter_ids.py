"""``filter_ids``: which of the given records exist and satisfy a SOQL condition (a link's scope),
answered by one query per batch of ids."""

from __future__ import annotations

import pytest
from sf_contract_support import request_counts

from ledgerbridge.core.records import Write

pytestmark = pytest.mark.anyio


async def test_filter_ids_keeps_the_records_in_scope_in_one_query(connect, admin) -> None:
    conn = connect()
    results = await conn.upsert("Lead", [
        Write({"LastName": f"Lead {i}", "Company": f"Co {i}", "Status": "Open - Not Contacted",
               "Rating": "Hot" if i % 2 == 0 else "Cold"}) for i in range(6)])
    assert all(r.ok for r in results), [r.error for r in results]
    ids = [str(r.id) for r in results]
    before = sum(n for (_, route, _), n in (await request_counts(admin)).items() if "query" in route)
    deleted = await conn.delete("Lead", [ids[4]])
    assert deleted[0].ok
    kept = await conn.filter_ids("Lead", [*ids, "not-an-id"], "Rating = 'Hot'")
    assert sorted(kept) == sorted([ids[0], ids[2]])
    after = sum(n for (_, route, _), n in (await request_counts(admin)).items() if "query" in route)
    assert after - before == 1
    assert await conn.filter_ids("Lead", ids, "Id = null") == []
    assert await conn.filter_ids("Lead", [], "Rating = 'Hot'") == []

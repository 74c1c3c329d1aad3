"""Child relationship reads (``(SELECT ... FROM OpportunityLineItems)``) against the Salesforce sandbox."""

from __future__ import annotations

import pytest

from ledgerbridge.core.errors import ConfigError
from ledgerbridge.core.records import Write

pytestmark = pytest.mark.anyio

LINES = "(SELECT Id, Product2Id, Quantity, UnitPrice, Discount, Description FROM OpportunityLineItems)"


async def _opportunity_with_lines(conn, lines: list[tuple[float, float, float | None]]) -> tuple[str, str]:
    [acct] = await conn.upsert("Account", [Write({"Name": "Acme"})])
    [prod] = await conn.upsert("Product2", [Write({"Name": "Widget", "IsActive": True})])
    [book] = await conn.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    [entry] = await conn.upsert("PricebookEntry", [Write({
        "Pricebook2Id": book.id, "Product2Id": prod.id, "UnitPrice": 10, "IsActive": True})])
    [opp] = await conn.upsert("Opportunity", [Write({
        "Name": "Deal", "StageName": "Prospecting", "CloseDate": "2025-03-31", "AccountId": acct.id})])
    if lines:
        results = await conn.upsert("OpportunityLineItem", [Write({
            "OpportunityId": opp.id, "PricebookEntryId": entry.id, "Quantity": q, "UnitPrice": u,
            "Discount": d, "Description": f"line {i}"}) for i, (q, u, d) in enumerate(lines)])
        assert all(r.ok for r in results), results
    assert opp.id is not None and prod.id is not None
    return opp.id, prod.id


async def test_read_by_ids_returns_the_child_records_with_the_parent(connect) -> None:
    conn = connect()
    opp, prod = await _opportunity_with_lines(conn, [(2, 10, None), (1, 20, 10)])
    [rec] = await conn.read_by_ids("Opportunity", [opp], fields=["Name", "Amount", LINES])
    children = rec.fields["OpportunityLineItems"]
    assert isinstance(children, dict) and children["done"] is True and children["totalSize"] == 2
    rows = sorted(children["records"], key=lambda r: r["Description"])  # type: ignore[arg-type,index]
    assert [(r["Product2Id"], r["Quantity"], r["UnitPrice"], r["Discount"]) for r in rows] == \
        [(prod, 2, 10, None), (prod, 1, 20, 10)]
    assert all("attributes" not in r for r in rows)
    assert rec.fields["Amount"] == 38


async def test_no_child_rows_reads_as_an_empty_list_not_null(connect) -> None:
    conn = connect()
    opp, _ = await _opportunity_with_lines(conn, [])
    pages = [p async for p in conn.read_changes("Opportunity", None, fields=["Name", LINES])]
    [rec] = [r for p in pages for r in p.records if r.id == opp]
    assert rec.fields["OpportunityLineItems"] == {"totalSize": 0, "done": True, "records": []}


async def test_fields_all_selects_every_own_field_plus_the_children(connect) -> None:
    conn = connect()
    opp, _ = await _opportunity_with_lines(conn, [(3, 10, None)])
    [rec] = await conn.read_by_ids("Opportunity", [opp], fields=["FIELDS(ALL)", LINES])
    assert rec.fields["StageName"] == "Prospecting" and rec.fields["CloseDate"] == "2025-03-31"
    assert rec.fields["OpportunityLineItems"]["totalSize"] == 1  # type: ignore[index,call-overload]


async def test_a_subquery_with_anything_but_a_field_list_is_refused(connect) -> None:
    conn = connect()
    with pytest.raises(ConfigError):
        await conn.read_by_ids("Opportunity", ["006000000000001AAA"],
                               fields=["(SELECT Id FROM OpportunityLineItems WHERE Quantity > 1)"])

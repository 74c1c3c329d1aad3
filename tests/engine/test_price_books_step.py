"""The price-book step over fake systems: entries, ownership, retries, cost, currencies, CPQ."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from engine_world import World, world

from ledgerbridge.core.errors import ErrorKind, NotFound
from ledgerbridge.core.records import FieldSchema, ObjectSchema, RecordError, System
from ledgerbridge.engine.pricebooks import (
    AUDIT_LINK,
    PriceBookReport,
    PriceBookStep,
    PriceRow,
    discount_tiers,
)
from ledgerbridge.engine.runner import SyncSummary
from ledgerbridge.flows.config import LedgerBridgeConfig, PriceBooksSpec
from ledgerbridge.testing.fakes import FakeSystem

ITEMS: dict[str, Any] = {
    "salesforce": "Product2",
    "netsuite": "inventoryItem",
    "direction": "to_salesforce",
    "ids": {"salesforce_external_id": "NetSuite_Id__c"},
    "fields": [
        {"salesforce": "ProductCode", "netsuite": "itemId"},
        {"salesforce": "IsActive", "netsuite": "isInactive", "to_salesforce": "$not(isInactive = true)"},
        {"salesforce": "NetSuite_Id__c", "netsuite": "id", "direction": "to_salesforce"},
    ],
    "match": {"external_id": True},
    "delete": {"policy": "deactivate", "salesforce": {"field": "IsActive", "value": False}},
}
USD, EUR, GBP = "1", "4", "2"


def row(currency: str, level: str, price: float, quantity: float = 0) -> dict[str, Any]:
    return {
        "currencyPage": {"id": currency, "refName": "x"},
        "priceLevel": {"id": level},
        "quantity": {"value": quantity},
        "price": price,
    }


def entry_schema(currencies: Sequence[str] | None) -> ObjectSchema:
    fields = {n: FieldSchema(n, "string") for n in ("Pricebook2Id", "Product2Id", "UnitPrice", "IsActive")}
    if currencies is not None:
        fields["CurrencyIsoCode"] = FieldSchema("CurrencyIsoCode", "picklist", picklist=tuple(currencies))
    return ObjectSchema("PricebookEntry", fields)


class NoCpq(FakeSystem):
    """A Salesforce org without the CPQ package."""

    async def describe(self, object: str) -> ObjectSchema:
        if object.startswith("SBQQ__"):
            raise NotFound(
                f"{object} does not exist", code="NOT_FOUND", system="salesforce", operation="describe"
            )
        return await super().describe(object)


def setup(*, currencies: Sequence[str] | None = None, cpq: bool = True) -> World:
    w = world({"items": ITEMS})
    if not cpq:
        sf = NoCpq(System.SALESFORCE, w.clock)
        w = World(
            w.clock,
            sf,
            w.ns,
            w.store,
            type(w.engine)(w.engine.specs, salesforce=sf, netsuite=w.ns, store=w.store, clock=w.clock),
        )
    w.sf.schemas["PricebookEntry"] = entry_schema(currencies)
    w.sf.create("Pricebook2", {"Name": "Standard Price Book", "IsStandard": True, "IsActive": True}, id="STD")
    for cid, code, base in ((USD, "USD", True), (GBP, "GBP", False), (EUR, "EUR", False)):
        w.ns.create("currency", {"symbol": code, "isBaseCurrency": base}, id=cid)
    for lid, name in (("1", "Base Price"), ("2", "Partner"), ("3", "Enterprise")):
        w.ns.create("priceLevel", {"name": name}, id=lid)
    return w


def item(w: World, sku: str, rows: list[dict[str, Any]], **fields: Any) -> str:
    return w.ns.create(
        "inventoryItem",
        {"itemId": sku, "displayName": sku, "isInactive": False, "price": {"items": rows}, **fields},
    )


def step(w: World, **settings: Any) -> PriceBookStep:
    return PriceBookStep(
        PriceBooksSpec(**settings),
        w.engine.specs,
        salesforce=w.sf,
        netsuite=w.ns,
        store=w.store,
        clock=w.clock,
    )


def run(w: World, summary: SyncSummary | bool | None = True, **settings: Any) -> PriceBookReport:
    async def go() -> PriceBookReport:
        s = await w.engine.sync() if summary is True else summary
        return await step(w, **settings).run(s if not isinstance(s, bool) else None)

    return asyncio.run(go())


def entries(w: World) -> dict[tuple[str, str, str], tuple[float, bool]]:
    books = {r.id: str(r.fields["Name"]) for r in w.sf.all("Pricebook2")}
    products = {r.id: str(r.fields["ProductCode"]) for r in w.sf.all("Product2")}
    return {
        (
            books[str(r.fields["Pricebook2Id"])],
            products[str(r.fields["Product2Id"])],
            str(r.fields.get("CurrencyIsoCode", "")),
        ): (float(r.fields["UnitPrice"]), r.fields["IsActive"] is True)
        for r in w.sf.all("PricebookEntry")
    }


def test_prices_become_standard_and_level_books_and_a_second_run_writes_nothing() -> None:
    w = setup()
    item(w, "A", [row(USD, "1", 100), row(USD, "2", 90), row(EUR, "1", 92), row(USD, "1", 95, 10)])
    item(w, "B", [row(USD, "1", 10)])
    report = run(w)
    assert entries(w) == {
        ("Standard Price Book", "A", ""): (100.0, True),
        ("Partner", "A", ""): (90.0, True),
        ("Standard Price Book", "B", ""): (10.0, True),
    }
    assert (
        report.books_created == ["Partner"]
        and report.failures == []
        and sorted(report.synced) == ["1001", "1002"]
    )
    assert [r.fields["IsActive"] for r in w.sf.all("Pricebook2") if r.fields["Name"] == "Partner"] == [True]
    assert all(r.fields["UseStandardPrice"] is False for r in w.sf.all("PricebookEntry"))
    # No CPQ schedule: single-currency breaks in USD exist, so one schedule with one tier.
    [sched] = w.sf.all("SBQQ__DiscountSchedule__c")
    assert (sched.fields["SBQQ__Type__c"], sched.fields["SBQQ__DiscountUnit__c"]) == ("Range", "Percent")
    [tier] = w.sf.all("SBQQ__DiscountTier__c")
    assert (
        tier.fields["SBQQ__LowerBound__c"],
        tier.fields["SBQQ__UpperBound__c"],
        tier.fields["SBQQ__Discount__c"],
    ) == (10.0, None, 5.0)

    before = w.sf.n_writes
    again = run(w, None)
    assert again.synced == [] and w.sf.n_writes == before  # nothing seen, nothing pending
    w.ns.edit("inventoryItem", "1001", itemId="A")  # touched, prices unchanged
    assert run(w).n_writes == 0 and w.sf.n_writes == before


def test_standard_entries_are_written_before_custom_ones() -> None:
    w = setup()
    item(w, "A", [row(USD, "1", 100), row(USD, "2", 90)])
    calls: list[list[str]] = []
    upsert = w.sf.upsert

    async def spy(object: str, writes: Sequence[Any], **kw: Any) -> Any:
        if object == "PricebookEntry":
            calls.append([str(x.fields.get("Pricebook2Id")) for x in writes])
        return await upsert(object, writes, **kw)

    w.sf.upsert = spy  # type: ignore[method-assign]
    run(w)
    partner = next(r.id for r in w.sf.all("Pricebook2") if r.fields["Name"] == "Partner")
    assert calls == [["STD"], [partner]]


def test_salesforce_cost_does_not_grow_with_the_number_of_items() -> None:
    def cost(n: int) -> tuple[int, int, int]:
        w = setup(cpq=False)
        for i in range(n):
            item(w, f"I{i}", [row(USD, "1", 10 + i), row(USD, "2", 9 + i), row(USD, "3", 8 + i)])
        asyncio.run(w.engine.sync())
        w.sf.calls.clear()
        w.ns.calls.clear()
        asyncio.run(step(w).run(asyncio.run(w.engine.sync())))
        return w.sf.calls["find"], w.sf.calls["upsert"], w.ns.calls["read_by_ids"]

    assert cost(3) == cost(40)
    finds, upserts, _ = cost(40)
    assert finds <= 3 and upserts <= 4


def test_a_refused_entry_is_audited_reported_and_retried_until_it_succeeds() -> None:
    w = setup()
    bad = item(w, "A", [row(USD, "1", 100), row(USD, "2", 90)])
    item(w, "B", [row(USD, "1", 10), row(USD, "2", 9)])
    rule = w.sf.fail_writes(
        lambda obj, wr: obj == "PricebookEntry" and wr.fields.get("UnitPrice") == 90,
        RecordError(ErrorKind.RECORD, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "no partner deals"),
    )
    report = run(w)
    [failure] = report.failures
    assert (
        failure.item_id == bad and "Partner USD 90" in failure.reason and "no partner deals" in failure.reason
    )
    assert ("Partner", "B", "") in entries(w) and ("Partner", "A", "") not in entries(w)
    [event] = asyncio.run(w.store.list_audit(link=AUDIT_LINK, record_id=bad))
    assert event.action == "price_books.failed" and "no partner deals" in event.reason

    assert [f.item_id for f in run(w, None).failures] == [bad]  # retried with no pass seeing it
    w.sf.rules.remove(rule)
    retried = run(w, None)
    assert retried.synced == [bad] and retried.failures == []
    assert entries(w)[("Partner", "A", "")] == (90.0, True)
    assert run(w, None).synced == []  # settled
    actions = [e.action for e in asyncio.run(w.store.list_audit(link=AUDIT_LINK, record_id=bad))]
    assert actions[0] == "price_books.synced"


def test_a_removed_row_deactivates_its_own_entry_but_not_a_persons() -> None:
    w = setup()
    a = item(w, "A", [row(USD, "1", 100), row(USD, "2", 90), row(USD, "3", 80)])
    run(w)
    product = w.sf.all("Product2")[0].id
    enterprise = next(r.id for r in w.sf.all("Pricebook2") if r.fields["Name"] == "Enterprise")
    # a person's entry in a NetSuite-named book for a product/currency NetSuite never priced there
    w.sf.create("Product2", {"ProductCode": "HAND", "Name": "By hand"}, id="P-HAND")
    w.ns.edit("inventoryItem", a, price={"items": [row(USD, "1", 100), row(USD, "2", 90)]})
    run(w)
    assert entries(w)[("Enterprise", "A", "")] == (80.0, False)
    assert entries(w)[("Partner", "A", "")] == (90.0, True)
    w.sf.create(
        "PricebookEntry",
        {
            "Pricebook2Id": enterprise,
            "Product2Id": product,
            "UnitPrice": 70,
            "IsActive": True,
            "UseStandardPrice": False,
        },
        id="PBE-HAND",
    )
    w.ns.edit("inventoryItem", a, itemId="A")
    assert run(w).n_writes == 0
    assert w.sf.get("PricebookEntry", "PBE-HAND").fields["IsActive"] is True  # type: ignore[union-attr]


def test_an_inactive_item_deactivates_every_entry_of_its_product() -> None:
    w = setup()
    a = item(w, "A", [row(USD, "1", 100), row(USD, "2", 90)])
    run(w)
    product = w.sf.all("Product2")[0].id
    w.sf.create(
        "PricebookEntry", {"Pricebook2Id": "OTHER", "Product2Id": product, "UnitPrice": 1, "IsActive": True}
    )
    w.ns.edit("inventoryItem", a, isInactive=True)
    run(w)
    assert w.sf.all("Product2")[0].fields["IsActive"] is False
    assert all(r.fields["IsActive"] is False for r in w.sf.all("PricebookEntry"))


def test_a_vanished_item_deactivates_its_entries_once_and_is_then_settled() -> None:
    w = setup()
    a = item(w, "A", [row(USD, "1", 100)])
    run(w)
    w.ns.remove("inventoryItem", a)
    report = run(w)
    [failure] = report.failures
    assert "was not found" in failure.reason and "deactivated" in failure.reason
    assert all(r.fields["IsActive"] is False for r in w.sf.all("PricebookEntry"))
    settled = run(w, None)
    assert settled.failures == [] and settled.synced == [a]
    assert run(w, None).synced == []


def test_multi_currency_writes_each_active_currency_and_reports_the_others() -> None:
    w = setup(currencies=["USD", "EUR"])
    item(
        w,
        "A",
        [row(USD, "1", 100), row(EUR, "1", 92), row(GBP, "1", 80), row(EUR, "2", 83), row(GBP, "2", 70)],
    )
    report = run(w)
    assert entries(w) == {
        ("Standard Price Book", "A", "USD"): (100.0, True),
        ("Standard Price Book", "A", "EUR"): (92.0, True),
        ("Partner", "A", "EUR"): (83.0, True),
    }
    assert report.missing_currencies == {"GBP": 2}
    [note] = report.notes
    assert "GBP (2 prices)" in note and "Manage Currencies" in note


def test_a_custom_price_without_a_standard_price_is_a_clear_failure() -> None:
    w = setup(currencies=["USD", "EUR"])
    a = item(w, "A", [row(USD, "1", 100), row(EUR, "2", 83)])
    [failure] = run(w).failures
    assert failure.item_id == a and "no standard price in EUR" in failure.reason
    assert entries(w) == {("Standard Price Book", "A", "USD"): (100.0, True)}


def test_single_currency_setting_and_listed_levels() -> None:
    w = setup()
    item(w, "A", [row(USD, "1", 100), row(EUR, "1", 92), row(EUR, "2", 83), row(EUR, "3", 75)])
    report = run(w, currency="EUR", levels=["3"], book_name="NS {level}")
    assert entries(w) == {
        ("Standard Price Book", "A", ""): (92.0, True),
        ("NS Enterprise", "A", ""): (75.0, True),
    }
    assert report.books_created == ["NS Enterprise"]


def test_without_cpq_no_schedules_are_written_and_tiers_are_reconciled_with_it() -> None:
    w = setup(cpq=False)
    item(w, "A", [row(USD, "1", 100), row(USD, "1", 90, 10)])
    assert run(w).failures == []
    assert w.sf.all("SBQQ__DiscountSchedule__c") == []

    w = setup()
    a = item(
        w, "A", [row(USD, "1", 100), row(USD, "1", 95, 10), row(USD, "1", 90, 50), row(USD, "1", 80, 100)]
    )
    run(w)
    assert len(w.sf.all("SBQQ__DiscountTier__c")) == 3
    w.ns.edit("inventoryItem", a, price={"items": [row(USD, "1", 100), row(USD, "1", 85, 20)]})
    report = run(w)
    assert (
        report.writes["delete:SBQQ__DiscountTier__c"] == 2
        and report.writes["update:SBQQ__DiscountTier__c"] == 1
    )
    [tier] = w.sf.all("SBQQ__DiscountTier__c")
    assert (
        tier.fields["SBQQ__LowerBound__c"],
        tier.fields["SBQQ__UpperBound__c"],
        tier.fields["SBQQ__Discount__c"],
    ) == (20.0, None, 15.0)
    assert run(w, discount_schedules=False).n_writes == 0


def test_discount_tiers_from_quantity_breaks() -> None:
    rows = [PriceRow("1", "1", 0, 200), PriceRow("1", "1", 50, 170), PriceRow("1", "1", 10, 190)]
    assert discount_tiers(rows, 200) == [(10, 50, 5.0), (50, None, 15.0)]
    assert discount_tiers([PriceRow("1", "1", 5, 66.666)], 100) == [(5, None, 33.33)]


def test_plan_passes_are_ignored() -> None:
    w = setup()
    item(w, "A", [row(USD, "1", 100)])
    summary = asyncio.run(w.engine.plan())
    assert run(w, summary).synced == [] and w.sf.all("PricebookEntry") == []


# -- configuration ----------------------------------------------------------------------------------------


def config(price_books: dict[str, Any]) -> LedgerBridgeConfig:
    return LedgerBridgeConfig.model_validate(
        {"links": {"items": ITEMS, "other": {**ITEMS, "salesforce": "Account"}}, "price_books": price_books}
    )


def test_price_books_links_default_to_product2_links_and_are_validated() -> None:
    spec = config({}).price_books
    assert spec is not None and spec.catalog_links(config({}).links) == ["items"]
    with pytest.raises(ValueError, match=r"links\[1\]: no link named 'nope' \(links: items, other\)"):
        config({"links": ["items", "nope"]})
    with pytest.raises(ValueError, match=r"links\[0\]: link 'other' pairs Account, not Product2"):
        config({"links": ["other"]})
    with pytest.raises(ValueError, match=r"book_name must contain \{level\}"):
        config({"book_name": "Prices"})
    with pytest.raises(ValueError, match="three-letter ISO code"):
        config({"currency": "dollars"})
    assert config({"levels": [2, "3"], "currency": "eur"}).price_books == PriceBooksSpec(
        levels=["2", "3"], currency="EUR"
    )


def test_the_schema_documents_price_books() -> None:
    from ledgerbridge.app.config import config_schema

    schema = config_schema()
    props = schema["$defs"]["PriceBooksSpec"]["properties"]  # type: ignore[index]
    assert {"enabled", "links", "base_level", "levels", "book_name", "currency", "discount_schedules"} <= set(
        props
    )
    assert all(
        props[k].get("description") for k in ("links", "base_level", "levels", "book_name", "currency")
    )


def test_when_every_quantity_break_goes_the_schedule_the_step_made_goes_too() -> None:
    w = setup()
    a = item(w, "A", [row(USD, "1", 100), row(USD, "1", 95, 10)])
    run(w)
    [ours] = w.sf.all("SBQQ__DiscountSchedule__c")
    product = str(ours.fields["SBQQ__Product__c"])
    w.sf.create("SBQQ__DiscountSchedule__c", {"Name": "Partner volume deal", "SBQQ__Product__c": product})
    w.ns.edit("inventoryItem", a, price={"items": [row(USD, "1", 100)]})
    report = run(w)
    assert report.failures == [] and report.writes["delete:SBQQ__DiscountSchedule__c"] == 1
    assert [r.fields["Name"] for r in w.sf.all("SBQQ__DiscountSchedule__c")] == ["Partner volume deal"]
    assert run(w).n_writes == 0  # nothing of ours is left to delete

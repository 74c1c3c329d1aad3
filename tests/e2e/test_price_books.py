"""Price books (catalog-pricing's ``price_books:`` step) against both sandboxes.

People change NetSuite items through SuiteTalk REST (price sublist rows of currency, price level,
quantity, price); the engine runs as ``ledgerbridge sync`` does; the tests read Salesforce back
through its REST API and count writes from the sandboxes' request logs. A single-currency org (the
shared sandboxes) and a multi-currency org with the CPQ objects (started here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerbridge.app import services
from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.pricebooks import PriceBookReport, run_price_books
from ledgerbridge.app.templates import render
from ledgerbridge.app.wiring import open_runtime
from ledgerbridge.flows.config import LedgerBridgeConfig
from ledgerbridge_sandbox.netsuite.testing import NetSuiteSandbox
from ledgerbridge_sandbox.salesforce.config import SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.testing import SalesforceSandbox

from .conftest import Systems

USD, GBP, EUR = "1", "2", "4"  # NetSuite currency ids of the sandbox's lists
BASE, PARTNER, ENTERPRISE = "1", "2", "3"  # NetSuite price level ids


def row(currency: str, level: str, price: float, quantity: float = 0) -> dict[str, Any]:
    return {
        "currencyPage": {"id": currency},
        "priceLevel": {"id": level},
        "quantity": {"value": quantity},
        "price": price,
    }


def config_for(systems: Systems, tmp_path: Path, extra: str = "") -> LedgerBridgeConfig:
    """catalog-pricing as `ledgerbridge init --template catalog-pricing --sandbox` writes it."""
    text = render(
        "catalog-pricing",
        sandbox=True,
        salesforce_url=systems.sf.url,
        netsuite_url=systems.ns.url,
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
    )
    return load_config_text(text + extra, env={}).config


def sync(config: LedgerBridgeConfig, *, full: bool = False) -> services.SyncSummary:
    summary = asyncio.run(services.sync(config, ["items"] if full else None, full=full))
    assert summary.ok, summary
    return summary


def sync_with_report(config: LedgerBridgeConfig) -> PriceBookReport:
    """One pass and the price-book step, as `sync` runs them, keeping the step's report."""

    async def go() -> PriceBookReport:
        async with open_runtime(config) as rt:
            summary = await rt.engine.sync(None)
            assert summary.ok, summary
            return await run_price_books(rt, summary)

    return asyncio.run(go())


def new_item(systems: Systems, sku: str, rows: list[dict[str, Any]], **fields: Any) -> str:
    return systems.ns_create(
        "inventoryItem", {"itemId": sku, "displayName": f"Widget {sku}", "price": {"items": rows}, **fields}
    )


def set_prices(systems: Systems, item: str, rows: list[dict[str, Any]]) -> None:
    """A person replaces the item's price matrix (the sublist is replaced, not appended to)."""
    r = systems.ns_rest.patch(
        f"/record/v1/inventoryItem/{item}", params={"replace": "price"}, json={"price": {"items": rows}}
    )
    assert r.status_code == 204, r.text


def product_of(systems: Systems, item: str) -> dict[str, Any]:
    [product] = systems.sf_query(f"SELECT Id, Name, IsActive FROM Product2 WHERE NetSuite_Id__c = '{item}'")
    return product


def entries(
    systems: Systems, product: str, *, multi: bool = False
) -> dict[tuple[str, ...], tuple[float, bool]]:
    """(book name[, currency]) -> (UnitPrice, IsActive) of a product's price book entries."""
    cur = ", CurrencyIsoCode" if multi else ""
    rows = systems.sf_query(
        f"SELECT Pricebook2Id, UnitPrice, IsActive, UseStandardPrice{cur} FROM PricebookEntry "
        f"WHERE Product2Id = '{product}'"
    )
    books = {b["Id"]: b["Name"] for b in systems.sf_query("SELECT Id, Name FROM Pricebook2")}
    out: dict[tuple[str, ...], tuple[float, bool]] = {}
    for r in rows:
        assert r["UseStandardPrice"] is False
        key = (books[r["Pricebook2Id"]], r["CurrencyIsoCode"]) if multi else (books[r["Pricebook2Id"]],)
        assert key not in out, f"two entries for {key}"
        out[key] = (r["UnitPrice"], r["IsActive"])
    return out


def stamps(systems: Systems, product: str) -> dict[str, str]:
    return {
        r["Id"]: r["SystemModstamp"]
        for r in systems.sf_query(
            f"SELECT Id, SystemModstamp FROM PricebookEntry WHERE Product2Id = '{product}'"
        )
    }


# -- single-currency org ------------------------------------------------------------------------------


def test_levels_become_price_books_and_changes_follow(systems: Systems, tmp_path: Path) -> None:
    config = config_for(systems, tmp_path)
    item = new_item(
        systems,
        "W-100",
        [row(USD, BASE, 100), row(USD, PARTNER, 90), row(USD, ENTERPRISE, 80), row(EUR, BASE, 92)],
    )
    sync(config)
    product = product_of(systems, item)
    assert entries(systems, product["Id"]) == {
        ("Standard Price Book",): (100.0, True),
        ("Partner",): (90.0, True),
        ("Enterprise",): (80.0, True),
    }
    books = systems.sf_query("SELECT Name, IsActive FROM Pricebook2 WHERE IsStandard = false ORDER BY Name")
    assert books == [
        {"attributes": books[0]["attributes"], "Name": "Enterprise", "IsActive": True},
        {"attributes": books[1]["attributes"], "Name": "Partner", "IsActive": True},
    ]

    systems.clear_logs()  # a second pass writes nothing
    sync(config)
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}

    before = stamps(systems, product["Id"])  # a price change updates that entry only
    set_prices(systems, item, [row(USD, BASE, 100), row(USD, PARTNER, 85), row(USD, ENTERPRISE, 80)])
    systems.clear_logs()
    sync(config)
    assert entries(systems, product["Id"])[("Partner",)] == (85.0, True)
    after = stamps(systems, product["Id"])
    assert [i for i in before if before[i] != after[i]] == [
        r["Id"]
        for r in systems.sf_query(
            f"SELECT Id FROM PricebookEntry WHERE Product2Id = '{product['Id']}' AND UnitPrice = 85"
        )
    ]
    assert systems.writes()["salesforce"] == 1

    set_prices(systems, item, [row(USD, BASE, 100), row(USD, PARTNER, 85)])  # a level's price removed
    sync(config)
    assert entries(systems, product["Id"]) == {
        ("Standard Price Book",): (100.0, True),
        ("Partner",): (85.0, True),
        ("Enterprise",): (80.0, False),
    }

    systems.ns_update("inventoryItem", item, {"isInactive": True})  # the item made inactive
    sync(config)
    assert product_of(systems, item)["IsActive"] is False
    assert all(not active for _, active in entries(systems, product["Id"]).values())
    systems.clear_logs()
    sync(config)
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}


def test_full_sync_reprices_every_item_and_existing_entries_are_adopted(
    systems: Systems, tmp_path: Path
) -> None:
    # Salesforce already has the product, a Partner book and its entries (no duplicates may follow).
    product = systems.sf_create("Product2", {"Name": "Gadget", "ProductCode": "G-1", "IsActive": True})
    [std] = systems.sf_query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    partner = systems.sf_create("Pricebook2", {"Name": "Partner", "IsActive": True})
    systems.sf_create(
        "PricebookEntry",
        {"Pricebook2Id": std["Id"], "Product2Id": product, "UnitPrice": 50, "IsActive": True},
    )
    hand_made = systems.sf_create(
        "PricebookEntry",
        {
            "Pricebook2Id": partner,
            "Product2Id": product,
            "UnitPrice": 45,
            "IsActive": True,
            "UseStandardPrice": False,
        },
    )
    config = config_for(systems, tmp_path)
    item = new_item(systems, "G-1", [row(USD, BASE, 60), row(USD, PARTNER, 55)])
    other = new_item(systems, "G-2", [row(USD, BASE, 10)])
    sync(config)
    assert product_of(systems, item)["Id"] == product  # matched by SKU
    assert entries(systems, product) == {("Standard Price Book",): (60.0, True), ("Partner",): (55.0, True)}
    assert systems.sf_query(f"SELECT Id FROM PricebookEntry WHERE Pricebook2Id = '{partner}'") == [
        {
            "attributes": {
                "type": "PricebookEntry",
                "url": f"/services/data/v62.0/sobjects/PricebookEntry/{hand_made}",
            },
            "Id": hand_made,
        }
    ]

    # A person edits prices in Salesforce; `sync --full items` re-reads every item and repairs them.
    systems.sf_update("PricebookEntry", hand_made, {"UnitPrice": 1})
    other_product = product_of(systems, other)["Id"]
    [other_entry] = systems.sf_query(f"SELECT Id FROM PricebookEntry WHERE Product2Id = '{other_product}'")
    systems.sf_update("PricebookEntry", other_entry["Id"], {"IsActive": False})
    systems.clear_logs()
    sync(config, full=True)
    assert systems.writes()["netsuite"] == 0
    assert entries(systems, product)[("Partner",)] == (55.0, True)
    assert entries(systems, other_product) == {("Standard Price Book",): (10.0, True)}


# -- multi-currency org with Salesforce CPQ ----------------------------------------------------------


@pytest.fixture(scope="module")
def multi_sf() -> Iterator[SalesforceSandbox]:
    config = SalesforceSandboxConfig(seed="empty", multi_currency=True, currencies=("USD", "EUR", "CAD"))
    with SalesforceSandbox(config) as sf:
        yield sf


@pytest.fixture
def multi(
    multi_sf: SalesforceSandbox, sandboxes: tuple[SalesforceSandbox, NetSuiteSandbox]
) -> Iterator[Systems]:
    out = Systems(multi_sf, sandboxes[1])
    try:
        out.reset()
        yield out
    finally:
        out.close()


def schedule_of(systems: Systems, product: str) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    [sched] = systems.sf_query(
        "SELECT Id, Name, SBQQ__Type__c, SBQQ__DiscountUnit__c, CurrencyIsoCode "
        f"FROM SBQQ__DiscountSchedule__c WHERE SBQQ__Product__c = '{product}'"
    )
    tiers = systems.sf_query(
        "SELECT SBQQ__LowerBound__c, SBQQ__UpperBound__c, SBQQ__Discount__c "
        f"FROM SBQQ__DiscountTier__c WHERE SBQQ__Schedule__c = '{sched['Id']}' "
        "ORDER BY SBQQ__LowerBound__c"
    )
    return sched, [
        (t["SBQQ__LowerBound__c"], t["SBQQ__UpperBound__c"], t["SBQQ__Discount__c"]) for t in tiers
    ]


def test_multi_currency_entries_and_cpq_discount_schedules(multi: Systems, tmp_path: Path) -> None:
    config = config_for(multi, tmp_path)
    item = new_item(
        multi,
        "M-1",
        [
            row(USD, BASE, 100),
            row(EUR, BASE, 92),
            row(GBP, BASE, 80),
            row(USD, PARTNER, 90),
            row(EUR, PARTNER, 83),
            row(USD, ENTERPRISE, 85),
            row(USD, BASE, 95, 10),
            row(USD, BASE, 90, 50),
        ],
    )
    report = sync_with_report(config)
    product = product_of(multi, item)["Id"]
    assert entries(multi, product, multi=True) == {
        ("Standard Price Book", "USD"): (100.0, True),
        ("Standard Price Book", "EUR"): (92.0, True),
        ("Partner", "USD"): (90.0, True),
        ("Partner", "EUR"): (83.0, True),
        ("Enterprise", "USD"): (85.0, True),
    }
    assert report.missing_currencies == {"GBP": 1}  # reported, not silently dropped
    assert any("GBP (1 price)" in note for note in report.notes)
    assert report.failures == []
    sched, tiers = schedule_of(multi, product)
    assert (
        sched["Name"],
        sched["SBQQ__Type__c"],
        sched["SBQQ__DiscountUnit__c"],
        sched["CurrencyIsoCode"],
    ) == ("Widget M-1 - NetSuite quantity pricing", "Range", "Percent", "USD")
    assert tiers == [(10.0, 50.0, 5.0), (50.0, None, 10.0)]

    multi.clear_logs()  # a second pass writes nothing
    assert sync_with_report(config).n_writes == 0
    assert multi.writes() == {"salesforce": 0, "netsuite": 0}

    # A tier edited, one added: the tiers follow (updated, created), and a removed break is deleted.
    base_rows = [
        row(USD, BASE, 100),
        row(EUR, BASE, 92),
        row(USD, PARTNER, 90),
        row(EUR, PARTNER, 83),
        row(USD, ENTERPRISE, 85),
    ]
    set_prices(
        multi, item, [*base_rows, row(USD, BASE, 96, 10), row(USD, BASE, 88, 40), row(USD, BASE, 80, 100)]
    )
    sync_with_report(config)
    assert schedule_of(multi, product)[1] == [(10.0, 40.0, 4.0), (40.0, 100.0, 12.0), (100.0, None, 20.0)]
    set_prices(multi, item, [*base_rows, row(USD, BASE, 88, 40)])
    report = sync_with_report(config)
    assert schedule_of(multi, product)[1] == [(40.0, None, 12.0)]
    assert report.writes["delete:SBQQ__DiscountTier__c"] == 2
    assert entries(multi, product, multi=True)[("Standard Price Book", "USD")] == (100.0, True)


def test_a_refused_price_book_is_reported_and_retried_and_the_rest_syncs(
    multi: Systems, tmp_path: Path
) -> None:
    rule = {
        "object": "Pricebook2",
        "name": "No_Enterprise",
        "condition": "Name = 'Enterprise'",
        "message": "Enterprise prices are managed by hand",
    }
    multi.admin.patch(
        f"{multi.sf.url}/__sandbox__/config", json={"validation_rules": [rule]}
    ).raise_for_status()
    config = config_for(multi, tmp_path)
    item = new_item(multi, "R-1", [row(USD, BASE, 20), row(USD, PARTNER, 18), row(USD, ENTERPRISE, 17)])
    fine = new_item(multi, "R-2", [row(USD, BASE, 5)])
    report = sync_with_report(config)
    [failure] = report.failures
    assert failure.item_id == item
    assert "price book 'Enterprise' could not be created" in failure.reason
    assert "Enterprise prices are managed by hand" in failure.reason
    product = product_of(multi, item)["Id"]
    assert entries(multi, product, multi=True) == {
        ("Standard Price Book", "USD"): (20.0, True),
        ("Partner", "USD"): (18.0, True),
    }
    assert entries(multi, product_of(multi, fine)["Id"], multi=True) == {
        ("Standard Price Book", "USD"): (5.0, True)
    }

    # Still refused on the next pass: reported again; once the rule is gone, the retry succeeds.
    assert [f.item_id for f in sync_with_report(config).failures] == [item]
    multi.admin.patch(f"{multi.sf.url}/__sandbox__/config", json={"validation_rules": []}).raise_for_status()
    report = sync_with_report(config)
    assert report.failures == [] and report.books_created == ["Enterprise"]
    assert entries(multi, product, multi=True)[("Enterprise", "USD")] == (17.0, True)
    trail = [(e.action, e.ns_id) for e in reversed(audit(config)) if e.ns_id == item]
    assert trail == [("price_books.failed", item), ("price_books.failed", item), ("price_books.synced", item)]


def audit(config: LedgerBridgeConfig) -> list[Any]:
    async def go() -> list[Any]:
        async with open_runtime(config) as rt:
            return list(await rt.store.list_audit(link="price_books", limit=1000))

    return asyncio.run(go())


def test_the_demo_seed_is_adopted_without_duplicates(systems: Systems, tmp_path: Path) -> None:
    # The demo orgs: Salesforce already holds the products, Partner/Enterprise books and their entries.
    systems.admin.post(f"{systems.sf.url}/__sandbox__/reset", json={"seed": "demo"}).raise_for_status()
    systems.ns.reset("demo")
    token = systems.admin.post(f"{systems.sf.url}/__sandbox__/tokens", json={}).json()["access_token"]
    systems.sf_rest.headers["Authorization"] = f"Bearer {token}"
    before = count(systems, "PricebookEntry")
    assert before > 300
    config = config_for(systems, tmp_path)
    report = sync_with_report(config)
    assert report.failures == [] and report.books_created == []
    assert len(report.synced) > 100
    assert "create:PricebookEntry" not in report.writes  # every price already had its entry: adopted
    assert count(systems, "PricebookEntry") == before
    print("demo seed, first pass:", dict(report.writes))
    systems.clear_logs()
    assert sync_with_report(config).n_writes == 0
    assert systems.writes()["salesforce"] == 0


def count(systems: Systems, sobject: str) -> int:
    r = systems.sf_rest.get("/query", params={"q": f"SELECT COUNT() FROM {sobject}"})
    assert r.status_code == 200, r.text
    return int(r.json()["totalSize"])

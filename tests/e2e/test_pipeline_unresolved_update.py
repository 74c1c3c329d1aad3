"""pipeline-forecast, end to end: an opportunity already in NetSuite gets a product that has no
NetSuite item. The update is held (the items_linked review names the product), nothing reaches
NetSuite, and once the product is linked the held change is written whole."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ledgerbridge_sandbox.netsuite.seed", reason="the NetSuite sandbox is not complete")

from ledgerbridge.app import services
from ledgerbridge.engine.steps import guard_reason
from ledgerbridge.flows.config import LedgerBridgeConfig

from .conftest import Systems


def pipeline_config(systems: Systems, tmp_path: Path) -> LedgerBridgeConfig:
    return systems.template("pipeline-forecast", tmp_path)


def sync(config: LedgerBridgeConfig) -> services.SyncSummary:
    return asyncio.run(services.sync(config))


def ns_opportunity(systems: Systems, rid: str) -> dict[str, Any]:
    r = systems.ns_rest.get(f"/record/v1/opportunity/{rid}", params={"expandSubResources": "true"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def lines(opp: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(ln["item"]["id"], ln["quantity"], ln["rate"]) for ln in opp["item"]["items"]]


def test_an_update_adding_a_product_without_an_item_is_held_in_review_then_written_whole(
        systems: Systems, tmp_path: Path):
    config = pipeline_config(systems, tmp_path)
    widget = systems.ns_create("inventoryItem", {"itemId": "WID-1", "displayName": "Widget"})
    assert sync(config).ok
    [product] = systems.sf_query(f"SELECT Id FROM Product2 WHERE NetSuite_Id__c = '{widget}'")
    loose = systems.sf_create("Product2", {"Name": "Hand-made part", "ProductCode": "HMP-1",
                                           "IsActive": True})  # no NetSuite item
    [book] = systems.sf_query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    for p in (product["Id"], loose):
        systems.sf_create("PricebookEntry", {"Pricebook2Id": book["Id"], "Product2Id": p, "UnitPrice": 10,
                                             "IsActive": True})
    acct = systems.sf_create("Account", {"Name": "Acme Rockets"})
    opp = systems.sf_create("Opportunity", {"Name": "Rockets Q3", "AccountId": acct,
                                            "StageName": "Prospecting",
                                            "CloseDate": (date.today() + timedelta(days=30)).isoformat()})
    systems.sf_create("OpportunityLineItem", {"OpportunityId": opp, "Product2Id": product["Id"],
                                              "Quantity": 3, "UnitPrice": 100})
    summary = sync(config)
    assert summary.ok, summary
    ns_id = systems.sf_get("Opportunity", opp)["NetSuite_Id__c"]
    before = ns_opportunity(systems, ns_id)
    assert (before["title"], lines(before)) == ("Rockets Q3", [(widget, 3, 100)])

    # the rep renames the deal and adds the product that has no item: nothing reaches NetSuite
    systems.sf_update("Opportunity", opp, {"Name": "Rockets Q3 + parts"})
    systems.sf_create("OpportunityLineItem", {"OpportunityId": opp, "Product2Id": loose, "Quantity": 2,
                                              "UnitPrice": 50})
    systems.clear_logs()
    summary = sync(config)
    assert systems.writes()["netsuite"] == 0
    held = ns_opportunity(systems, ns_id)
    assert (held["title"], lines(held)) == ("Rockets Q3", [(widget, 3, 100)])
    [outcome] = [o for o in summary.links["pipeline"].outcomes if o.id == opp]
    assert outcome.outcome.value == "waiting" and outcome.reason.startswith("preflight: items_linked: ")
    [review] = asyncio.run(services.reviews_list(config, link="pipeline"))
    reason = guard_reason(review) or ""
    assert review.record_id == opp and reason.startswith("items_linked:") and loose in reason, reason
    assert asyncio.run(services.dlq_list(config)) == []  # not NetSuite's error: ours, as a review

    # finance adds the item (same code), the catalog links it; the next change writes it all
    part = systems.ns_create("nonInventorySaleItem", {"itemId": "HMP-1", "displayName": "Hand-made part"})
    assert sync(config).ok
    systems.sf_update("Opportunity", opp, {"NextStep": "Send the quote"})
    summary = sync(config)
    assert summary.ok, summary
    after = ns_opportunity(systems, ns_id)
    assert (after["title"], lines(after)) == ("Rockets Q3 + parts", [(widget, 3, 100), (part, 2, 50)])
    assert asyncio.run(services.reviews_list(config, link="pipeline")) == []
    systems.clear_logs()
    assert sync(config).ok
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}

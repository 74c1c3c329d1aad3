"""Quote-to-cash end to end over loopback: a won opportunity in the Salesforce sandbox becomes a sales
order in the NetSuite sandbox (rendered ``quote-to-cash`` template), with write-back, a quiet second
pass, a preflight review for a product without an item, and a review for an edit after approval."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ledgerbridge.app import services
from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.templates import render
from ledgerbridge.engine.steps import guard_reason
from ledgerbridge.flows.config import LedgerBridgeConfig

from .conftest import Systems, connections_yaml


def config_for(systems: Systems, tmp_path: Path) -> LedgerBridgeConfig:
    body = render("quote-to-cash", sandbox=True).split("\nlinks:\n", 1)[1]
    text = connections_yaml(systems.sf.info, systems.ns.info, f"sqlite:///{tmp_path / 'state.db'}")
    return load_config_text(text + "links:\n" + body, env={}).config


def sync(config: LedgerBridgeConfig) -> services.SyncSummary:
    return asyncio.run(services.sync(config))


def product_in_book(systems: Systems, product: str, price: float) -> None:
    [book] = systems.sf_query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    systems.sf_create("PricebookEntry", {"Pricebook2Id": book["Id"], "Product2Id": product,
                                         "UnitPrice": price, "IsActive": True})


def win(systems: Systems, lines: list[tuple[str, float, float, float | None, str]]) -> tuple[str, str]:
    """A user's deal: account, opportunity, products on it, then Closed Won."""
    acct = systems.sf_create("Account", {"Name": "Acme Rockets"})
    opp = systems.sf_create("Opportunity", {"Name": "Rockets", "StageName": "Prospecting",
                                            "CloseDate": "2025-03-31", "AccountId": acct,
                                            "PO_Number__c": "PO-77"})
    for product, qty, price, discount, text in lines:
        row: dict[str, Any] = {"OpportunityId": opp, "Product2Id": product, "Quantity": qty,
                               "UnitPrice": price, "Description": text}
        if discount is not None:
            row["Discount"] = discount
        systems.sf_create("OpportunityLineItem", row)
    systems.sf_update("Opportunity", opp, {"StageName": "Closed Won"})
    return acct, opp


def catalog(systems: Systems, config: LedgerBridgeConfig) -> dict[str, tuple[str, str]]:
    """NetSuite items synced to Salesforce products: {itemId: (item id, product id)}."""
    items = {
        "WID-1": systems.ns_create("inventoryItem", {"itemId": "WID-1", "displayName": "Widget",
                                                     "subsidiary": {"items": [{"id": "2"}]}}),
        "SVC-1": systems.ns_create("serviceSaleItem", {"itemId": "SVC-1", "displayName": "Setup",
                                                       "subsidiary": {"items": [{"id": "2"}]}}),
    }
    assert sync(config).ok
    rows = {r["NetSuite_Id__c"]: r["Id"] for r in systems.sf_query("SELECT Id, NetSuite_Id__c FROM Product2")}
    out = {code: (iid, rows[iid]) for code, iid in items.items()}
    for _, product in out.values():
        product_in_book(systems, product, 10)
    return out


def get_order(systems: Systems, order_id: str) -> dict[str, Any]:
    r = systems.ns_rest.get(f"/record/v1/salesOrder/{order_id}", params={"expandSubResources": "true"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def order_calls(systems: Systems) -> int:
    rows = systems.ns_log().get("requests", systems.ns_log().get("counts", []))
    return sum(int(r["count"]) for r in rows if "salesorder" in r["route"].lower())


def test_a_won_opportunity_becomes_the_exact_sales_order_and_is_written_back(systems: Systems,
                                                                              tmp_path: Path) -> None:
    config = config_for(systems, tmp_path)
    items = catalog(systems, config)
    acct, opp = win(systems, [(items["WID-1"][1], 3, 10.0, 15.0, "Widgets, 15% off"),
                              (items["SVC-1"][1], 1, 100.0, None, "Set-up day")])
    summary = sync(config)
    assert summary.ok, summary
    row = systems.sf_get("Opportunity", opp)
    customer_id = systems.sf_get("Account", acct)["NetSuite_Id__c"]
    order = get_order(systems, row["NetSuite_Order_Id__c"])
    assert order["externalId"] == opp and order["entity"]["id"] == customer_id
    assert (order["tranDate"], order["otherRefNum"], order["subsidiary"]["id"], order["currency"]["id"]) == \
        ("2025-03-31", "PO-77", "2", "1")
    lines = [(ln["item"]["id"], ln["quantity"], ln["rate"], ln["amount"], ln["description"])
             for ln in order["item"]["items"]]
    assert lines == [(items["WID-1"][0], 3, 8.5, 25.5, "Widgets, 15% off"),
                     (items["SVC-1"][0], 1, 100, 100, "Set-up day")]
    assert order["total"] == row["Amount"] == 125.5
    assert (row["NetSuite_Order_Number__c"], row["NetSuite_Order_Status__c"]) == \
        (order["tranId"], order["orderStatus"]["refName"])
    systems.clear_logs()
    again = sync(config)
    assert again.ok and systems.writes() == {"salesforce": 0, "netsuite": 0}, again
    # approved in NetSuite: a later edit of the opportunity raises a review and writes nothing there
    systems.ns_update("salesOrder", order["id"], {"orderStatus": {"id": "B"}})
    systems.sf_update("Opportunity", opp, {"PO_Number__c": "PO-78"})
    systems.clear_logs()
    assert sync(config).ok
    assert systems.writes()["netsuite"] == 0
    assert systems.ns_get("salesOrder", order["id"])["otherRefNum"] == "PO-77"
    reviews = asyncio.run(services.reviews_list(config, link="orders"))
    assert [(r.record_id, "PO_Number__c" in (guard_reason(r) or "")) for r in reviews] == [(opp, True)]
    assert systems.sf_get("Opportunity", opp)["NetSuite_Order_Status__c"] == "Pending Fulfillment"


def test_a_product_without_an_item_is_a_preflight_review_and_no_order_call(systems: Systems,
                                                                           tmp_path: Path) -> None:
    config = config_for(systems, tmp_path)
    items = catalog(systems, config)
    loose = systems.sf_create("Product2", {"Name": "Loose part", "IsActive": True})
    product_in_book(systems, loose, 5)
    _, opp = win(systems, [(items["WID-1"][1], 1, 10.0, None, "Widget"), (loose, 2, 5.0, None, "Loose")])
    systems.clear_logs()
    summary = sync(config)
    assert order_calls(systems) == 0
    [review] = asyncio.run(services.reviews_list(config, link="orders"))
    reason = guard_reason(review)
    assert review.record_id == opp and reason is not None
    assert reason.startswith("items_linked:") and loose in reason
    assert [o.outcome.value for o in summary.links["orders"].outcomes if o.id == opp] == ["waiting"]
    assert asyncio.run(services.dlq_list(config)) == []

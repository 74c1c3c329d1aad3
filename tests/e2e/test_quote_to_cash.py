"""Quote-to-cash end to end over loopback: a won opportunity in the Salesforce sandbox becomes a sales
order in the NetSuite sandbox (rendered ``quote-to-cash`` template), with write-back, a quiet second
pass, a preflight review for a product without an item, and a review for an edit after approval; the
template's settings (payment terms table, invoice instead of sales order, discount item lines) and
the credit limit check, each through both sandboxes."""

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


def config_for(systems: Systems, tmp_path: Path, **swap: str) -> LedgerBridgeConfig:
    """The rendered template, with each ``old=new`` text of ``swap`` replaced (a user's edit of a
    setting; the text must be there)."""
    body = render("quote-to-cash", sandbox=True).split("\nlinks:\n", 1)[1]
    for old, new in swap.items():
        assert old in body, old
        body = body.replace(old, new)
    text = connections_yaml(systems.sf.info, systems.ns.info, f"sqlite:///{tmp_path / 'state.db'}")
    return load_config_text(text + "links:\n" + body, env={}).config


def sync(config: LedgerBridgeConfig) -> services.SyncSummary:
    return asyncio.run(services.sync(config))


def product_in_book(systems: Systems, product: str, price: float) -> None:
    [book] = systems.sf_query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    systems.sf_create("PricebookEntry", {"Pricebook2Id": book["Id"], "Product2Id": product,
                                         "UnitPrice": price, "IsActive": True})


def win(systems: Systems, lines: list[tuple[str, float, float, float | None, str]], *,
        account: str | None = None, **fields: Any) -> tuple[str, str]:
    """A user's deal: account (a new one unless given), opportunity, products on it, then Closed Won."""
    acct = account or systems.sf_create("Account", {"Name": "Acme Rockets"})
    opp = systems.sf_create("Opportunity", {"Name": "Rockets", "StageName": "Prospecting",
                                            "CloseDate": "2025-03-31", "AccountId": acct,
                                            "PO_Number__c": "PO-77", **fields})
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


def get_order(systems: Systems, order_id: str, rtype: str = "salesOrder") -> dict[str, Any]:
    r = systems.ns_rest.get(f"/record/v1/{rtype}/{order_id}", params={"expandSubResources": "true"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def order_calls(systems: Systems, rtype: str = "salesorder") -> int:
    rows = systems.ns_log().get("requests", systems.ns_log().get("counts", []))
    return sum(int(r["count"]) for r in rows if rtype in r["route"].lower())


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
    # the account was not linked: its customer was created first, in the same pass
    assert [(c["id"], c["companyname"], c["externalid"]) for c in systems.ns_customers()] == \
        [(customer_id, "Acme Rockets", acct)]
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


def test_payment_terms_come_from_the_opportunity_else_netsuite_applies_the_customers(
        systems: Systems, tmp_path: Path) -> None:
    config = config_for(systems, tmp_path)
    items = catalog(systems, config)
    acct, first = win(systems, [(items["SVC-1"][1], 1, 100.0, None, "Set-up day")], Payment_Terms__c="Net 60")
    assert sync(config).ok
    order = get_order(systems, systems.sf_get("Opportunity", first)["NetSuite_Order_Id__c"])
    assert (order["terms"]["id"], order["terms"]["refName"]) == ("3", "Net 60")
    # finance gives the customer Net 15; a deal without terms of its own gets the customer's
    systems.ns_update("customer", order["entity"]["id"], {"terms": {"id": "1"}})
    _, second = win(systems, [(items["SVC-1"][1], 2, 100.0, None, "Two days")], account=acct)
    assert sync(config).ok
    order = get_order(systems, systems.sf_get("Opportunity", second)["NetSuite_Order_Id__c"])
    assert (order["externalId"], order["terms"]["refName"]) == (second, "Net 15")
    systems.clear_logs()
    assert sync(config).ok
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}


def test_unknown_payment_terms_dead_letter_the_deal_naming_the_value_and_the_table(
        systems: Systems, tmp_path: Path) -> None:
    config = config_for(systems, tmp_path)
    items = catalog(systems, config)
    _, opp = win(systems, [(items["SVC-1"][1], 1, 100.0, None, "Set-up day")], Payment_Terms__c="Net 45")
    systems.clear_logs()
    summary = sync(config)
    assert order_calls(systems) == 0
    [letter] = asyncio.run(services.dlq_list(config, link="orders"))
    assert letter.source_id == opp and letter.step.value == "map"
    assert "'Net 45'" in letter.error_message
    assert "options.lookups.terms of link orders" in letter.error_message
    assert [o.outcome.value for o in summary.links["orders"].outcomes if o.id == opp] == ["dead_lettered"]
    # the table gets the account's own term: the retried deal goes through
    fixed = config_for(systems, tmp_path, **{'"1% 10 Net 30": "5"}': '"1% 10 Net 30": "5", "Net 45": "3"}'})
    asyncio.run(services.dlq_retry(fixed, [letter.id]))
    order_id = systems.sf_get("Opportunity", opp)["NetSuite_Order_Id__c"]
    assert get_order(systems, order_id)["terms"]["id"] == "3"


def test_the_template_set_to_invoice_creates_a_final_invoice_and_writes_it_back(
        systems: Systems, tmp_path: Path) -> None:
    config = config_for(systems, tmp_path, **{"netsuite: salesOrder": "netsuite: invoice"})
    items = catalog(systems, config)
    acct, opp = win(systems, [(items["WID-1"][1], 3, 10.0, 15.0, "Widgets, 15% off"),
                              (items["SVC-1"][1], 1, 100.0, None, "Set-up day")], Payment_Terms__c="Net 30")
    systems.clear_logs()
    assert sync(config).ok
    assert order_calls(systems) == 0
    row = systems.sf_get("Opportunity", opp)
    invoice = get_order(systems, row["NetSuite_Order_Id__c"], "invoice")
    assert invoice["externalId"] == opp
    assert invoice["entity"]["id"] == systems.sf_get("Account", acct)["NetSuite_Id__c"]
    assert (invoice["tranDate"], invoice["otherRefNum"], invoice["terms"]["refName"], invoice["dueDate"],
            invoice["subsidiary"]["id"], invoice["currency"]["id"]) == \
        ("2025-03-31", "PO-77", "Net 30", "2025-04-30", "2", "1")
    lines = [(ln["item"]["id"], ln["quantity"], ln["rate"], ln["description"])
             for ln in invoice["item"]["items"]]
    assert lines == [(items["WID-1"][0], 3, 8.5, "Widgets, 15% off"),
                     (items["SVC-1"][0], 1, 100, "Set-up day")]
    assert invoice["total"] == row["Amount"] == invoice["amountRemaining"] == 125.5
    assert (row["NetSuite_Order_Number__c"], row["NetSuite_Order_Status__c"]) == (invoice["tranId"], "Open")
    assert invoice["tranId"].startswith("INV")
    systems.clear_logs()
    assert sync(config).ok
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}
    # an invoice is final: any later change raises a review and is not written
    systems.sf_update("Opportunity", opp, {"PO_Number__c": "PO-78"})
    systems.clear_logs()
    assert sync(config).ok
    assert systems.writes()["netsuite"] == 0
    assert systems.ns_get("invoice", invoice["id"])["otherRefNum"] == "PO-77"
    [review] = asyncio.run(services.reviews_list(config, link="orders"))
    reason = guard_reason(review)
    assert review.record_id == opp and reason is not None
    assert reason.startswith(f"netsuite invoice {invoice['id']} is frozen") and "PO_Number__c" in reason


def test_discounts_as_discount_item_lines_by_setting(systems: Systems, tmp_path: Path) -> None:
    discount = systems.ns_create("discountItem", {"itemId": "Deal discount", "rate": "-5%",
                                                  "subsidiary": {"items": [{"id": "2"}]}})
    config = config_for(systems, tmp_path, **{"discount_item: null": f'discount_item: "{discount}"'})
    items = catalog(systems, config)
    _, opp = win(systems, [(items["WID-1"][1], 3, 10.0, 15.0, "Widgets"),
                           (items["SVC-1"][1], 1, 100.0, None, "Set-up day"),
                           (items["SVC-1"][1], 7, 33.33, 12.5, "Support days")])
    summary = sync(config)
    assert summary.ok, summary
    row = systems.sf_get("Opportunity", opp)
    order = get_order(systems, row["NetSuite_Order_Id__c"])
    lines = [(ln["item"]["id"], ln.get("quantity"), ln["rate"], ln["amount"])
             for ln in order["item"]["items"]]
    assert lines == [(items["WID-1"][0], 3, 10, 30), (discount, None, -4.5, -4.5),
                     (items["SVC-1"][0], 1, 100, 100),
                     (items["SVC-1"][0], 7, 33.33, 233.31), (discount, None, -29.16, -29.16)]
    assert [ln["description"] for ln in order["item"]["items"]] == \
        ["Widgets", "15% discount", "Set-up day", "Support days", "12.5% discount"]
    assert order["total"] == row["Amount"] == 329.65
    systems.clear_logs()
    again = sync(config)
    assert again.ok and systems.writes() == {"salesforce": 0, "netsuite": 0}, again


def open_balance(systems: Systems, customer: str, amount: float) -> None:
    """An open invoice of ``amount`` for ``customer`` (its balance rises by that much)."""
    item = systems.ns_create("serviceSaleItem", {"itemId": "Consulting", "displayName": "Consulting",
                                                 "subsidiary": {"items": [{"id": "2"}]}})
    systems.ns_create("invoice", {
        "entity": {"id": customer}, "subsidiary": {"id": "2"}, "currency": {"id": "1"},
        "item": {"items": [{"item": {"id": item}, "quantity": 1, "rate": amount}]}})


def test_a_customer_over_its_credit_limit_is_a_review_and_no_order_call(systems: Systems,
                                                                         tmp_path: Path) -> None:
    config = config_for(systems, tmp_path)
    items = catalog(systems, config)
    acct = systems.sf_create("Account", {"Name": "Acme Rockets"})
    assert sync(config).ok
    customer = systems.sf_get("Account", acct)["NetSuite_Id__c"]
    systems.ns_update("customer", customer, {"creditLimit": 10000})
    open_balance(systems, customer, 9000)
    assert systems.ns_get("customer", customer)["balance"] == 9000
    _, opp = win(systems, [(items["SVC-1"][1], 25, 100.0, None, "Days")], account=acct)
    systems.clear_logs()
    summary = sync(config)
    assert order_calls(systems) == 0
    [review] = asyncio.run(services.reviews_list(config, link="orders"))
    assert review.record_id == opp
    assert guard_reason(review) == (
        "credit_limit: customer Acme Rockets balance 9,000.00 + order 2,500.00 exceeds credit limit "
        "10,000.00 (raise the limit or set the customer's credit hold override to OFF in NetSuite, "
        "then retry)")
    assert [o.outcome.value for o in summary.links["orders"].outcomes if o.id == opp] == ["waiting"]
    assert asyncio.run(services.dlq_list(config)) == []
    # finance overrides the hold: the next change of the deal creates the order and closes the review
    systems.ns_update("customer", customer, {"creditHoldOverride": {"id": "OFF"}})
    systems.sf_update("Opportunity", opp, {"Description": "credit approved"})
    assert sync(config).ok
    assert get_order(systems, systems.sf_get("Opportunity", opp)["NetSuite_Order_Id__c"])["total"] == 2500
    assert asyncio.run(services.reviews_list(config, link="orders")) == []

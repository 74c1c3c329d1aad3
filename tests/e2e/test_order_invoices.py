"""Invoice status on the Opportunity, end to end: quote-to-cash makes the sales order, NetSuite invoices
it (``!transform``), and the ``order_invoices`` link of the invoice-status template writes the invoice's
number, status, amounts and due date on the opportunity whose order was invoiced; payments follow on
the next full pass, a quiet pass writes nothing, and an invoice of no such order is skipped, never
creating an opportunity."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ledgerbridge_sandbox.netsuite.seed", reason="the NetSuite sandbox is not complete")

from ledgerbridge.app import services
from ledgerbridge.flows.config import LedgerBridgeConfig

from .conftest import Systems
from .test_quote_to_cash import catalog, win

INVOICE_FIELDS = ("Invoice_Number__c", "Invoice_Status__c", "Amount_Paid__c", "Amount_Remaining__c",
                  "Invoice_Due_Date__c")


def config_for(systems: Systems, tmp_path: Path) -> LedgerBridgeConfig:
    """quote-to-cash (with the templates it requires) plus invoice-status, on these sandboxes."""
    return systems.template("quote-to-cash", tmp_path, also=("invoice-status",))


def sync(config: LedgerBridgeConfig, *, full: bool = False) -> services.SyncSummary:
    return asyncio.run(services.sync(config, full=full))


def invoice_fields(systems: Systems, opp: str) -> dict[str, Any]:
    row = systems.sf_get("Opportunity", opp)
    return {k: row[k] for k in INVOICE_FIELDS}


def pay(systems: Systems, customer: str, invoice: str, amount: float) -> None:
    systems.ns_create("customerPayment", {"customer": {"id": customer}, "payment": amount,
                                          "tranDate": date.today().isoformat(),
                                          "apply": {"items": [{"doc": {"id": invoice}, "apply": True,
                                                               "amount": amount}]}})


def assert_quiet(systems: Systems, config: LedgerBridgeConfig, *, full: bool = False) -> None:
    systems.clear_logs()
    again = sync(config, full=full)
    assert again.ok, again
    assert not again.links["order_invoices"].actions, again.links["order_invoices"]
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}


def test_the_invoice_of_a_won_deals_order_shows_on_the_opportunity_and_follows_payments(
        systems: Systems, tmp_path: Path) -> None:
    config = config_for(systems, tmp_path)
    assert {"orders", "invoice_status", "order_invoices"} <= set(config.links)
    items = catalog(systems, config)
    acct, opp = win(systems, [(items["WID-1"][1], 3, 10.0, 15.0, "Widgets, 15% off"),
                              (items["SVC-1"][1], 1, 100.0, None, "Set-up day")])
    assert sync(config).ok
    order_id = systems.sf_get("Opportunity", opp)["NetSuite_Order_Id__c"]
    customer = systems.sf_get("Account", acct)["NetSuite_Id__c"]
    assert order_id and customer
    assert invoice_fields(systems, opp) == dict.fromkeys(INVOICE_FIELDS)

    # finance approves the order and bills it in full
    systems.ns_update("salesOrder", order_id, {"orderStatus": {"id": "B"}})
    r = systems.ns_rest.post(f"/record/v1/salesOrder/{order_id}/!transform/invoice", json={})
    assert r.status_code == 204, r.text
    inv_id = r.headers["location"].rsplit("/", 1)[-1]
    invoice = systems.ns_get("invoice", inv_id)
    assert invoice["createdFrom"]["id"] == order_id and invoice["total"] == 125.5
    assert invoice["tranId"] == "INV1001" and invoice["dueDate"]

    systems.clear_logs()
    summary = sync(config)
    assert summary.ok, summary
    assert summary.links["order_invoices"].actions == {"link": 1, "update:salesforce": 1}
    assert invoice_fields(systems, opp) == {
        "Invoice_Number__c": "INV1001", "Invoice_Status__c": "Open", "Amount_Paid__c": 0,
        "Amount_Remaining__c": 125.5, "Invoice_Due_Date__c": invoice["dueDate"]}
    assert systems.writes()["netsuite"] == 0
    assert len(systems.sf_query("SELECT Id FROM Opportunity")) == 1
    assert_quiet(systems, config)

    # a part payment; applying it does not touch the invoice's lastModifiedDate in NetSuite, so the
    # template's scheduled full pass is what re-reads it
    pay(systems, customer, inv_id, 50)
    assert sync(config, full=True).ok
    assert invoice_fields(systems, opp) == {
        "Invoice_Number__c": "INV1001", "Invoice_Status__c": "Open", "Amount_Paid__c": 50,
        "Amount_Remaining__c": 75.5, "Invoice_Due_Date__c": invoice["dueDate"]}
    assert_quiet(systems, config, full=True)

    # the rest is paid: the invoice closes
    pay(systems, customer, inv_id, 75.5)
    assert sync(config, full=True).ok
    assert invoice_fields(systems, opp) == {
        "Invoice_Number__c": "INV1001", "Invoice_Status__c": "Paid In Full", "Amount_Paid__c": 125.5,
        "Amount_Remaining__c": 0, "Invoice_Due_Date__c": invoice["dueDate"]}
    assert_quiet(systems, config, full=True)
    assert_quiet(systems, config)


def test_an_invoice_of_no_synced_order_is_skipped_and_creates_no_opportunity(systems: Systems,
                                                                            tmp_path: Path) -> None:
    config = config_for(systems, tmp_path)
    item = systems.ns_create("serviceSaleItem", {"itemId": "SVC-9", "displayName": "Consulting",
                                                 "subsidiary": {"items": [{"id": "2"}]}})
    customer = systems.ns_create("customer", {"companyName": "Direct Billing Co", "subsidiary": {"id": "2"},
                                              "isPerson": False})
    # an opportunity with an order number of its own must not catch an invoice made without an order
    other = systems.sf_create("Opportunity", {"Name": "Elsewhere", "StageName": "Prospecting",
                                              "CloseDate": "2025-03-31", "NetSuite_Order_Id__c": "999"})
    direct = systems.ns_create("invoice", {"entity": {"id": customer},
                                           "item": {"items": [{"item": {"id": item}, "quantity": 1,
                                                               "rate": 80}]}})
    assert systems.ns_get("invoice", direct).get("createdFrom") is None
    systems.clear_logs()
    summary = sync(config)
    assert summary.ok, summary
    [outcome] = [o for o in summary.links["order_invoices"].outcomes if o.id == direct]
    assert (outcome.outcome, outcome.reason) == \
        ("skipped", "no match, and the link does not create on salesforce")
    assert not summary.links["order_invoices"].actions
    assert [r["Id"] for r in systems.sf_query("SELECT Id FROM Opportunity")] == [other]
    assert invoice_fields(systems, other) == dict.fromkeys(INVOICE_FIELDS)
    assert asyncio.run(services.reviews_list(config, link="order_invoices")) == []

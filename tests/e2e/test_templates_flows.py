"""The lead-to-prospect, invoice-status and pipeline-forecast templates, end to end.

Each test renders the shipped template against both sandboxes (free loopback ports, empty seed, zero
latency), changes data the way a user would (through the sandboxes' APIs), runs one pass through
``ledgerbridge.app.services.sync``, checks the exact records and fields on the other side and the
write-back, and checks that a second pass writes nothing (write calls counted from both sandboxes'
request logs).
"""

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
from ledgerbridge_sandbox.salesforce.config import SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.testing import SalesforceSandbox

from .conftest import Systems


def config_for(name: str, systems: Systems, tmp_path: Path) -> LedgerBridgeConfig:
    """The template ``name`` as ``ledgerbridge init --template NAME --sandbox`` writes it, on these ports."""
    return systems.template(name, tmp_path)


def sync(config: LedgerBridgeConfig, *, full: bool = False) -> services.SyncSummary:
    return asyncio.run(services.sync(config, full=full))


def assert_second_pass_writes_nothing(systems: Systems, config: LedgerBridgeConfig) -> None:
    systems.clear_logs()
    again = sync(config)
    assert again.ok, again
    assert all(not link.actions for link in again.links.values()), \
        {name: link.actions for name, link in again.links.items() if link.actions}
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}


def suiteql(systems: Systems, q: str) -> list[dict[str, Any]]:
    r = systems.ns_rest.post("/query/v1/suiteql", headers={"Prefer": "transient"}, json={"q": q})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def ns_ui_edit(systems: Systems, rtype: str, rid: str, fields: dict[str, Any]) -> None:
    """An edit made in the NetSuite UI (source userInterface)."""
    r = systems.ns.admin("PATCH", f"ui/record/{rtype}/{rid}", json=fields)
    assert r.status_code < 300, r.text


# -- invoice-status ---------------------------------------------------------------------------------

ACCOUNT_STATUS = ("Open_Balance__c", "Overdue_Balance__c", "Days_Overdue__c", "Credit_Limit__c",
                  "Credit_Hold__c")


def test_invoice_status_brings_balances_overdue_and_credit_hold_to_the_linked_account(
        systems: Systems, tmp_path: Path):
    config = config_for("invoice-status", systems, tmp_path)
    today = date.today()
    item = systems.ns_create("serviceSaleItem", {"itemId": "SVC-1", "displayName": "Setup"})
    cust = systems.ns_create("customer", {"companyName": "Payer Inc", "subsidiary": {"id": "2"},
                                          "isPerson": False, "creditLimit": 500})
    # linked the way accounts-customers leaves it: the account carries the customer's internal id
    acct = systems.sf_create("Account", {"Name": "Payer Inc", "NetSuite_Id__c": cust})
    bystander = systems.sf_create("Account", {"Name": "Untouched Ltd"})

    def invoice(due: date, rate: float) -> str:
        return systems.ns_create("invoice", {"entity": {"id": cust}, "dueDate": due.isoformat(),
                                             "tranDate": (due - timedelta(days=30)).isoformat(),
                                             "item": {"items": [{"item": {"id": item}, "quantity": 1,
                                                                 "rate": rate}]}})

    def account() -> dict[str, Any]:
        row = systems.sf_get("Account", acct)
        return {k: row[k] for k in ACCOUNT_STATUS}

    late = invoice(today - timedelta(days=10), 400)
    invoice(today + timedelta(days=20), 300)
    systems.clear_logs()
    summary = sync(config)
    assert summary.ok, summary
    assert summary.actions == {"link": 1, "update:salesforce": 1}
    # 700 open, 400 of it 10 days late; AUTO credit hold: the balance is above the 500 limit
    assert account() == {"Open_Balance__c": 700, "Overdue_Balance__c": 400, "Days_Overdue__c": 10,
                         "Credit_Limit__c": 500, "Credit_Hold__c": True}
    assert systems.writes()["netsuite"] == 0  # one way: nothing is written to NetSuite
    untouched = systems.sf_get("Account", bystander)
    assert [untouched[k] for k in ACCOUNT_STATUS] == [None, None, None, None, False]
    assert_second_pass_writes_nothing(systems, config)

    # the late invoice is paid: NetSuite does not touch the customer's lastModifiedDate for derived
    # balances, so the scheduled full pass (`ledgerbridge sync --full`) is what re-reads it
    systems.ns_create("customerPayment", {"customer": {"id": cust}, "payment": 400,
                                          "tranDate": today.isoformat(),
                                          "apply": {"items": [{"doc": {"id": late}, "apply": True,
                                                               "amount": 400}]}})
    assert sync(config, full=True).ok
    assert account() == {"Open_Balance__c": 300, "Overdue_Balance__c": 0, "Days_Overdue__c": 0,
                         "Credit_Limit__c": 500, "Credit_Hold__c": False}
    assert_second_pass_writes_nothing(systems, config)

    # finance lowers the limit and puts the customer on hold by hand in the NetSuite UI
    ns_ui_edit(systems, "customer", cust, {"creditLimit": 250, "creditHoldOverride": "ON"})
    assert sync(config).ok
    assert account() == {"Open_Balance__c": 300, "Overdue_Balance__c": 0, "Days_Overdue__c": 0,
                         "Credit_Limit__c": 250, "Credit_Hold__c": True}
    # OFF releases the hold even above the limit
    ns_ui_edit(systems, "customer", cust, {"creditHoldOverride": "OFF"})
    assert sync(config).ok
    assert account()["Credit_Hold__c"] is False
    assert_second_pass_writes_nothing(systems, config)


def test_invoice_status_customer_without_a_linked_account_is_reviewed_or_skipped_never_created(
        systems: Systems, tmp_path: Path):
    config = config_for("invoice-status", systems, tmp_path)
    acct = systems.sf_create("Account", {"Name": "Umbrella Industries"})  # never linked to NetSuite
    similar = systems.ns_create("customer", {"companyName": "Umbrella Industries EU",
                                             "subsidiary": {"id": "2"}, "isPerson": False})
    stranger = systems.ns_create("customer", {"companyName": "Zyxw Holdings", "subsidiary": {"id": "2"},
                                              "isPerson": False})
    systems.clear_logs()
    summary = sync(config)
    assert summary.ok, summary
    outcomes = {o.id: o for link in summary.links.values() for o in link.outcomes}
    # a similar, unlinked account: a person decides (nothing is written until then)
    assert outcomes[similar].outcome == "waiting"
    assert outcomes[similar].reason.startswith("match review: 1 candidate(s)")
    [review] = asyncio.run(services.reviews_list(config))
    assert (review.link, review.record_id, [c.id for c in review.candidates]) == \
        ("invoice_status", similar, [acct])
    # no similar account at all: skipped with the reason, no Account is created
    assert (outcomes[stranger].outcome, outcomes[stranger].reason) == \
        ("skipped", "no match, and the link does not create on salesforce")
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}
    assert [r["Id"] for r in systems.sf_query("SELECT Id FROM Account")] == [acct]
    assert systems.sf_get("Account", acct)["Credit_Limit__c"] is None


# -- pipeline-forecast ------------------------------------------------------------------------------

def test_pipeline_forecast_mirrors_open_opportunities_and_closes_lost_ones(systems: Systems, tmp_path: Path):
    config = config_for("pipeline-forecast", systems, tmp_path)
    close = date.today() + timedelta(days=30)
    acct = systems.sf_create("Account", {"Name": "Acme Rockets", "Website": "https://acme.example"})
    idle = systems.sf_create("Account", {"Name": "No Deals Co"})  # no opportunity: stays out of NetSuite
    opp = systems.sf_create("Opportunity", {"Name": "Rockets Q3", "AccountId": acct,
                                            "StageName": "Proposal/Price Quote", "Amount": 12500,
                                            "CloseDate": close.isoformat()})
    systems.sf_create("Opportunity", {"Name": "Lost early", "AccountId": acct, "StageName": "Closed Lost",
                                      "Amount": 99, "CloseDate": close.isoformat()})
    summary = sync(config)
    assert summary.ok, summary
    assert summary.actions == {"create:netsuite": 2, "update:salesforce": 2}
    cust_id = systems.sf_get("Account", acct)["NetSuite_Id__c"]
    assert systems.sf_get("Account", idle)["NetSuite_Id__c"] is None
    assert [(c["id"], c["companyname"], c["externalid"]) for c in systems.ns_customers()] == \
        [(cust_id, "Acme Rockets", acct)]
    ns_id = systems.sf_get("Opportunity", opp)["NetSuite_Id__c"]
    [row] = suiteql(systems, "SELECT id FROM transaction WHERE type = 'Opprtnty'")
    assert row["id"] == ns_id  # the closed-lost deal that never reached NetSuite is not created there
    ns_opp = systems.ns_get("opportunity", ns_id)
    assert (ns_opp["title"], ns_opp["entity"]["id"], ns_opp["projectedTotal"], ns_opp["probability"],
            ns_opp["expectedCloseDate"], ns_opp["status"]["id"], ns_opp["externalId"],
            ns_opp["custbody_sf_opportunity_id"]) == \
        ("Rockets Q3", cust_id, 12500, 75, close.isoformat(), "A", opp, opp)
    assert_second_pass_writes_nothing(systems, config)

    later = close + timedelta(days=14)
    systems.sf_update("Opportunity", opp, {"StageName": "Negotiation/Review", "Probability": 90,
                                           "Amount": 15000, "CloseDate": later.isoformat()})
    assert sync(config).ok
    ns_opp = systems.ns_get("opportunity", ns_id)
    assert (ns_opp["projectedTotal"], ns_opp["probability"], ns_opp["expectedCloseDate"],
            ns_opp["status"]["id"]) == (15000, 90, later.isoformat(), "A")
    assert_second_pass_writes_nothing(systems, config)

    systems.sf_update("Opportunity", opp, {"StageName": "Closed Lost"})
    assert sync(config).ok
    ns_opp = systems.ns_get("opportunity", ns_id)
    assert (ns_opp["status"]["id"], ns_opp["probability"]) == ("D", 0)
    assert_second_pass_writes_nothing(systems, config)

    # a won deal that was in the pipeline is closed as won there (its order is quote-to-cash's job)
    won = systems.sf_create("Opportunity", {"Name": "Expansion", "AccountId": acct,
                                            "StageName": "Prospecting", "Amount": 4000,
                                            "CloseDate": close.isoformat()})
    assert sync(config).ok
    systems.sf_update("Opportunity", won, {"StageName": "Closed Won"})
    assert sync(config).ok
    ns_won = systems.ns_get("opportunity", systems.sf_get("Opportunity", won)["NetSuite_Id__c"])
    assert (ns_won["status"]["id"], ns_won["probability"], ns_won["entity"]["id"]) == ("C", 100, cust_id)
    assert len(systems.ns_customers()) == 1
    assert_second_pass_writes_nothing(systems, config)


def test_pipeline_forecast_opportunity_without_account_is_a_dead_letter(systems: Systems, tmp_path: Path):
    config = config_for("pipeline-forecast", systems, tmp_path)
    orphan = systems.sf_create("Opportunity", {"Name": "Orphan", "StageName": "Prospecting",
                                               "CloseDate": date.today().isoformat()})
    summary = sync(config)
    assert not summary.ok
    [letter] = asyncio.run(services.dlq_list(config))
    assert (letter.link, letter.source_id, letter.error_code) == ("pipeline", orphan, "USER_ERROR")
    assert "Please enter value(s) for: Customer" in letter.error_message
    assert suiteql(systems, "SELECT id FROM transaction WHERE type = 'Opprtnty'") == []
    assert systems.sf_get("Opportunity", orphan)["NetSuite_Id__c"] is None


def ns_record(systems: Systems, rtype: str, rid: str) -> dict[str, Any]:
    """A NetSuite record with its sublists expanded."""
    r = systems.ns_rest.get(f"/record/v1/{rtype}/{rid}", params={"expandSubResources": "true"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def opportunity_lines(systems: Systems, ns_id: str) -> list[tuple[Any, ...]]:
    lines = ns_record(systems, "opportunity", ns_id)["item"]["items"]
    return [(ln["line"], ln["item"]["id"], ln["quantity"], ln["rate"]) for ln in lines]


def test_pipeline_forecast_puts_the_opportunity_products_on_the_netsuite_opportunity_as_lines(
        systems: Systems, tmp_path: Path):
    config = config_for("pipeline-forecast", systems, tmp_path)
    widget = systems.ns_create("inventoryItem", {"itemId": "WID-1", "displayName": "Widget"})
    setup = systems.ns_create("serviceSaleItem", {"itemId": "SVC-1", "displayName": "Setup"})
    assert sync(config).ok  # the catalog reaches Salesforce as products
    products = {r["NetSuite_Id__c"]: r["Id"]
                for r in systems.sf_query("SELECT Id, NetSuite_Id__c FROM Product2")}
    [book] = systems.sf_query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    loose = systems.sf_create("Product2", {"Name": "Hand-made part", "ProductCode": "HMP-1",
                                           "IsActive": True})  # no NetSuite item
    for product in (*products.values(), loose):
        systems.sf_create("PricebookEntry", {"Pricebook2Id": book["Id"], "Product2Id": product,
                                             "UnitPrice": 10, "IsActive": True})
    close = date.today() + timedelta(days=45)
    acct = systems.sf_create("Account", {"Name": "Acme Rockets"})

    def opportunity(name: str, lines: list[tuple[str, float, float, float | None]]) -> str:
        opp = systems.sf_create("Opportunity", {"Name": name, "AccountId": acct, "StageName": "Prospecting",
                                                "CloseDate": close.isoformat()})
        for product, qty, price, discount in lines:
            row: dict[str, Any] = {"OpportunityId": opp, "Product2Id": product, "Quantity": qty,
                                   "UnitPrice": price}
            if discount is not None:
                row["Discount"] = discount
            systems.sf_create("OpportunityLineItem", row)
        return opp

    opp = opportunity("Rockets Q3", [(products[widget], 3, 100, None), (products[setup], 1, 1000, 10)])
    stray = opportunity("Custom build", [(products[widget], 1, 100, None), (loose, 2, 50, None)])
    summary = sync(config)
    assert summary.ok, summary
    ns_id = systems.sf_get("Opportunity", opp)["NetSuite_Id__c"]
    ns_opp = ns_record(systems, "opportunity", ns_id)
    assert (ns_opp["title"], ns_opp["projectedTotal"], ns_opp["status"]["id"]) == ("Rockets Q3", 1200, "A")
    assert opportunity_lines(systems, ns_id) == [(1, widget, 3, 100), (2, setup, 1, 900)]
    # a product with no NetSuite item: the opportunity waits in review, naming the product
    [review] = asyncio.run(services.reviews_list(config, link="pipeline"))
    reason = guard_reason(review) or ""
    assert review.record_id == stray and reason.startswith("items_linked:") and loose in reason, reason
    assert [o.outcome.value for o in summary.links["pipeline"].outcomes if o.id == stray] == ["waiting"]
    assert systems.sf_get("Opportunity", stray)["NetSuite_Id__c"] is None
    opportunities = suiteql(systems, "SELECT id FROM transaction WHERE type = 'Opprtnty'")
    assert [r["id"] for r in opportunities] == [ns_id]
    # the next pass writes nothing (the waiting opportunity is checked again, and still waits)
    systems.clear_logs()
    again = sync(config)
    assert again.ok and again.actions == {"preflight": 1}, again
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}

    # the rep changes a quantity: the line is updated in place, not added again
    [line] = systems.sf_query(f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{opp}' "
                              f"AND Product2Id = '{products[widget]}'")
    systems.sf_update("OpportunityLineItem", line["Id"], {"Quantity": 5})
    summary = sync(config)
    assert summary.links["pipeline"].actions == {"update:netsuite": 1, "preflight": 1}, summary
    assert opportunity_lines(systems, ns_id) == [(1, widget, 5, 100), (2, setup, 1, 900)]
    assert ns_record(systems, "opportunity", ns_id)["projectedTotal"] == 1400

    # finance adds the missing item (same code), the catalog links it, and the held opportunity goes
    part = systems.ns_create("nonInventorySaleItem", {"itemId": "HMP-1", "displayName": "Hand-made part"})
    assert sync(config).ok
    systems.sf_update("Opportunity", stray, {"NextStep": "Send the quote"})
    assert sync(config).ok
    stray_id = systems.sf_get("Opportunity", stray)["NetSuite_Id__c"]
    assert opportunity_lines(systems, stray_id) == [(1, widget, 1, 100), (2, part, 2, 50)]
    assert asyncio.run(services.reviews_list(config, link="pipeline")) == []

    # the rep removes a product: its NetSuite line goes too (the lines are written whole)
    [gone] = systems.sf_query(f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{opp}' "
                              f"AND Product2Id = '{products[setup]}'")
    assert systems.sf_rest.delete(f"/sobjects/OpportunityLineItem/{gone['Id']}").status_code == 204
    assert sync(config).ok
    assert opportunity_lines(systems, ns_id) == [(1, widget, 5, 100)]
    assert ns_record(systems, "opportunity", ns_id)["projectedTotal"] == 500
    assert_second_pass_writes_nothing(systems, config)


# -- lead-to-prospect -------------------------------------------------------------------------------

def sf_admin(systems: Systems, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = systems.admin.post(f"{systems.sf.url}/__sandbox__/{path}", json=body or {})
    assert r.status_code < 300, r.text
    return dict(r.json())


def test_lead_to_prospect_qualifies_then_relinks_the_prospect_to_the_converted_account_and_contact(
        systems: Systems, tmp_path: Path):
    config = config_for("lead-to-prospect", systems, tmp_path)
    lead = systems.sf_create("Lead", {"LastName": "Coyote", "FirstName": "Wile", "Company": "Acme Rockets",
                                      "Email": "Wile@Acme-Rockets.example", "Phone": "+1 415 555 0100",
                                      "Website": "https://acme-rockets.example", "Lead_Score__c": 40})
    systems.clear_logs()
    summary = sync(config)
    assert summary.ok and not summary.actions, summary  # below the threshold: nothing happens
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}

    systems.sf_update("Lead", lead, {"Lead_Score__c": 70})  # reaches the threshold
    summary = sync(config)
    assert summary.ok, summary
    assert summary.actions == {"create:netsuite": 1, "update:salesforce": 1}
    prospect_id = systems.sf_get("Lead", lead)["NetSuite_Id__c"]
    prospect = systems.ns_get("customer", prospect_id)
    assert (prospect["companyName"], prospect["firstName"], prospect["lastName"], prospect["email"],
            prospect["phone"], prospect["url"], prospect["isPerson"], prospect["subsidiary"]["id"]) == \
        ("Acme Rockets", "Wile", "Coyote", "wile@acme-rockets.example", "+1 415 555 0100",
         "https://acme-rockets.example", False, "2")
    assert (prospect["entityStatus"]["id"], prospect["searchStage"]) == ("8", "Prospect")
    assert (prospect["externalId"], prospect["custentity_sf_lead_id"], prospect["custentity_lead_score"]) == \
        (lead, lead, 70)
    assert_second_pass_writes_nothing(systems, config)

    # the rep converts the lead in Salesforce: a new Account and Contact
    converted = sf_admin(systems, f"leads/{lead}/convert", {"doNotCreateOpportunity": True})
    acct, contact = converted["accountId"], converted["contactId"]
    summary = sync(config)
    assert summary.ok, summary
    assert summary.actions == {"update:netsuite": 1, "link": 2, "create:netsuite": 1, "update:salesforce": 2}
    # the accounts link adopts the prospect by external id, and so does prospect_accounts (from the
    # customer's side): neither creates a customer, and the prospect keeps its stage
    assert {(name, o.id, o.reason) for name, link in summary.links.items() for o in link.outcomes
            if o.action == "link"} == {("accounts", acct, "external_id"),
                                       ("prospect_accounts", prospect_id, "external_id")}
    # the prospect now belongs to the account: same customer, never a second one
    assert [(c["id"], c["externalid"]) for c in systems.ns_customers()] == [(prospect_id, acct)]
    assert systems.sf_get("Account", acct)["NetSuite_Id__c"] == prospect_id
    prospect = systems.ns_get("customer", prospect_id)
    assert (prospect["companyName"], prospect["entityStatus"]["id"], prospect["custentity_sf_lead_id"]) == \
        ("Acme Rockets", "8", lead)
    # the converted Contact is a NetSuite contact of that customer
    ns_contact_id = systems.sf_get("Contact", contact)["NetSuite_Id__c"]
    ns_contact = systems.ns_get("contact", ns_contact_id)
    assert (ns_contact["firstName"], ns_contact["lastName"], ns_contact["email"], ns_contact["company"]["id"],
            ns_contact["externalId"]) == ("Wile", "Coyote", "wile@acme-rockets.example", prospect_id, contact)
    assert_second_pass_writes_nothing(systems, config)
    # a later edit of the account reaches the same customer
    systems.sf_update("Account", acct, {"Phone": "+1 415 555 0199"})
    assert sync(config).ok
    assert systems.ns_get("customer", prospect_id)["phone"] == "+1 415 555 0199"
    assert len(systems.ns_customers()) == 1
    assert_second_pass_writes_nothing(systems, config)


def test_lead_to_prospect_qualified_lead_without_email_is_a_dead_letter(systems: Systems, tmp_path: Path):
    config = config_for("lead-to-prospect", systems, tmp_path)
    lead = systems.sf_create("Lead", {"LastName": "Nomail", "Company": "Silent Partners",
                                      "Lead_Score__c": 95})
    summary = sync(config)
    assert not summary.ok
    [letter] = asyncio.run(services.dlq_list(config))
    assert (letter.link, letter.source_id) == ("leads", lead)
    assert "a qualified lead needs an email to become a NetSuite prospect" in letter.error_message
    assert systems.ns_customers() == []
    assert systems.sf_get("Lead", lead)["NetSuite_Id__c"] is None


def test_lead_to_prospect_first_sales_order_makes_the_prospect_a_customer_and_it_stays_one(
        systems: Systems, tmp_path: Path):
    config = config_for("lead-to-prospect", systems, tmp_path)
    item = systems.ns_create("serviceSaleItem", {"itemId": "SVC-1", "displayName": "Setup"})
    lead = systems.sf_create("Lead", {"LastName": "Coyote", "FirstName": "Wile", "Company": "Acme Rockets",
                                      "Email": "wile@acme-rockets.example", "Lead_Score__c": 80})
    assert sync(config).ok
    prospect_id = systems.sf_get("Lead", lead)["NetSuite_Id__c"]
    assert systems.ns_get("customer", prospect_id)["searchStage"] == "Prospect"

    # finance books the first order for the prospect in NetSuite: NetSuite makes it a customer
    systems.ns_create("salesOrder", {"entity": {"id": prospect_id}, "subsidiary": {"id": "2"},
                                     "item": {"items": [{"item": {"id": item}, "quantity": 1, "rate": 500}]}})
    customer = systems.ns_get("customer", prospect_id)
    assert (customer["entityStatus"]["id"], customer["searchStage"]) == ("13", "Customer")
    assert_second_pass_writes_nothing(systems, config)

    # the rep keeps working the lead: its score reaches NetSuite, the customer stage is kept
    systems.sf_update("Lead", lead, {"Lead_Score__c": 95})
    summary = sync(config)
    assert summary.ok, summary
    assert summary.actions == {"update:netsuite": 1}, summary
    customer = systems.ns_get("customer", prospect_id)
    assert (customer["custentity_lead_score"], customer["entityStatus"]["id"], customer["searchStage"]) == \
        (95, "13", "Customer")
    assert asyncio.run(services.dlq_list(config)) == []
    assert_second_pass_writes_nothing(systems, config)

    # converting the lead relinks the same customer to the new account, still at the customer stage
    converted = sf_admin(systems, f"leads/{lead}/convert", {"doNotCreateOpportunity": True})
    assert sync(config).ok
    assert [(c["id"], c["externalid"]) for c in systems.ns_customers()] == \
        [(prospect_id, converted["accountId"])]
    assert systems.sf_get("Account", converted["accountId"])["NetSuite_Id__c"] == prospect_id
    assert systems.ns_get("customer", prospect_id)["searchStage"] == "Customer"
    assert_second_pass_writes_nothing(systems, config)


def test_lead_to_prospect_qualified_contact_makes_its_account_a_prospect(systems: Systems, tmp_path: Path):
    config = config_for("lead-to-prospect", systems, tmp_path)
    acct = systems.sf_create("Account", {"Name": "Initech", "Website": "https://initech.example",
                                         "Phone": "+1 512 555 0100"})
    bystander = systems.sf_create("Account", {"Name": "Quiet Co"})
    contact = systems.sf_create("Contact", {"AccountId": acct, "FirstName": "Bill", "LastName": "Lumbergh",
                                            "Email": "Bill@Initech.example", "Lead_Score__c": 40})
    systems.sf_create("Contact", {"AccountId": bystander, "LastName": "Nobody", "Lead_Score__c": 10})
    systems.sf_create("Contact", {"LastName": "Loner", "Email": "loner@example.com", "Lead_Score__c": 99})
    systems.clear_logs()
    summary = sync(config)
    assert summary.ok and not summary.actions, summary  # nobody qualified with an account
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}

    # marketing's scoring raises the contact over the threshold; the account itself does not change
    systems.sf_update("Contact", contact, {"Lead_Score__c": 75})
    summary = sync(config)
    assert summary.ok, summary
    prospect_id = systems.sf_get("Account", acct)["NetSuite_Id__c"]
    assert [(c["id"], c["companyname"], c["externalid"], c["url"]) for c in systems.ns_customers()] == \
        [(prospect_id, "Initech", acct, "https://initech.example")]
    prospect = systems.ns_get("customer", prospect_id)
    assert (prospect["entityStatus"]["id"], prospect["searchStage"], prospect["phone"], prospect["isPerson"],
            prospect["subsidiary"]["id"]) == ("8", "Prospect", "+1 512 555 0100", False, "2")
    ns_contact_id = systems.sf_get("Contact", contact)["NetSuite_Id__c"]
    ns_contact = systems.ns_get("contact", ns_contact_id)
    assert (ns_contact["firstName"], ns_contact["lastName"], ns_contact["email"], ns_contact["company"]["id"],
            ns_contact["externalId"]) == ("Bill", "Lumbergh", "bill@initech.example", prospect_id, contact)
    assert systems.sf_get("Account", bystander)["NetSuite_Id__c"] is None
    # the next pass writes nothing; the accounts link adopts the pair (by external id) from now on
    systems.clear_logs()
    summary = sync(config)
    assert summary.ok and summary.actions == {"link": 1}, summary
    assert [(o.id, o.reason) for o in summary.links["accounts"].outcomes if o.action == "link"] == \
        [(acct, "external_id")]
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}
    assert_second_pass_writes_nothing(systems, config)

    # a second contact of that account follows it into NetSuite; the account is not created twice
    peter = systems.sf_create("Contact", {"AccountId": acct, "FirstName": "Peter", "LastName": "Gibbons",
                                          "Email": "peter@initech.example"})
    systems.sf_update("Account", acct, {"Phone": "+1 512 555 0199"})
    assert sync(config).ok
    assert len(systems.ns_customers()) == 1
    assert systems.ns_get("customer", prospect_id)["phone"] == "+1 512 555 0199"
    assert systems.ns_get("contact", systems.sf_get("Contact", peter)["NetSuite_Id__c"])["company"]["id"] == \
        prospect_id
    assert_second_pass_writes_nothing(systems, config)


def test_lead_to_prospect_qualified_contact_of_an_account_whose_customer_exists_links_it_never_a_second(
        systems: Systems, tmp_path: Path):
    config = config_for("lead-to-prospect", systems, tmp_path)
    item = systems.ns_create("serviceSaleItem", {"itemId": "SVC-1", "displayName": "Setup"})
    # finance keeps Initech as a customer in NetSuite already (first order booked, so at the customer
    # stage); nobody linked it to the Salesforce account
    existing = systems.ns_create("customer", {"companyName": "Initech", "subsidiary": {"id": "2"},
                                              "phone": "+1 512 555 0100"})
    systems.ns_create("salesOrder", {"entity": {"id": existing}, "subsidiary": {"id": "2"},
                                     "item": {"items": [{"item": {"id": item}, "quantity": 1, "rate": 500}]}})
    # and a customer another link created from an account (externalId = the account id)
    globex = systems.sf_create("Account", {"Name": "Globex Corporation"})
    created = systems.ns_create("customer", {"companyName": "Globex (HQ)", "subsidiary": {"id": "2"},
                                             "externalId": globex})
    initech = systems.sf_create("Account", {"Name": "INITECH", "Phone": "+1 512 555 0199"})
    bill = systems.sf_create("Contact", {"AccountId": initech, "FirstName": "Bill", "LastName": "Lumbergh",
                                         "Email": "bill@initech.example", "Lead_Score__c": 80})
    hank = systems.sf_create("Contact", {"AccountId": globex, "FirstName": "Hank", "LastName": "Scorpio",
                                         "Email": "hank@globex.example", "Lead_Score__c": 90})
    summary = sync(config)
    assert summary.ok, summary
    assert asyncio.run(services.dlq_list(config)) == []
    # no customer was created: each account is linked to the customer that was there
    assert sorted(c["id"] for c in systems.ns_customers()) == sorted([existing, created])
    assert systems.sf_get("Account", initech)["NetSuite_Id__c"] == existing
    assert systems.sf_get("Account", globex)["NetSuite_Id__c"] == created
    customer = systems.ns_get("customer", existing)
    # the account's values reach the customer; its stage is NetSuite's (create_only), not the prospect's
    assert (customer["companyName"], customer["phone"], customer["entityStatus"]["id"],
            customer["searchStage"]) == ("INITECH", "+1 512 555 0199", "13", "Customer")
    for contact, parent in ((bill, existing), (hank, created)):
        ns_contact = systems.ns_get("contact", systems.sf_get("Contact", contact)["NetSuite_Id__c"])
        assert ns_contact["company"]["id"] == parent
    # the next pass writes nothing; the accounts link adopts Initech (by external id) from now on
    systems.clear_logs()
    summary = sync(config)
    assert summary.ok and summary.actions == {"link": 1}, summary
    assert [(o.id, o.reason) for o in summary.links["accounts"].outcomes if o.action == "link"] == \
        [(initech, "external_id")]
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}
    assert_second_pass_writes_nothing(systems, config)


def test_lead_to_prospect_qualified_lead_without_company_is_a_dead_letter(systems: Systems, tmp_path: Path):
    # Company is optional on leads in orgs with person accounts; this org's schema says so
    schema = tmp_path / "person-accounts.yaml"
    schema.write_text("objects:\n  Lead:\n    fields:\n      Company: {required: false}\n", encoding="utf-8")
    with SalesforceSandbox(SalesforceSandboxConfig(seed="empty", schema_files=(schema,))) as sf:
        org = Systems(sf, systems.ns)
        try:
            org.reset()
            config = config_for("lead-to-prospect", org, tmp_path)
            lead = org.sf_create("Lead", {"LastName": "Solo", "Email": "solo@example.com",
                                          "Lead_Score__c": 90})
            good = org.sf_create("Lead", {"LastName": "Duo", "Company": "Duo Partners",
                                          "Email": "duo@example.com", "Lead_Score__c": 90})
            summary = sync(config)
            assert not summary.ok
            [letter] = asyncio.run(services.dlq_list(config))
            assert (letter.link, letter.source_id, letter.step) == ("leads", lead, "map")
            assert "a qualified lead needs a Company to become a NetSuite prospect" in letter.error_message
            # the other lead is not held up
            assert [c["companyname"] for c in org.ns_customers()] == ["Duo Partners"]
            assert org.sf_get("Lead", good)["NetSuite_Id__c"] == org.ns_customers()[0]["id"]
            assert org.sf_get("Lead", lead)["NetSuite_Id__c"] is None
            # once the rep fills in the company, the lead becomes a prospect like any other
            org.sf_update("Lead", lead, {"Company": "Solo Ventures"})
            assert sync(config).ok
            prospect = org.ns_get("customer", org.sf_get("Lead", lead)["NetSuite_Id__c"])
            assert (prospect["companyName"], prospect["searchStage"]) == ("Solo Ventures", "Prospect")
            assert asyncio.run(services.dlq_list(config)) == []  # the dead letter is resolved
        finally:
            org.close()

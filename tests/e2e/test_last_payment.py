"""invoice-status: the last payment's date and amount on the Account (the engine's enrich step), end to end.

The shipped template against both sandboxes: a customer linked to its account, invoices, customer
payments recorded through NetSuite REST the way a user's integration or the UI records them; each pass
runs through ``ledgerbridge.app.services.sync`` and the Account's fields are checked exactly, and an
unchanged pass writes nothing (write calls counted from both sandboxes' request logs).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ledgerbridge_sandbox.netsuite.seed", reason="the NetSuite sandbox is not complete")

from ledgerbridge.app import services
from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.wiring import open_runtime
from ledgerbridge.core.records import System, Watermark
from ledgerbridge.flows.config import LedgerBridgeConfig

from .conftest import Systems

FIELDS = ("Last_Payment_Date__c", "Last_Payment_Amount__c")


def invoice_status(systems: Systems, tmp_path: Path) -> LedgerBridgeConfig:
    return systems.template("invoice-status", tmp_path)


def sync(config: LedgerBridgeConfig, *, full: bool = False) -> services.SyncSummary:
    summary = asyncio.run(services.sync(config, ["invoice_status"], full=full))
    assert summary.ok, summary
    return summary


def customer_feed_sees_nothing(config: LedgerBridgeConfig) -> None:
    async def move() -> None:
        async with open_runtime(config) as rt:
            await rt.ops.reset_watermark("invoice_status", System.NETSUITE,
                                         Watermark(datetime.now(UTC) + timedelta(days=1)))

    asyncio.run(move())


def last_payment(systems: Systems, account: str) -> dict[str, Any]:
    row = systems.sf_get("Account", account)
    return {k: row[k] for k in FIELDS}


def test_the_account_shows_the_newest_payment_and_a_pass_over_unchanged_data_writes_nothing(
        systems: Systems, tmp_path: Path):
    config = invoice_status(systems, tmp_path)
    today = date.today()
    item = systems.ns_create("serviceSaleItem", {"itemId": "SVC-1", "displayName": "Setup"})
    payer = systems.ns_create("customer", {"companyName": "Payer Inc", "subsidiary": {"id": "2"},
                                           "isPerson": False})
    never = systems.ns_create("customer", {"companyName": "Never Paid Ltd", "subsidiary": {"id": "2"},
                                           "isPerson": False})
    # linked the way accounts-customers leaves them: each account carries its customer's internal id
    payer_acct = systems.sf_create("Account", {"Name": "Payer Inc", "NetSuite_Id__c": payer})
    never_acct = systems.sf_create("Account", {"Name": "Never Paid Ltd", "NetSuite_Id__c": never})

    def invoice(customer: str, rate: float) -> str:
        return systems.ns_create("invoice", {"entity": {"id": customer}, "tranDate": today.isoformat(),
                                             "dueDate": (today + timedelta(days=30)).isoformat(),
                                             "item": {"items": [{"item": {"id": item}, "quantity": 1,
                                                                 "rate": rate}]}})

    def pay(customer: str, doc: str, amount: float, on: date) -> str:
        return systems.ns_create("customerPayment", {
            "customer": {"id": customer}, "payment": amount, "tranDate": on.isoformat(),
            "apply": {"items": [{"doc": {"id": doc}, "apply": True, "amount": amount}]}})

    first = invoice(payer, 400)
    second = invoice(payer, 300)
    invoice(never, 120)  # owes, never paid
    pay(payer, first, 400, today - timedelta(days=5))

    systems.clear_logs()
    summary = sync(config)
    assert summary.actions == {"link": 2, "update:salesforce": 2}
    five_days_ago = (today - timedelta(days=5)).isoformat()
    assert last_payment(systems, payer_acct) == {"Last_Payment_Date__c": five_days_ago,
                                                 "Last_Payment_Amount__c": 400}
    # a customer who never paid: both fields stay empty (no zero, no date)
    assert last_payment(systems, never_acct) == {"Last_Payment_Date__c": None, "Last_Payment_Amount__c": None}
    assert systems.sf_get("Account", never_acct)["Open_Balance__c"] == 120
    # one SuiteQL query for the page of customers
    assert summary.links["invoice_status"].api_calls["netsuite.query_rows"] == 1
    assert systems.writes()["netsuite"] == 0

    # nothing changed: neither an incremental nor a full pass writes anything
    for full in (False, True):
        systems.clear_logs()
        again = sync(config, full=full)
        assert not again.actions, again
        assert systems.writes() == {"salesforce": 0, "netsuite": 0}

    # a second, newer payment: the customer record itself is untouched (its feed is moved past now so
    # it reports nothing, as on NetSuite, where a payment leaves lastModifiedDate alone); the watched
    # payment makes the next incremental pass look at its customer
    customer_feed_sees_nothing(config)
    pay(payer, second, 250.5, today)
    systems.clear_logs()
    summary = sync(config)
    assert summary.actions == {"update:salesforce": 1}
    assert last_payment(systems, payer_acct) == {"Last_Payment_Date__c": today.isoformat(),
                                                 "Last_Payment_Amount__c": 250.5}
    assert systems.sf_get("Account", payer_acct)["Open_Balance__c"] == 49.5
    assert systems.writes() == {"salesforce": 1, "netsuite": 0}

    # a payment entered later but dated earlier is not the last payment (the balance still moves)
    customer_feed_sees_nothing(config)
    pay(payer, second, 20, today - timedelta(days=40))
    systems.clear_logs()
    summary = sync(config)
    assert summary.actions == {"update:salesforce": 1}
    assert last_payment(systems, payer_acct) == {"Last_Payment_Date__c": today.isoformat(),
                                                 "Last_Payment_Amount__c": 250.5}
    assert systems.sf_get("Account", payer_acct)["Open_Balance__c"] == 29.5
    assert last_payment(systems, never_acct) == {"Last_Payment_Date__c": None, "Last_Payment_Amount__c": None}
    for full in (False, True):
        systems.clear_logs()
        assert not sync(config, full=full).actions
        assert systems.writes() == {"salesforce": 0, "netsuite": 0}


def test_online_validation_runs_the_enrich_query_against_netsuite(systems: Systems, tmp_path: Path):
    config = invoice_status(systems, tmp_path)
    assert asyncio.run(services.check_online(config)) == []
    # a query naming a column NetSuite does not have is reported with its place in the file
    text = systems.template_text("invoice-status", tmp_path)
    text = text.replace("t.foreigntotal", "t.foreignamountremaining")
    broken = load_config_text(text, env={}).config
    problems = asyncio.run(services.check_online(broken))
    assert [(p.path, "foreignamountremaining" in p.message) for p in problems] == \
        [(("links", "invoice_status", "options", "enrich", 0), True)]
    # so is a watch whose via field the watched record type does not have
    typo = load_config_text(text.replace("t.foreignamountremaining", "t.foreigntotal").replace(
        "via: customer}", "via: custmer}"), env={}).config
    assert [(p.path, p.message) for p in asyncio.run(services.check_online(typo))] == \
        [(("links", "invoice_status", "options", "watch", 0),
          "via: netsuite customerPayment has no field 'custmer'")]

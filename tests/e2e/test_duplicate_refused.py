"""A customer NetSuite refuses as a duplicate (``DUP_ENTITY``: the entity ID, derived from the company
name, is taken) becomes a match review naming the existing customer, against both sandboxes with the
accounts-customers template; and two accounts sharing a phone do not link the one customer with it to
the wrong account (the cause of such refusals in the demo)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("ledgerbridge_sandbox.netsuite.seed", reason="the NetSuite sandbox is not complete")

from ledgerbridge.app import services
from ledgerbridge.core.records import System
from ledgerbridge.core.store import DeadLetterStatus
from ledgerbridge.engine.runner import Outcome

from .conftest import Systems


def outcome(summary: services.SyncSummary, link: str, id: str) -> services.RecordOutcome:
    return next(o for o in summary.links[link].outcomes if o.id == id)


def test_a_refused_duplicate_customer_waits_in_a_review_and_linking_it_syncs_account_and_contact(
        systems: Systems, tmp_path: Path):
    config = systems.template("accounts-customers", tmp_path)
    # NetSuite's customer under another company name, but with the account's name as entity ID
    customer = systems.ns_create("customer", {"companyName": "Summit Mfg.",
                                              "entityId": "SUMMIT MANUFACTURING GROUP",
                                              "subsidiary": {"id": "2"}, "isPerson": False})
    acct = systems.sf_create("Account", {"Name": "Summit Manufacturing Group"})
    contact = systems.sf_create("Contact", {"LastName": "Okafor", "Email": "ada.okafor@summit.example",
                                            "AccountId": acct})

    first = asyncio.run(services.sync(config))

    o = outcome(first, "accounts", acct)
    assert o.outcome is Outcome.WAITING, o
    assert o.reason.startswith("refused as a duplicate: match review ")
    # the customer is the review's candidate, so it is not copied to Salesforce either
    held = outcome(first, "accounts", customer)
    assert held.outcome is Outcome.WAITING and held.reason.startswith("candidate in match review"), held
    assert [c["id"] for c in systems.ns_customers()] == [customer]
    assert [a["Id"] for a in systems.sf_query("SELECT Id FROM Account")] == [acct]
    [review] = asyncio.run(services.reviews_list(config))
    assert (review.system, review.record_id) == (System.SALESFORCE, acct)
    [cand] = review.candidates
    assert cand.id == customer and cand.rule == "duplicate:DUP_ENTITY" and cand.details["linked_to"] is None
    assert f"salesforce Account {acct} 'Summit Manufacturing Group' would duplicate netsuite customer " \
           f"{customer} 'Summit Mfg.'" in review.label
    assert "A customer record with this ID already exists" in review.label
    letters = asyncio.run(services.dlq_list(config))
    assert [(d.link, d.source_id) for d in letters] == [("contacts", contact)]
    assert f"match review {review.id} is open" in letters[0].error_message

    linked = asyncio.run(services.review_link(config, review.id, customer))
    assert linked is not None and linked.outcome is Outcome.SYNCED, linked
    assert systems.sf_get("Account", acct)["NetSuite_Id__c"] == customer
    assert systems.ns_get("customer", customer)["companyName"] == "Summit Manufacturing Group"
    # deciding the review retried the contact's letter
    assert all(d.status is not DeadLetterStatus.OPEN for d in asyncio.run(services.dlq_list(config)))
    ns_contact = systems.sf_get("Contact", contact)["NetSuite_Id__c"]
    assert systems.ns_get("contact", ns_contact)["company"]["id"] == customer

    systems.clear_logs()
    again = asyncio.run(services.sync(config))
    assert again.ok, again
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}
    assert len(systems.ns_customers()) == 1


def test_two_accounts_sharing_a_phone_leave_the_customer_to_the_one_whose_name_it_has(
        systems: Systems, tmp_path: Path):
    config = systems.template("accounts-customers", tmp_path)
    customer = systems.ns_create("customer", {"companyName": "Summit Manufacturing Group",
                                              "phone": "+49 30 90182048", "subsidiary": {"id": "2"},
                                              "isPerson": False})
    contoso = systems.sf_create("Account", {"Name": "Contoso Software Group", "Phone": "+49 30 90182048"})
    summit = systems.sf_create("Account", {"Name": "Summit Manufacturing Group", "Phone": "+49 30 90182048"})

    summary = asyncio.run(services.sync(config))

    assert summary.ok, summary
    assert systems.sf_get("Account", summit)["NetSuite_Id__c"] == customer
    assert systems.sf_get("Account", contoso)["NetSuite_Id__c"] is None
    assert systems.ns_get("customer", customer)["companyName"] == "Summit Manufacturing Group"
    assert outcome(summary, "accounts", contoso).outcome is Outcome.WAITING
    [review] = asyncio.run(services.reviews_list(config))
    assert review.record_id == contoso
    assert [(c.id, c.rule) for c in review.candidates] == [(customer, "key:phone")]
    assert asyncio.run(services.dlq_list(config)) == []

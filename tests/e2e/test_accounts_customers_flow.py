"""The accounts-customers template end to end: parent accounts, payment terms, addresses and contacts
in both directions, against both sandboxes over loopback.

Changes are made the way a person's tool makes them (each sandbox's REST API); each step checks the
exact fields on the other side and that the next pass writes nothing (counted from the sandboxes'
request logs).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ledgerbridge_sandbox.netsuite.seed", reason="the NetSuite sandbox is not complete")

from ledgerbridge.app import services
from ledgerbridge.flows.config import LedgerBridgeConfig

from .conftest import Systems


def config_for(systems: Systems, tmp_path: Path) -> LedgerBridgeConfig:
    return systems.template("accounts-customers", tmp_path)


def sync(config: LedgerBridgeConfig) -> services.SyncSummary:
    summary = asyncio.run(services.sync(config))
    assert summary.ok, summary
    return summary


def assert_next_pass_writes_nothing(systems: Systems, config: LedgerBridgeConfig) -> None:
    systems.clear_logs()
    again = sync(config)
    assert all(not link.actions for link in again.links.values()), again
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}


def customer_of(systems: Systems, account_id: str) -> dict[str, Any]:
    ns_id = systems.sf_get("Account", account_id)["NetSuite_Id__c"]
    assert ns_id, f"account {account_id} has no NetSuite id"
    return ns_record(systems, "customer", ns_id)


def ns_record(systems: Systems, rtype: str, rid: str) -> dict[str, Any]:
    """A NetSuite record with its sublists expanded."""
    r = systems.ns_rest.get(f"/record/v1/{rtype}/{rid}", params={"expandSubResources": "true"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def billing(customer: dict[str, Any]) -> dict[str, Any]:
    [line] = [a for a in customer["addressBook"]["items"] if a.get("defaultBilling")]
    return dict(line["addressBookAddress"])


def test_parent_account_terms_and_billing_address_flow_both_ways(systems: Systems, tmp_path: Path):
    config = config_for(systems, tmp_path)
    parent = systems.sf_create("Account", {"Name": "Globex Holdings", "BillingStreet": "1 Main St",
                                           "BillingCity": "Springfield", "BillingCountry": "US"})
    sync(config)
    holding = customer_of(systems, parent)
    assert (holding["companyName"], holding.get("parent"), holding.get("terms")) == \
        ("Globex Holdings", None, None)
    assert {k: v for k, v in billing(holding).items() if k != "links"} == {
        "addr1": "1 Main St", "city": "Springfield", "country": {"id": "US", "refName": "United States"},
        "addrText": "1 Main St\nSpringfield\nUnited States"}
    assert len(holding["addressBook"]["items"]) == 1
    assert_next_pass_writes_nothing(systems, config)

    # a subsidiary account under the holding: its customer is a sub-customer of the holding's
    child = systems.sf_create("Account", {"Name": "Globex Europe", "ParentId": parent})
    sync(config)
    europe = customer_of(systems, child)
    assert (europe["companyName"], europe["parent"]["id"], europe["externalId"]) == \
        ("Globex Europe", holding["id"], child)
    assert (europe["subsidiary"]["id"], europe["currency"]["id"]) == ("2", "1")
    assert_next_pass_writes_nothing(systems, config)

    # finance sets payment terms in NetSuite: NetSuite owns them, Salesforce shows the term's name
    systems.ns_update("customer", europe["id"], {"terms": {"id": "3"}, "creditLimit": 50000})
    sync(config)
    account = systems.sf_get("Account", child)
    assert (account["Payment_Terms__c"], account["Credit_Limit__c"], account["ParentId"]) == \
        ("Net 60", 50000, parent)
    assert_next_pass_writes_nothing(systems, config)
    # a sales rep overwriting the terms in Salesforce does not change them in NetSuite
    systems.sf_update("Account", child, {"Payment_Terms__c": "Net 15"})
    sync(config)
    assert customer_of(systems, child)["terms"]["refName"] == "Net 60"

    # finance corrects the holding's billing address in NetSuite: the account follows
    line = holding["addressBook"]["items"][0]["id"]
    systems.ns_update("customer", holding["id"], {"addressBook": {"items": [
        {"id": line,
         "addressBookAddress": {"addr1": "12 Harbour Rd", "city": "Shelbyville", "zip": "54321"}}]}})
    sync(config)
    account = systems.sf_get("Account", parent)
    assert (account["BillingStreet"], account["BillingCity"], account["BillingPostalCode"],
            account["BillingCountry"]) == ("12 Harbour Rd", "Shelbyville", "54321", "US")
    assert_next_pass_writes_nothing(systems, config)
    # and a move recorded in Salesforce becomes the customer's default billing address
    systems.sf_update("Account", parent, {"BillingStreet": "99 New Way"})
    sync(config)
    assert billing(customer_of(systems, parent))["addr1"] == "99 New Way"
    assert_next_pass_writes_nothing(systems, config)

    # the hierarchy changes in NetSuite: Europe moves under another (linked) customer
    other = systems.sf_create("Account", {"Name": "Initech"})
    sync(config)
    initech = customer_of(systems, other)
    systems.ns_update("customer", europe["id"], {"parent": {"id": initech["id"]}})
    sync(config)
    assert systems.sf_get("Account", child)["ParentId"] == other
    assert_next_pass_writes_nothing(systems, config)
    # ... and back in Salesforce
    systems.sf_update("Account", child, {"ParentId": parent})
    sync(config)
    assert customer_of(systems, child)["parent"]["id"] == holding["id"]
    assert [c["companyname"] for c in systems.ns_customers()] == \
        ["Globex Holdings", "Globex Europe", "Initech"]
    assert_next_pass_writes_nothing(systems, config)


def test_contacts_flow_both_ways_under_their_account(systems: Systems, tmp_path: Path):
    config = config_for(systems, tmp_path)
    acct = systems.sf_create("Account", {"Name": "Acme Rockets", "Website": "https://acme-rockets.example"})
    sync(config)
    customer = customer_of(systems, acct)
    # a contact added in NetSuite (say by the A/R clerk) appears on the account in Salesforce
    ns_contact = systems.ns_create("contact", {"firstName": "Road", "lastName": "Runner",
                                               "email": "road@acme-rockets.example", "title": "Payables",
                                               "company": {"id": customer["id"]}, "subsidiary": {"id": "2"}})
    summary = sync(config)
    assert summary.links["contacts"].actions == {"create:salesforce": 1}, summary
    [row] = systems.sf_query("SELECT Id, FirstName, LastName, Email, Title, AccountId, NetSuite_Id__c "
                             "FROM Contact")
    assert (row["FirstName"], row["LastName"], row["Email"], row["Title"], row["AccountId"],
            row["NetSuite_Id__c"]) == ("Road", "Runner", "road@acme-rockets.example", "Payables", acct,
                                       ns_contact)
    assert_next_pass_writes_nothing(systems, config)
    # an edit in Salesforce reaches NetSuite, and one in NetSuite reaches Salesforce
    systems.sf_update("Contact", row["Id"], {"Title": "Head of Payables", "Phone": "+1 415 555 0142"})
    sync(config)
    got = systems.ns_get("contact", ns_contact)
    assert (got["title"], got["phone"], got["company"]["id"]) == \
        ("Head of Payables", "+1 415 555 0142", customer["id"])
    assert_next_pass_writes_nothing(systems, config)
    systems.ns_update("contact", ns_contact, {"email": "r.runner@acme-rockets.example"})
    sync(config)
    assert systems.sf_get("Contact", row["Id"])["Email"] == "r.runner@acme-rockets.example"
    assert_next_pass_writes_nothing(systems, config)


def test_new_parent_and_child_in_one_pass_parent_created_first(systems: Systems, tmp_path: Path):
    config = config_for(systems, tmp_path)
    child = systems.sf_create("Account", {"Name": "Globex Europe"})
    parent = systems.sf_create("Account", {"Name": "Globex Holdings"})
    systems.sf_update("Account", child, {"ParentId": parent})
    summary = asyncio.run(services.sync(config))
    assert asyncio.run(services.dlq_list(config)) == []
    assert summary.ok, summary
    # one outcome each, both created in this pass: the parent first, then the child pointing at it
    created = [(o.id, o.action, o.outcome.value) for o in summary.links["accounts"].outcomes
               if o.system.value == "salesforce"]
    assert created == [(parent, "create", "synced"), (child, "create", "synced")], created
    assert summary.links["accounts"].actions["create:netsuite"] == 2
    parent_customer, child_customer = customer_of(systems, parent), customer_of(systems, child)
    assert child_customer["parent"]["id"] == parent_customer["id"]
    assert int(parent_customer["id"]) < int(child_customer["id"])
    r = systems.ns_rest.post("/query/v1/suiteql", headers={"Prefer": "transient"},
                             json={"q": "SELECT id FROM customer"})
    assert r.status_code == 200, r.text
    ids = sorted(row["id"] for row in r.json()["items"])
    assert ids == sorted([parent_customer["id"], child_customer["id"]])  # no duplicate parent
    assert_next_pass_writes_nothing(systems, config)

"""The shipped flow templates, end to end: CLI/app -> engine -> connectors -> both sandboxes over loopback.

Each test changes data the way a user would (through a sandbox's API), runs one pass of the
rendered template, checks the exact records on the other side, and checks that a second pass
writes nothing (writes counted from the sandboxes' request logs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

pytest.importorskip("ledgerbridge_sandbox.netsuite.seed", reason="the NetSuite sandbox is not complete")

from ledgerbridge.app import services
from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.templates import render
from ledgerbridge.flows.config import LedgerBridgeConfig
from ledgerbridge_sandbox.netsuite.app import create_app as netsuite_app
from ledgerbridge_sandbox.salesforce.app import create_app as salesforce_app
from ledgerbridge_sandbox.salesforce.config import SalesforceSandboxConfig
from ledgerbridge_sandbox.serve import ServerThread


class Sandboxes:
    def __init__(self, sf: ServerThread, ns: ServerThread) -> None:
        self.sf, self.ns = sf, ns
        self.http = httpx.Client(timeout=30)

    def reset(self) -> None:
        for url in (self.sf.url, self.ns.url):
            self.http.post(f"{url}/__sandbox__/reset", json={"seed": "empty"}).raise_for_status()
            self.http.delete(f"{url}/__sandbox__/requests")

    # -- edits as a person makes them -----------------------------------------------------------
    def sf_create(self, sobject: str, fields: dict[str, Any]) -> str:
        r = self.http.post(f"{self.sf.url}/__sandbox__/records/{sobject}", json=fields)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def sf_edit(self, sobject: str, rid: str, fields: dict[str, Any]) -> None:
        r = self.http.patch(f"{self.sf.url}/__sandbox__/records/{sobject}/{rid}", json=fields)
        assert r.status_code < 300, r.text

    def ns_create(self, rtype: str, fields: dict[str, Any]) -> str:
        r = self.http.post(f"{self.ns.url}/__sandbox__/ui/record/{rtype}", json=fields)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def ns_edit(self, rtype: str, rid: str, fields: dict[str, Any]) -> None:
        r = self.http.patch(f"{self.ns.url}/__sandbox__/ui/record/{rtype}/{rid}", json=fields)
        assert r.status_code < 300, r.text

    def ns_get(self, rtype: str, rid: str) -> dict[str, Any]:
        r = self.http.get(f"{self.ns.url}/__sandbox__/ui/record/{rtype}/{rid}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def sf_query(self, soql: str) -> list[dict[str, Any]]:
        token = self.http.post(f"{self.sf.url}/__sandbox__/tokens", json={}).json()["access_token"]
        r = self.http.get(f"{self.sf.url}/services/data/v62.0/query", params={"q": soql},
                          headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return list(r.json()["records"])


@pytest.fixture(scope="module")
def boxes() -> Iterator[Sandboxes]:
    sf = ServerThread(salesforce_app(SalesforceSandboxConfig(seed="empty"))).start()
    ns = ServerThread(netsuite_app(seed="empty")).start()
    try:
        yield Sandboxes(sf, ns)
    finally:
        sf.stop()
        ns.stop()


@pytest.fixture
def env(boxes: Sandboxes) -> Sandboxes:
    boxes.reset()
    return boxes


def config_for(name: str, boxes: Sandboxes, tmp_path: Path) -> LedgerBridgeConfig:
    text = render(name, sandbox=True, salesforce_url=boxes.sf.url, netsuite_url=boxes.ns.url,
                  state_url=f"sqlite:///{tmp_path / 'state.db'}")
    return load_config_text(text, env={}).config


def sync(config: LedgerBridgeConfig) -> services.SyncSummary:
    return asyncio.run(services.sync(config))


def n_writes(summary: services.SyncSummary) -> int:
    """API calls of a pass that write (creates, updates, upserts, deletes) on either side."""
    calls = [link.api_calls for link in summary.links.values()]
    return sum(n for c in calls for op, n in c.items() if op.split(".")[-1] in {"upsert", "delete"})


def assert_second_pass_is_quiet(config: LedgerBridgeConfig) -> None:
    again = sync(config)
    assert again.ok, again
    assert n_writes(again) == 0, again
    assert all(not link.actions for link in again.links.values()), again


def test_accounts_customers_creates_the_customer_and_contact_then_a_second_pass_writes_nothing(
        env: Sandboxes, tmp_path: Path):
    config = config_for("accounts-customers", env, tmp_path)
    acct = env.sf_create("Account", {"Name": "Acme Rockets", "Phone": "+1 415 555 0100",
                                     "Website": "https://www.acme-rockets.example",
                                     "BillingStreet": "1 Main St",
                                     "BillingCity": "Springfield", "BillingPostalCode": "12345",
                                     "BillingCountry": "US"})
    contact = env.sf_create("Contact", {"LastName": "Coyote", "FirstName": "Wile", "AccountId": acct,
                                        "Email": "Wile@Acme-Rockets.example"})
    summary = sync(config)
    assert summary.ok, summary
    [row] = env.sf_query(f"SELECT NetSuite_Id__c FROM Account WHERE Id = '{acct}'")
    customer = env.ns_get("customer", row["NetSuite_Id__c"])
    assert (customer["companyName"], customer["externalId"], customer["url"]) == \
        ("Acme Rockets", acct, "https://www.acme-rockets.example")
    assert customer["subsidiary"]["id"] == "2" and customer["currency"]["id"] == "1"
    [address] = [a for a in customer["addressBook"]["items"] if a.get("defaultBilling")]
    assert address["addressBookAddress"]["addr1"] == "1 Main St"
    assert address["addressBookAddress"]["city"] == "Springfield"
    [c_row] = env.sf_query(f"SELECT NetSuite_Id__c FROM Contact WHERE Id = '{contact}'")
    ns_contact = env.ns_get("contact", c_row["NetSuite_Id__c"])
    assert (ns_contact["lastName"], ns_contact["email"], ns_contact["company"]["id"]) == \
        ("Coyote", "wile@acme-rockets.example", customer["id"])
    assert_second_pass_is_quiet(config)
    # NetSuite owns the credit limit: a finance edit reaches Salesforce
    env.ns_edit("customer", customer["id"], {"creditLimit": 25000})
    assert sync(config).ok
    [row] = env.sf_query(f"SELECT Credit_Limit__c FROM Account WHERE Id = '{acct}'")
    assert row["Credit_Limit__c"] == 25000
    assert_second_pass_is_quiet(config)


def test_catalog_pricing_turns_each_item_type_into_a_product_and_a_bad_item_into_a_dead_letter(
        env: Sandboxes, tmp_path: Path):
    config = config_for("catalog-pricing", env, tmp_path)
    made = {
        "inventoryItem": env.ns_create("inventoryItem", {"itemId": "WID-1", "displayName": "Widget",
                                                         "custitem_product_family": "Hardware"}),
        "nonInventorySaleItem": env.ns_create("nonInventorySaleItem", {"itemId": "LIC-1",
                                                                       "salesDescription": "Licence"}),
        "serviceSaleItem": env.ns_create("serviceSaleItem", {"itemId": "SVC-1", "displayName": "Setup",
                                                             "isInactive": True}),
    }
    bad = env.ns_create("inventoryItem", {"itemId": "LONG-1", "displayName": "x" * 300})
    summary = sync(config)
    rows = {r["NetSuite_Id__c"]: r for r in env.sf_query(
        "SELECT NetSuite_Id__c, ProductCode, Name, Description, Family, IsActive, NetSuite_Item_Type__c "
        "FROM Product2")}
    assert set(rows) == set(made.values())
    widget, licence, setup = (rows[made[t]] for t in ("inventoryItem", "nonInventorySaleItem",
                                                      "serviceSaleItem"))
    assert (widget["ProductCode"], widget["Name"], widget["Family"], widget["IsActive"],
            widget["NetSuite_Item_Type__c"]) == ("WID-1", "Widget", "Hardware", True, "inventoryItem")
    assert (licence["Name"], licence["Description"]) == ("LIC-1", "Licence")
    assert (setup["Name"], setup["IsActive"], setup["NetSuite_Item_Type__c"]) == \
        ("Setup", False, "serviceSaleItem")
    letters = asyncio.run(services.dlq_list(config))
    assert [(d.link, d.source_id) for d in letters] == [("items", bad)]
    assert "Name" in letters[0].error_message or "STRING_TOO_LONG" in letters[0].error_code
    assert not summary.ok

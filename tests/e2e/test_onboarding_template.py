"""The customer-onboarding template as `ledgerbridge init` writes it, run against both sandboxes."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from ledgerbridge.app import services
from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.templates import render

from .conftest import Systems


def test_a_won_deals_new_customer_gets_one_task_for_its_cs_owner(systems: Systems, tmp_path: Path) -> None:
    text = render("customer-onboarding", sandbox=True, salesforce_url=systems.sf.url,
                  netsuite_url=systems.ns.url, state_url=f"sqlite:///{tmp_path / 'state.db'}")
    config = load_config_text(text, env={}).config
    [owner] = systems.sf_query("SELECT Id FROM User LIMIT 1")
    won = systems.sf_create("Account", {"Name": "Won Corp", "Website": "https://won.example",
                                        "Customer_Success_Owner__c": owner["Id"]})
    systems.sf_create("Opportunity", {"Name": "Big", "AccountId": won, "StageName": "Closed Won",
                                      "Amount": 9000, "CloseDate": date.today().isoformat()})
    browsing = systems.sf_create("Account", {"Name": "Just Browsing", "Website": "https://browse.example"})

    assert asyncio.run(services.sync(config)).ok
    names = {c["companyname"] for c in systems.ns_customers()}
    assert {"Won Corp", "Just Browsing"} <= names  # both accounts became customers
    tasks = systems.sf_query(
        f"SELECT OwnerId, Subject, WhatId FROM Task WHERE WhatId IN ('{won}', '{browsing}')")
    assert [(t["OwnerId"], t["Subject"], t["WhatId"]) for t in tasks] == [
        (owner["Id"], "Onboard Won Corp", won)]

    asyncio.run(services.sync(config))  # a second pass onboards nobody again
    assert len(systems.sf_query("SELECT Id FROM Task")) == 1

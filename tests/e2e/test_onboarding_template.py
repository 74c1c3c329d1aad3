"""The customer-onboarding template as `ledgerbridge init` writes it, run against both sandboxes."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from ledgerbridge.app import services
from ledgerbridge.app.config import load_config_text

from .conftest import Systems


def test_a_won_deals_new_customer_gets_one_task_for_its_cs_owner(systems: Systems, tmp_path: Path) -> None:
    config = systems.template("customer-onboarding", tmp_path)
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


def test_without_an_owner_on_the_account_the_task_goes_to_the_first_active_user_of_the_role(
        systems: Systems, tmp_path: Path) -> None:
    text = systems.template_text("customer-onboarding", tmp_path)
    assert "role: Customer Success" in text
    config = load_config_text(text, env={}).config
    [profile] = systems.sf_query("SELECT Id FROM Profile LIMIT 1")
    cs_role = systems.sf_create("UserRole", {"Name": "Customer Success"})
    other_role = systems.sf_create("UserRole", {"Name": "Sales"})

    def user(name: str, role: str, *, active: bool = True, title: str = "") -> str:
        return systems.sf_create("User", {
            "Username": f"{name}@onboard.example", "LastName": name, "Email": f"{name}@onboard.example",
            "Alias": name[:8], "TimeZoneSidKey": "America/New_York", "LocaleSidKey": "en_US",
            "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US", "ProfileId": profile["Id"],
            "UserRoleId": role, "IsActive": active, "Title": title})

    # the title alone would pick the sales user; the role wins, and an inactive one is passed over
    user("titled", other_role, title="Customer Success Manager")
    inactive = user("gone", cs_role, active=False)
    active = user("nora", cs_role)
    won = systems.sf_create("Account", {"Name": "Roleless Corp", "Website": "https://roleless.example"})
    systems.sf_create("Opportunity", {"Name": "Deal", "AccountId": won, "StageName": "Closed Won",
                                      "Amount": 5000, "CloseDate": date.today().isoformat()})

    assert asyncio.run(services.sync(config)).ok
    [task] = systems.sf_query(f"SELECT OwnerId FROM Task WHERE WhatId = '{won}'")
    assert task["OwnerId"] == active != inactive

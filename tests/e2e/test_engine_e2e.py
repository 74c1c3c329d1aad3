"""The sync engine end to end: real connectors, both sandboxes over loopback sockets, SQLite state.

People change records through each system's REST API (a plain httpx2 client); one
``engine.sync()`` pass must carry the change across with the mapped fields. Write calls are
counted from the sandboxes' own request logs, so "an echo costs no write" is checked by the
systems, not by the engine's counters. Covered: create and edit both ways, echo suppression,
matching by web domain instead of duplicating, dead letters carrying the vendor's error code and
their retry once the cause is fixed, and a crash between the write and the state commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from e2e.conftest import Systems
from ledgerbridge.app.wiring import Runtime, open_runtime
from ledgerbridge.core.records import System, WriteResult
from ledgerbridge.core.store import DeadLetterStatus
from ledgerbridge.engine import Engine, EngineHooks, Outcome, SyncSummary
from ledgerbridge.flows.config import LedgerBridgeConfig

T = TypeVar("T")

ACCOUNTS = """\
links:
  accounts:
    salesforce: Account
    netsuite: customer
    direction: both
    ids: {salesforce_external_id: NetSuite_Id__c, netsuite_external_id: externalId}
    fields:
      - {salesforce: Name, netsuite: companyName, conflict: {owner: salesforce}}
      - {salesforce: Phone, netsuite: phone, conflict: {owner: salesforce}}
      - {salesforce: Website, netsuite: url, conflict: {owner: salesforce}}
      - {salesforce: Credit_Limit__c, netsuite: creditLimit, direction: to_salesforce}
      - {name: netsuite_id, salesforce: NetSuite_Id__c, to_salesforce: id}
      - {netsuite: subsidiary, value: {id: "SUBSIDIARY"}, direction: to_netsuite}
      - {netsuite: isPerson, value: false, direction: to_netsuite}
    match:
      external_id: true
      keys: [{name: website, salesforce: Website, netsuite: url, normalise: domain}]
    conflict: newest
    delete: unlink
"""


def accounts_link(subsidiary: str = "1") -> str:
    """The Account <-> customer link; new customers go to ``subsidiary``."""
    return ACCOUNTS.replace("SUBSIDIARY", subsidiary)


def run(config: LedgerBridgeConfig, body: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open the runtime (real connectors, SQLite state), run ``body`` and close everything."""

    async def main() -> T:
        async with open_runtime(config) as rt:
            return await body(rt)

    return asyncio.run(main())


def sync(config: LedgerBridgeConfig) -> SyncSummary:
    """One pass of every link."""
    return run(config, lambda rt: rt.engine.sync())


def assert_echo_is_free(systems: Systems, config: LedgerBridgeConfig) -> None:
    """Another pass right away writes nothing on either side (counted by the sandboxes)."""
    systems.clear_logs()
    summary = sync(config)
    assert summary.ok, summary
    assert not summary.actions, summary.actions
    assert systems.writes() == {"salesforce": 0, "netsuite": 0}
    # the pass did read both systems: the zero is not an empty log
    assert systems.sf_log()["total"] > 0 and systems.ns_log()["total"] > 0


def test_an_account_created_and_edited_in_salesforce_reaches_netsuite_and_back(
        systems: Systems, tmp_path: Path) -> None:
    config = systems.config(accounts_link(), tmp_path)
    acct = systems.sf_create("Account", {"Name": "Acme Rockets", "Phone": "+1 415 555 0100",
                                         "Website": "https://www.acme-rockets.example"})

    first = sync(config)
    assert first.ok, first
    assert first.actions["create:netsuite"] == 1
    ns_id = systems.sf_get("Account", acct)["NetSuite_Id__c"]
    customer = systems.ns_get("customer", ns_id)
    assert (customer["companyName"], customer["phone"], customer["url"], customer["externalId"]) == \
        ("Acme Rockets", "+1 415 555 0100", "https://www.acme-rockets.example", acct)
    assert customer["subsidiary"]["id"] == "1" and customer["isPerson"] is False
    assert_echo_is_free(systems, config)

    # an edit in Salesforce updates the same customer
    systems.sf_update("Account", acct, {"Name": "Acme Rocket Sleds", "Phone": "+1 415 555 0199"})
    edited = sync(config)
    assert edited.ok, edited
    assert edited.actions == {"update:netsuite": 1}
    customer = systems.ns_get("customer", ns_id)
    assert (customer["companyName"], customer["phone"]) == ("Acme Rocket Sleds", "+1 415 555 0199")
    assert len(systems.ns_customers()) == 1
    assert_echo_is_free(systems, config)

    # and an edit in NetSuite (phone, and the credit limit finance owns) updates the Account
    systems.ns_update("customer", ns_id, {"phone": "+1 415 555 0123", "creditLimit": 25000})
    back = sync(config)
    assert back.ok, back
    assert back.actions == {"update:salesforce": 1}
    account = systems.sf_get("Account", acct)
    assert (account["Phone"], account["Credit_Limit__c"], account["Name"]) == \
        ("+1 415 555 0123", 25000, "Acme Rocket Sleds")
    assert_echo_is_free(systems, config)


def test_a_customer_created_in_netsuite_becomes_an_account_with_its_id(
        systems: Systems, tmp_path: Path) -> None:
    config = systems.config(accounts_link(), tmp_path)
    ns_id = systems.ns_create("customer", {"companyName": "Initech", "url": "https://initech.example",
                                           "phone": "+1 512 555 0142", "creditLimit": 5000,
                                           "subsidiary": {"id": "1"}})

    summary = sync(config)
    assert summary.ok, summary
    assert summary.actions["create:salesforce"] == 1
    [account] = systems.sf_query("SELECT Id, Name, Phone, Website, Credit_Limit__c, NetSuite_Id__c "
                                 "FROM Account")
    assert (account["Name"], account["Phone"], account["Website"], account["Credit_Limit__c"],
            account["NetSuite_Id__c"]) == ("Initech", "+1 512 555 0142", "https://initech.example", 5000,
                                           ns_id)
    assert_echo_is_free(systems, config)


def test_a_customer_with_the_same_web_domain_is_linked_not_duplicated(
        systems: Systems, tmp_path: Path) -> None:
    config = systems.config(accounts_link(), tmp_path)
    existing = systems.ns_create("customer", {"companyName": "Globex Corporation",
                                              "url": "https://www.globex.example",
                                              "subsidiary": {"id": "1"}})
    acct = systems.sf_create("Account", {"Name": "Globex", "Website": "http://globex.example/contact"})

    summary = sync(config)
    assert summary.ok, summary
    assert summary.actions["link"] == 1 and not summary.actions["create:netsuite"], summary.actions
    [outcome] = [o for o in summary.links["accounts"].outcomes
                 if o.system is System.SALESFORCE and o.id == acct]
    assert (outcome.action, outcome.partner_id) == ("link", existing)
    assert [c["id"] for c in systems.ns_customers()] == [existing]
    assert systems.sf_get("Account", acct)["NetSuite_Id__c"] == existing
    # Salesforce owns the name and website: the linked customer now carries them
    customer = systems.ns_get("customer", existing)
    assert (customer["companyName"], customer["url"]) == ("Globex", "http://globex.example/contact")
    assert_echo_is_free(systems, config)


def test_a_salesforce_validation_error_is_a_dead_letter_and_its_retry_succeeds_once_fixed(
        systems: Systems, tmp_path: Path) -> None:
    config = systems.config(accounts_link(), tmp_path)
    acct = systems.sf_create("Account", {"Name": "Umbrella", "Website": "https://umbrella.example"})
    assert sync(config).ok
    ns_id = systems.sf_get("Account", acct)["NetSuite_Id__c"]
    # a Salesforce admin caps credit limits; finance then raises this customer's above the cap
    systems.admin.patch(f"{systems.sf.url}/__sandbox__/config", json={"validation_rules": [
        {"object": "Account", "name": "Credit_Cap", "condition": "Credit_Limit__c > 1000000",
         "message": "Credit limits above 1,000,000 need approval", "field": "Credit_Limit__c"}]}
    ).raise_for_status()
    systems.ns_update("customer", ns_id, {"creditLimit": 2_000_000})

    failed = sync(config)
    assert not failed.ok
    letters = run(config, lambda rt: rt.ops.dead_letters("accounts"))
    # the change came from the customer; its dead letter names Salesforce as the failing target
    [letter] = [d for d in letters if d.system is System.NETSUITE]
    assert (letter.source_id, letter.target_system) == (ns_id, System.SALESFORCE)
    assert letter.error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert letter.error_message == "Credit limits above 1,000,000 need approval"
    assert letter.payload == {"Credit_Limit__c": 2_000_000}
    assert systems.sf_get("Account", acct)["Credit_Limit__c"] is None
    # nothing else failed: every letter is this one error
    assert {(d.error_code, d.target_system) for d in letters} == \
        {("FIELD_CUSTOM_VALIDATION_EXCEPTION", System.SALESFORCE)}

    # the admin lifts the cap; the retry reads the customer again and writes the limit
    systems.admin.patch(f"{systems.sf.url}/__sandbox__/config",
                        json={"validation_rules": []}).raise_for_status()
    outcome = run(config, lambda rt: rt.ops.retry_dead_letter(letter.id))
    assert outcome is not None and outcome.outcome is Outcome.SYNCED, outcome
    assert systems.sf_get("Account", acct)["Credit_Limit__c"] == 2_000_000
    resolved = run(config, lambda rt: rt.ops.dead_letter(letter.id))
    assert resolved.status is DeadLetterStatus.RESOLVED
    assert_echo_is_free(systems, config)
    assert run(config, lambda rt: rt.ops.dead_letters("accounts")) == []


def test_one_failed_write_is_attempted_once_and_leaves_one_dead_letter(
        systems: Systems, tmp_path: Path) -> None:
    config = systems.config(accounts_link(), tmp_path)
    acct = systems.sf_create("Account", {"Name": "Umbrella", "Website": "https://umbrella.example"})
    assert sync(config).ok
    ns_id = systems.sf_get("Account", acct)["NetSuite_Id__c"]
    systems.admin.patch(f"{systems.sf.url}/__sandbox__/config", json={"validation_rules": [
        {"object": "Account", "name": "Credit_Cap", "condition": "Credit_Limit__c > 1000000",
         "message": "Credit limits above 1,000,000 need approval", "field": "Credit_Limit__c"}]}
    ).raise_for_status()
    systems.ns_update("customer", ns_id, {"creditLimit": 2_000_000})
    systems.clear_logs()

    failed = sync(config)
    assert failed.counts[Outcome.DEAD_LETTERED] == 1
    assert systems.writes() == {"salesforce": 1, "netsuite": 0}
    letters = run(config, lambda rt: rt.ops.dead_letters("accounts"))
    assert len(letters) == 1


def test_a_netsuite_invalid_reference_is_a_dead_letter_and_an_edited_retry_creates_the_customer(
        systems: Systems, tmp_path: Path) -> None:
    config = systems.config(accounts_link(subsidiary="99"), tmp_path)  # no subsidiary 99 exists
    acct = systems.sf_create("Account", {"Name": "Hooli", "Website": "https://hooli.example"})

    failed = sync(config)
    assert not failed.ok
    [letter] = run(config, lambda rt: rt.ops.dead_letters("accounts"))
    assert (letter.system, letter.source_id, letter.target_system) == \
        (System.SALESFORCE, acct, System.NETSUITE)
    assert letter.error_code == "INVALID_CONTENT"
    assert "subsidiary" in letter.error_message
    assert letter.payload.get("subsidiary") == {"id": "99"}
    assert systems.ns_customers() == []

    outcome = run(config, lambda rt: rt.ops.retry_dead_letter(letter.id, payload={"subsidiary": {"id": "1"}}))
    assert outcome is not None and outcome.outcome is Outcome.SYNCED, outcome
    [customer] = systems.ns_customers()
    full = systems.ns_get("customer", customer["id"])
    assert (full["companyName"], full["externalId"], full["subsidiary"]["id"]) == ("Hooli", acct, "1")
    assert systems.sf_get("Account", acct)["NetSuite_Id__c"] == customer["id"]
    assert run(config, lambda rt: rt.ops.dead_letters("accounts")) == []
    # the edited value was a deliberate choice: later passes do not write the mapped one back over it
    assert_echo_is_free(systems, config)


class Crash(Exception):
    """Stands for the process dying between a write and the state commit."""


def crash_after_write_on(system: System) -> EngineHooks:
    async def after_write(link: str, target: System, results: Sequence[WriteResult]) -> None:
        if target is system and any(r.ok for r in results):
            raise Crash(f"crashed after writing to {target.value}")

    return EngineHooks(after_write=after_write)


def sync_with(config: LedgerBridgeConfig, hooks: EngineHooks) -> SyncSummary:
    async def body(rt: Runtime) -> SyncSummary:
        engine = Engine(config.links, salesforce=rt.salesforce, netsuite=rt.netsuite, store=rt.store,
                        clock=rt.clock, hooks=hooks)
        return await engine.sync()

    return run(config, body)


def test_a_crash_after_creating_the_customer_and_before_the_commit_does_not_duplicate_on_rerun(
        systems: Systems, tmp_path: Path) -> None:
    config = systems.config(accounts_link(), tmp_path)
    acct = systems.sf_create("Account", {"Name": "Stark Industries", "Website": "https://stark.example"})

    with pytest.raises(Crash):
        sync_with(config, crash_after_write_on(System.NETSUITE))
    [made] = systems.ns_customers()
    assert made["externalid"] == acct
    assert systems.sf_get("Account", acct)["NetSuite_Id__c"] is None  # the write-back never happened
    assert run(config, lambda rt: rt.store.get_xref("accounts", System.SALESFORCE, acct)) is None

    rerun = sync(config)
    assert rerun.ok, rerun
    assert [c["id"] for c in systems.ns_customers()] == [made["id"]]
    assert systems.sf_get("Account", acct)["NetSuite_Id__c"] == made["id"]
    xref = run(config, lambda rt: rt.store.get_xref("accounts", System.SALESFORCE, acct))
    assert xref is not None and xref.ns_id == made["id"]
    assert_echo_is_free(systems, config)


def test_a_crash_after_creating_the_account_and_before_the_commit_does_not_duplicate_on_rerun(
        systems: Systems, tmp_path: Path) -> None:
    config = systems.config(accounts_link(), tmp_path)
    ns_id = systems.ns_create("customer", {"companyName": "Wayne Enterprises", "subsidiary": {"id": "1"}})

    with pytest.raises(Crash):
        sync_with(config, crash_after_write_on(System.SALESFORCE))
    [made] = systems.sf_query("SELECT Id, NetSuite_Id__c FROM Account")
    assert made["NetSuite_Id__c"] == ns_id

    rerun = sync(config)
    assert rerun.ok, rerun
    assert [a["Id"] for a in systems.sf_query("SELECT Id FROM Account")] == [made["Id"]]
    xref = run(config, lambda rt: rt.store.get_xref("accounts", System.NETSUITE, ns_id))
    assert xref is not None and xref.sf_id == made["Id"]
    assert_echo_is_free(systems, config)


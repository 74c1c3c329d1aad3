"""Pushed changes: independent links and a link's two sides are worked off side by side, a pair
pushed from both sides is reconciled once, and a pushed record already in sync costs no partner read."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from engine_world import ACCOUNTS, World

from ledgerbridge.core.errors import ErrorKind, RemoteError
from ledgerbridge.core.records import Change, Priority, Record, RecordError, System
from ledgerbridge.engine.memory_store import MemoryStateStore
from ledgerbridge.engine.runner import Engine
from ledgerbridge.flows.spec import LinkSpec
from ledgerbridge.testing.fakes import FakeSystem, ManualClock

pytestmark = pytest.mark.anyio

PRODUCTS = {
    "salesforce": "Product2", "netsuite": "inventoryItem", "direction": "to_salesforce",
    "ids": {"salesforce_external_id": "NetSuite_Id__c"},
    "fields": [{"salesforce": "Name", "netsuite": "itemId"}],
    "match": {"external_id": True},
}
CONTACTS = {
    "salesforce": "Contact", "netsuite": "contact", "direction": "to_netsuite",
    "fields": [{"salesforce": "LastName", "netsuite": "lastName"},
               {"salesforce": "AccountId", "netsuite": "company", "ref": "accounts"}],
    "match": {"external_id": True},
}


class LoggedSystem(FakeSystem):
    """A fake whose reads yield to the event loop, logging when each starts and ends."""

    def __init__(self, system: System, clock: ManualClock, log: list[tuple[str, str, str]]) -> None:
        super().__init__(system, clock)
        self.log = log
        self.fail_reads: set[str] = set()

    async def read_by_ids(self, object: str, ids: Sequence[str], *, fields: Sequence[str] | None = None,
                          priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        self.log.append(("start", self.system.value, object))
        for _ in range(3):
            await asyncio.sleep(0)
        self.log.append(("end", self.system.value, object))
        if object in self.fail_reads:
            raise RemoteError("unavailable")
        return await super().read_by_ids(object, ids, fields=fields, priority=priority)


def logged_world(links: Mapping[str, Mapping[str, Any]]) -> tuple[World, list[tuple[str, str, str]]]:
    log: list[tuple[str, str, str]] = []
    clock = ManualClock()
    sf, ns = LoggedSystem(System.SALESFORCE, clock, log), LoggedSystem(System.NETSUITE, clock, log)
    store = MemoryStateStore()
    specs = {name: LinkSpec.model_validate(dict(spec)) for name, spec in links.items()}
    engine = Engine(specs, salesforce=sf, netsuite=ns, store=store, clock=clock)
    return World(clock, sf, ns, store, engine), log


def overlapped(log: list[tuple[str, str, str]], a: tuple[str, str], b: tuple[str, str]) -> bool:
    """True when a read of ``a`` and a read of ``b`` were in flight at the same moment."""
    open_: set[tuple[str, str]] = set()
    for what, system, obj in log:
        if what == "start":
            open_.add((system, obj))
            if a in open_ and b in open_:
                return True
        else:
            open_.discard((system, obj))
    return False


def field(system: FakeSystem, obj: str, id: str, name: str) -> Any:
    record = system.get(obj, id)
    assert record is not None
    return record.fields.get(name)


def push(w: World, system: System, obj: str, *ids: str) -> None:
    for i in ids:
        w.engine.intake.submit(Change(system, obj, i, source="push"))


async def linked_accounts(w: World, n: int) -> list[tuple[str, str]]:
    sf_ids = [w.sf.create("Account", {"Name": f"Acme {i}", "Phone": f"555-{i}"}) for i in range(n)]
    await w.engine.sync(["accounts"])
    pairs = []
    for sf_id in sf_ids:
        x = await w.store.get_xref("accounts", System.SALESFORCE, sf_id)
        assert x is not None
        pairs.append((sf_id, x.ns_id))
    return pairs


async def test_two_independent_links_are_worked_off_in_one_mini_pass_side_by_side():
    w, log = logged_world({"accounts": ACCOUNTS, "products": PRODUCTS})
    [(sf_id, _)] = await linked_accounts(w, 1)
    item = w.ns.create("inventoryItem", {"itemId": "WIDGET"})
    w.sf.edit("Account", sf_id, Phone="555-9999")
    log.clear()
    push(w, System.SALESFORCE, "Account", sf_id)
    push(w, System.NETSUITE, "inventoryItem", item)
    summary = await w.engine.process_intake()
    assert summary.kind == "intake"
    assert summary.links["accounts"].actions["update:netsuite"] == 1
    assert summary.links["products"].actions["create:salesforce"] == 1
    assert overlapped(log, ("salesforce", "Account"), ("netsuite", "inventoryItem"))
    # each link's calls are its own
    assert summary.links["products"].api_calls["netsuite.read_by_ids"] == 1
    assert summary.links["accounts"].api_calls["salesforce.read_by_ids"] == 1
    assert not any(k.startswith("netsuite") for k in summary.links["accounts"].api_calls
                   if k != "netsuite.read_by_ids" and k != "netsuite.upsert")


async def test_a_child_link_waits_for_its_parent_link():
    w, log = logged_world({"accounts": ACCOUNTS, "contacts": CONTACTS})
    [(sf_id, _)] = await linked_accounts(w, 1)
    contact = w.sf.create("Contact", {"LastName": "Doe", "AccountId": sf_id})
    w.sf.edit("Account", sf_id, Phone="555-1234")
    log.clear()
    push(w, System.SALESFORCE, "Contact", contact)
    push(w, System.SALESFORCE, "Account", sf_id)
    summary = await w.engine.process_intake()
    assert summary.counts["synced"] == 2
    assert not overlapped(log, ("salesforce", "Account"), ("salesforce", "Contact"))
    first_contact = log.index(("start", "salesforce", "Contact"))
    assert ("end", "salesforce", "Account") in log[:first_contact]


async def test_both_sides_of_a_link_are_read_side_by_side():
    w, log = logged_world({"accounts": ACCOUNTS})
    (a_sf, _), (_, b_ns) = await linked_accounts(w, 2)
    w.sf.edit("Account", a_sf, Phone="555-0001")
    w.ns.edit("customer", b_ns, creditLimit=5000)
    log.clear()
    push(w, System.SALESFORCE, "Account", a_sf)
    push(w, System.NETSUITE, "customer", b_ns)
    summary = await w.engine.process_intake()
    assert summary.counts["synced"] == 2
    assert overlapped(log, ("salesforce", "Account"), ("netsuite", "customer"))
    b_sf = next(x for x in w.sf.records["Account"] if x != a_sf)
    assert field(w.sf, "Account", b_sf, "Credit_Limit__c") == 5000


async def test_a_pair_pushed_from_both_sides_is_reconciled_once_in_both_directions():
    w, _ = logged_world({"accounts": ACCOUNTS})
    [(sf_id, ns_id)] = await linked_accounts(w, 1)
    w.sf.edit("Account", sf_id, Phone="555-2222")
    w.ns.edit("customer", ns_id, creditLimit=750)
    w.sf.calls.clear()
    w.ns.calls.clear()
    push(w, System.SALESFORCE, "Account", sf_id)
    push(w, System.NETSUITE, "customer", ns_id)
    summary = await w.engine.process_intake()
    assert [(o.system, o.id) for o in summary.links["accounts"].outcomes] == [(System.SALESFORCE, sf_id)]
    assert field(w.ns, "customer", ns_id, "phone") == "555-2222"
    assert field(w.sf, "Account", sf_id, "Credit_Limit__c") == 750
    assert w.ns.calls["read_by_ids"] == 1  # the partner, once


async def test_a_failed_side_keeps_the_hints_it_covered_for_the_next_attempt():
    w, _ = logged_world({"accounts": ACCOUNTS})
    [(sf_id, ns_id)] = await linked_accounts(w, 1)
    w.ns.edit("customer", ns_id, creditLimit=990)
    assert isinstance(w.sf, LoggedSystem)
    w.sf.fail_reads.add("Account")
    push(w, System.SALESFORCE, "Account", sf_id)
    push(w, System.NETSUITE, "customer", ns_id)
    summary = await w.engine.process_intake()
    assert summary.links["accounts"].error
    assert len(w.engine.intake) == 2
    w.sf.fail_reads.clear()
    await w.engine.process_intake()
    assert field(w.sf, "Account", sf_id, "Credit_Limit__c") == 990


async def test_a_pushed_record_already_in_sync_costs_no_partner_read():
    w, _ = logged_world({"accounts": ACCOUNTS})
    [(sf_id, ns_id)] = await linked_accounts(w, 1)
    w.ns.edit("customer", ns_id, creditLimit=1200)
    push(w, System.NETSUITE, "customer", ns_id)
    await w.engine.process_intake()
    assert field(w.sf, "Account", sf_id, "Credit_Limit__c") == 1200
    # the echo of our own Salesforce write
    w.sf.calls.clear()
    w.ns.calls.clear()
    push(w, System.SALESFORCE, "Account", sf_id)
    summary = await w.engine.process_intake()
    [outcome] = summary.links["accounts"].outcomes
    assert (outcome.outcome.value, outcome.reason) == ("skipped", "no change since the last sync")
    assert outcome.partner_id == ns_id
    assert w.ns.calls["read_by_ids"] == 0 and w.sf.calls["read_by_ids"] == 1
    assert w.sf.n_writes == 0 and w.ns.n_writes == 0


async def test_a_pushed_record_that_changed_is_merged_with_its_partner():
    w, _ = logged_world({"accounts": ACCOUNTS})
    [(sf_id, ns_id)] = await linked_accounts(w, 1)
    w.sf.edit("Account", sf_id, Name="Acme Renamed")
    w.ns.calls.clear()
    push(w, System.SALESFORCE, "Account", sf_id)
    summary = await w.engine.process_intake()
    assert summary.counts["synced"] == 1
    assert w.ns.calls["read_by_ids"] == 1
    assert field(w.ns, "customer", ns_id, "companyName") == "Acme Renamed"


async def test_a_pair_with_a_failed_write_is_not_taken_as_settled():
    w, _ = logged_world({"accounts": ACCOUNTS})
    [(sf_id, ns_id)] = await linked_accounts(w, 1)
    w.sf.edit("Account", sf_id, Phone="555-7777")
    w.ns.fail_writes(lambda obj, write: obj == "customer",
                     RecordError(ErrorKind.RECORD, "BLOCKED", "the record is locked"))
    push(w, System.SALESFORCE, "Account", sf_id)
    first = await w.engine.process_intake()
    assert first.counts["dead_lettered"] == 1
    w.ns.rules.clear()
    w.ns.calls.clear()
    push(w, System.SALESFORCE, "Account", sf_id)  # the same record pushed again, unchanged since
    second = await w.engine.process_intake()
    assert second.counts["synced"] == 1 and w.ns.calls["read_by_ids"] == 1
    assert field(w.ns, "customer", ns_id, "phone") == "555-7777"

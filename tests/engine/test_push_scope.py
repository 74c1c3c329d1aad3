"""Pushed changes and watches respect each link's scope and triggers: a pushed record goes through a
link only when the link's scope on that side covers it (one query per batch of pushed ids), one
outside it ends as skipped with the reason, and a link that only polls leaves pushes alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from engine_world import ACCOUNTS, World, world

from ledgerbridge.core.errors import RemoteError
from ledgerbridge.core.records import Change, ChangeKind, Priority, System
from ledgerbridge.engine.memory_store import MemoryStateStore
from ledgerbridge.engine.runner import Engine, Outcome
from ledgerbridge.flows.spec import LinkSpec
from ledgerbridge.testing.fakes import FakeSystem, ManualClock

pytestmark = pytest.mark.anyio

QUALIFIED = "Lead_Score__c >= 70"
LEADS: dict[str, Any] = {
    "salesforce": "Lead",
    "netsuite": "customer",
    "direction": "to_netsuite",
    "scope": {"salesforce": QUALIFIED},
    "fields": [{"salesforce": "Company", "netsuite": "companyName"},
               {"salesforce": "Lead_Score__c", "netsuite": "custentity_lead_score"}],
    "match": {"external_id": True},
    "delete": "unlink",
}


def scoped_world(links: dict[str, Any]) -> World:
    w = world(links)
    w.sf.where[QUALIFIED] = lambda r: float(str(r.fields.get("Lead_Score__c") or 0)) >= 70
    return w


def push(w: World, system: System, obj: str, *ids: str, kind: ChangeKind = ChangeKind.UPSERT) -> None:
    for i in ids:
        w.engine.intake.submit(Change(system, obj, i, kind, source="push"))


def reasons(summary: Any, link: str) -> dict[str, tuple[str, str]]:
    return {o.id: (o.outcome.value, o.reason) for o in summary.links[link].outcomes}


async def test_a_pushed_record_outside_the_scope_is_skipped_with_the_reason_in_one_query():
    w = scoped_world({"leads": LEADS})
    hot = w.sf.create("Lead", {"Company": "Hot Co", "Lead_Score__c": 85})
    cold = [w.sf.create("Lead", {"Company": f"Cold {i}", "Lead_Score__c": 10}) for i in range(3)]
    push(w, System.SALESFORCE, "Lead", hot, *cold)
    summary = await w.engine.process_intake()
    assert summary.ok, summary
    assert [r.fields["companyName"] for r in w.ns.all("customer")] == ["Hot Co"]
    got = reasons(summary, "leads")
    assert got[hot][0] == Outcome.SYNCED.value
    for i in cold:
        assert got[i] == ("skipped", f"outside the link's salesforce scope ({QUALIFIED})")
    assert summary.links["leads"].counts == {"synced": 1, "skipped": 3}
    # one scope query for the whole batch of pushed ids, not one per id
    assert summary.links["leads"].api_calls["salesforce.filter_ids"] == 1
    assert w.sf.calls["filter_ids"] == 1


async def test_a_lead_that_qualifies_later_is_taken_on_its_next_push():
    w = scoped_world({"leads": LEADS})
    lead = w.sf.create("Lead", {"Company": "Warming Up", "Lead_Score__c": 40})
    push(w, System.SALESFORCE, "Lead", lead)
    assert (await w.engine.process_intake()).ok
    assert w.ns.all("customer") == [] and w.ns.n_writes == 0
    w.sf.edit("Lead", lead, Lead_Score__c=75)
    push(w, System.SALESFORCE, "Lead", lead)
    summary = await w.engine.process_intake()
    assert summary.actions == {"create:netsuite": 1}
    assert [r.fields["custentity_lead_score"] for r in w.ns.all("customer")] == [75]


async def test_links_without_a_scope_make_no_scope_query():
    w = world({"accounts": ACCOUNTS})
    sf_id = w.sf.create("Account", {"Name": "Acme", "Phone": "555-1"})
    push(w, System.SALESFORCE, "Account", sf_id)
    summary = await w.engine.process_intake()
    assert summary.actions["create:netsuite"] == 1
    assert w.sf.calls["filter_ids"] == 0 and w.ns.calls["filter_ids"] == 0


async def test_a_link_that_reads_no_feed_of_its_own_takes_no_pushed_record():
    # two links on Account: one that links accounts to existing customers, one that is only reached
    # through references ("Id = null": never read on its own) and would create them
    linker = {**ACCOUNTS, "direction": "to_netsuite", "match": {"external_id": True, "create": False},
              "fields": [{"salesforce": "Name", "netsuite": "companyName"}]}
    creator = {**linker, "scope": {"salesforce": "Id = null"}, "match": {"external_id": False}}
    w = world({"accounts": linker, "prospects": creator})
    w.sf.where["Id = null"] = lambda r: False
    ids = [w.sf.create("Account", {"Name": f"Acme {i}"}) for i in range(4)]
    push(w, System.SALESFORCE, "Account", *ids)
    summary = await w.engine.process_intake()
    assert summary.ok, summary
    assert w.ns.all("customer") == [] and w.ns.n_writes == 0
    assert summary.links["prospects"].counts == {"skipped": 4}
    assert {r for _, r in reasons(summary, "prospects").values()} == \
        {"outside the link's salesforce scope (Id = null)"}
    assert summary.links["accounts"].counts == {"skipped": 4}  # no match, and it does not create


async def test_a_link_with_only_timed_triggers_leaves_pushes_to_its_polling():
    w = world({"accounts": {**ACCOUNTS, "triggers": [{"interval": "5m"}]},
               "pushed": {**ACCOUNTS, "netsuite": "vendor",
                          "triggers": [{"push": True}, {"interval": "5m"}]}})
    sf_id = w.sf.create("Account", {"Name": "Acme"})
    push(w, System.SALESFORCE, "Account", sf_id)
    summary = await w.engine.process_intake()
    assert "accounts" not in summary.links
    assert summary.actions["create:netsuite"] == 1
    assert len(w.ns.all("vendor")) == 1 and w.ns.all("customer") == []
    polled = await w.engine.sync(["accounts"])
    assert polled.actions["create:netsuite"] == 1


async def test_a_deleted_record_is_still_handled_as_a_delete():
    w = scoped_world({"leads": LEADS})
    lead = w.sf.create("Lead", {"Company": "Gone Co", "Lead_Score__c": 90})
    assert (await w.engine.sync()).ok
    w.sf.remove("Lead", lead)
    push(w, System.SALESFORCE, "Lead", lead, kind=ChangeKind.DELETE)
    summary = await w.engine.process_intake()
    assert summary.ok, summary
    [outcome] = summary.links["leads"].outcomes
    assert outcome.action == "unlink"
    x = await w.store.get_xref("leads", System.SALESFORCE, lead)
    assert x is None or x.is_closed


async def test_a_pair_pushed_from_both_sides_is_reconciled_from_the_side_in_scope():
    both = {**ACCOUNTS, "scope": {"salesforce": "Type = 'Customer'"}}
    w = world({"accounts": both})
    w.sf.where["Type = 'Customer'"] = lambda r: r.fields.get("Type") == "Customer"
    sf_id = w.sf.create("Account", {"Name": "Acme", "Type": "Customer", "Phone": "555-1"})
    assert (await w.engine.sync()).ok
    x = await w.store.get_xref("accounts", System.SALESFORCE, sf_id)
    assert x is not None
    w.clock.advance(60)
    w.sf.edit("Account", sf_id, Type="Former")  # leaves the scope
    w.ns.edit("customer", x.ns_id, companyName="Acme Holdings")
    push(w, System.SALESFORCE, "Account", sf_id)
    push(w, System.NETSUITE, "customer", x.ns_id)
    summary = await w.engine.process_intake()
    assert summary.ok, summary
    got = reasons(summary, "accounts")
    assert got[sf_id] == ("skipped", "outside the link's salesforce scope (Type = 'Customer')")
    assert got[x.ns_id][0] == "synced"  # the NetSuite change is not lost with its partner
    record = w.sf.get("Account", sf_id)
    assert record is not None and record.fields["Name"] == "Acme Holdings"


class FailingScope(FakeSystem):
    async def filter_ids(self, object: str, ids: Sequence[str], where: str, *,
                         priority: Priority = Priority.INTERACTIVE) -> list[str]:
        raise RemoteError("unavailable")


async def test_a_failed_scope_query_keeps_the_changes_for_the_next_attempt():
    clock = ManualClock()
    sf, ns = FailingScope(System.SALESFORCE, clock), FakeSystem(System.NETSUITE, clock)
    engine = Engine({"leads": LinkSpec.model_validate(LEADS)}, salesforce=sf, netsuite=ns,
                    store=MemoryStateStore(), clock=clock)
    lead = sf.create("Lead", {"Company": "Hot Co", "Lead_Score__c": 85})
    engine.intake.submit(Change(System.SALESFORCE, "Lead", lead, source="push"))
    summary = await engine.process_intake()
    assert not summary.ok and "unavailable" in (summary.links["leads"].error or "")
    assert len(engine.intake) == 1 and ns.n_writes == 0


async def test_an_explicit_single_record_sync_is_not_held_by_the_scope():
    w = scoped_world({"leads": LEADS})
    cold = w.sf.create("Lead", {"Company": "Asked For", "Lead_Score__c": 5})
    summary = await w.engine.sync_records("leads", System.SALESFORCE, [cold])
    assert summary.actions == {"create:netsuite": 1}
    assert w.sf.calls["filter_ids"] == 0


WATCHED: dict[str, Any] = {
    "salesforce": "Account", "netsuite": "customer", "direction": "to_salesforce",
    "scope": {"netsuite": "isinactive = 'F'"},
    "ids": {"salesforce_external_id": "NetSuite_Id__c", "netsuite_external_id": None},
    "fields": [{"salesforce": "Name", "netsuite": "companyName"},
               {"salesforce": "Balance__c", "netsuite": "balance"}],
    "match": {"external_id": False},
    "delete": "ignore",
    "options": {"watch": [{"netsuite": "customerPayment", "via": "customer"}]},
}


def watched_world() -> World:
    w = world({"status": WATCHED})
    w.ns.where["isinactive = 'F'"] = lambda r: not r.fields.get("isInactive")
    return w


async def test_a_watch_looks_only_at_related_records_in_the_scope_polled_and_pushed():
    w = watched_world()
    active = w.ns.create("customer", {"companyName": "Active", "balance": 10})
    inactive = w.ns.create("customer", {"companyName": "Dormant", "balance": 10, "isInactive": True})
    first = await w.engine.sync()
    assert first.ok and first.actions == {"create:salesforce": 1}  # the feed applies the scope
    w.clock.advance(600)
    table = w.ns.records["customer"]
    for c in (active, inactive):  # a payment changes the balance, not the customer's stamp
        table[c] = replace(table[c], fields={**table[c].fields, "balance": 0})
    paid = [w.ns.create("customerPayment", {"customer": {"id": c}}) for c in (active, inactive)]
    polled = await w.engine.sync()
    assert polled.ok, polled
    assert polled.actions == {"update:salesforce": 1}
    got = reasons(polled, "status")
    assert got[inactive] == ("skipped", "outside the link's netsuite scope (isinactive = 'F')")
    assert polled.links["status"].api_calls["netsuite.filter_ids"] == 1
    push(w, System.NETSUITE, "customerPayment", *paid)
    pushed = await w.engine.process_intake()
    assert pushed.ok, pushed
    got = reasons(pushed, "status")
    assert got[inactive] == ("skipped", "outside the link's netsuite scope (isinactive = 'F')")
    assert got[active] == ("skipped", "no change since the last sync")
    assert len(w.sf.all("Account")) == 1

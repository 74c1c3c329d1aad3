"""A mapped reference that cannot be resolved holds the write, on an update as on a create: the
record waits in the preflight review (``items_linked``) or is a map dead letter naming the record
and the links, and nothing half-mapped reaches the other side. Once the reference resolves, the
held change is written (the baseline did not swallow it)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from engine_world import ACCOUNTS, World, world

from ledgerbridge.core.records import System
from ledgerbridge.core.store import Step
from ledgerbridge.engine import Operations
from ledgerbridge.engine.steps import guard_reason

pytestmark = pytest.mark.anyio


def product_link(item_type: str) -> dict[str, Any]:
    return {"salesforce": "Product2", "netsuite": item_type, "direction": "to_salesforce",
            "ids": {"salesforce_external_id": "NetSuite_Id__c"},
            "fields": [{"salesforce": "Name", "netsuite": "itemId"}], "match": {"external_id": True}}


def orders(ref: str, *, preflight: list[Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "salesforce": "Opportunity", "netsuite": "opportunity", "direction": "to_netsuite",
        "fields": [
            {"salesforce": "AccountId", "netsuite": "entity", "ref": "accounts"},
            {"salesforce": "Name", "netsuite": "title"},
            {"name": "lines", "netsuite": "item",
             "to_netsuite": '{"items": [OpportunityLineItems.records.{'
                            f'"item": {{"id": $ref({ref}, Product2Id)}}, '
                            '"quantity": Quantity, "rate": UnitPrice}]}'},
            {"salesforce": "NetSuite_Id__c", "netsuite": "id", "direction": "to_salesforce"},
        ],
        "match": {"external_id": True},
    }
    if preflight is not None:
        spec["options"] = {"preflight": preflight}
    return spec


SEVERAL = '["items", "service_items"]'


def setup(ref: str = SEVERAL, *, preflight: list[Any] | None = None) -> World:
    links = {"accounts": copy.deepcopy(ACCOUNTS), "items": product_link("inventoryItem"),
             "service_items": product_link("serviceSaleItem"), "pipeline": orders(ref, preflight=preflight)}
    return world(links)


async def catalog(w: World) -> tuple[str, str]:
    """One item reaches Salesforce as a product; returns (NetSuite item id, Salesforce product id)."""
    item = w.ns.create("inventoryItem", {"itemId": "Widget"})
    assert (await w.engine.sync(["items"])).ok
    [product] = w.sf.all("Product2")
    return item, product.id


def lines(*rows: tuple[str, float, float]) -> dict[str, Any]:
    return {"records": [{"Product2Id": p, "Quantity": q, "UnitPrice": u} for p, q, u in rows]}


async def opportunity_in_netsuite(w: World, product: str) -> tuple[str, str]:
    acct = w.sf.create("Account", {"Name": "Acme"})
    opp = w.sf.create("Opportunity", {"Name": "Rockets", "AccountId": acct,
                                      "OpportunityLineItems": lines((product, 1, 100))})
    summary = await w.engine.sync()
    assert summary.ok, summary.links["pipeline"].outcomes
    [ns_opp] = w.ns.all("opportunity")
    return opp, ns_opp.id


def outcome_of(summary: Any, opp: str) -> Any:
    [o] = [o for o in summary.links["pipeline"].outcomes if o.id == opp]
    return o


async def test_update_adding_a_product_without_an_item_is_the_items_linked_review_and_writes_nothing():
    w = setup(preflight=["items_linked"])
    item, widget = await catalog(w)
    opp, ns_id = await opportunity_in_netsuite(w, widget)
    before = w.ns.get("opportunity", ns_id)
    loose = w.sf.create("Product2", {"Name": "Hand-made part"})  # no NetSuite item
    w.clock.advance(60)
    ns_writes = w.ns.n_writes
    w.sf.edit("Opportunity", opp, Name="Rockets Q3",
              OpportunityLineItems=lines((widget, 1, 100), (loose, 2, 50)))
    summary = await w.engine.sync()
    o = outcome_of(summary, opp)
    assert o.outcome.value == "waiting"
    assert o.reason.startswith("preflight: items_linked: ") and loose in o.reason
    assert w.ns.n_writes == ns_writes and w.ns.get("opportunity", ns_id) == before  # not even the title
    [review] = await w.store.list_reviews(link="pipeline")
    reason = guard_reason(review) or ""
    assert review.record_id == opp and review.system is System.SALESFORCE
    assert reason.startswith("items_linked: ") and loose in reason and "items or service_items" in reason
    assert await w.store.list_dead_letters() == []
    assert summary.links["pipeline"].actions["preflight"] == 1
    # the next pass looks again and still writes nothing
    w.clock.advance(60)
    await w.engine.sync()
    assert w.ns.n_writes == ns_writes
    # finance creates the item and the product is linked to it: the held change is written whole
    part = w.ns.create("serviceSaleItem", {"itemId": "Hand-made part"})
    w.sf.edit("Product2", loose, NetSuite_Id__c=part)
    w.clock.advance(60)
    w.sf.edit("Opportunity", opp, Description="retry")
    summary = await w.engine.sync()
    assert summary.ok, summary.links["pipeline"].outcomes
    after = w.ns.get("opportunity", ns_id)
    assert after is not None and after.fields["title"] == "Rockets Q3"
    assert after.fields["item"] == {"items": [{"item": {"id": item}, "quantity": 1, "rate": 100},
                                              {"item": {"id": part}, "quantity": 2, "rate": 50}]}
    assert await w.store.list_reviews(link="pipeline") == []  # the review is closed
    assert len(w.ns.all("opportunity")) == 1


async def test_update_with_an_unresolved_ref_and_no_preflight_is_a_map_dead_letter_then_retry_writes_it():
    w = setup()
    item, widget = await catalog(w)
    opp, ns_id = await opportunity_in_netsuite(w, widget)
    before = w.ns.get("opportunity", ns_id)
    loose = w.sf.create("Product2", {"Name": "Hand-made part"})
    w.clock.advance(60)
    ns_writes = w.ns.n_writes
    w.sf.edit("Opportunity", opp, Name="Rockets Q3",
              OpportunityLineItems=lines((widget, 1, 100), (loose, 2, 50)))
    summary = await w.engine.sync()
    assert not summary.ok
    assert outcome_of(summary, opp).outcome.value == "dead_lettered"
    assert w.ns.n_writes == ns_writes and w.ns.get("opportunity", ns_id) == before
    [letter] = await w.store.list_dead_letters()  # one for the pair
    # the NetSuite side, read again in the same pass, waits on that letter
    held = outcome_of(summary, ns_id)
    assert held.outcome.value == "waiting" and held.reason.startswith(
        f"held with salesforce Opportunity {opp} (dead letter {letter.id}): ")
    assert (letter.link, letter.source_id, letter.step, letter.error_code) == \
        ("pipeline", opp, Step.MAP, "REF_UNRESOLVED")
    assert f"salesforce {loose} is linked through none of items, service_items" in letter.error_message
    assert letter.target_system is System.NETSUITE
    assert await w.store.list_reviews(link="pipeline") == []
    # a pass with nothing new does not write it either (the letter stays open, the change pending)
    w.clock.advance(60)
    await w.engine.sync()
    assert w.ns.n_writes == ns_writes
    part = w.ns.create("serviceSaleItem", {"itemId": "Hand-made part"})
    w.sf.edit("Product2", loose, NetSuite_Id__c=part)
    outcome = await Operations(w.engine).retry_dead_letter(letter.id)
    assert outcome is not None and outcome.outcome.value == "synced", outcome
    after = w.ns.get("opportunity", ns_id)
    assert after is not None and after.fields["title"] == "Rockets Q3"  # the held change, whole
    assert after.fields["item"] == {"items": [{"item": {"id": item}, "quantity": 1, "rate": 100},
                                              {"item": {"id": part}, "quantity": 2, "rate": 50}]}
    assert await w.store.list_dead_letters() == []
    writes = w.n_writes
    w.clock.advance(60)
    assert (await w.engine.sync()).ok
    assert w.n_writes == writes


async def test_update_whose_single_link_parent_cannot_be_synced_is_a_ref_dead_letter_and_keeps_the_change():
    w = setup('"items"')
    item, widget = await catalog(w)
    opp, ns_id = await opportunity_in_netsuite(w, widget)
    before = w.ns.get("opportunity", ns_id)
    loose = w.sf.create("Product2", {"Name": "Hand-made part"})
    w.clock.advance(60)
    ns_writes = w.ns.n_writes
    w.sf.edit("Opportunity", opp, Name="Rockets Q3",
              OpportunityLineItems=lines((widget, 3, 100), (loose, 2, 50)))
    summary = await w.engine.sync()
    assert outcome_of(summary, opp).outcome.value == "dead_lettered"
    assert outcome_of(summary, ns_id).outcome.value == "waiting"
    assert w.ns.n_writes == ns_writes and w.ns.get("opportunity", ns_id) == before
    [letter] = await w.store.list_dead_letters()
    assert (letter.step, letter.error_code) == (Step.REF, "PARENT_NOT_SYNCED")
    assert loose in letter.error_message
    part = w.ns.create("inventoryItem", {"itemId": "Hand-made part"})
    w.sf.edit("Product2", loose, NetSuite_Id__c=part)
    outcome = await Operations(w.engine).retry_dead_letter(letter.id)
    assert outcome is not None and outcome.outcome.value == "synced", outcome
    after = w.ns.get("opportunity", ns_id)
    assert after is not None and after.fields["title"] == "Rockets Q3"
    assert after.fields["item"] == {"items": [{"item": {"id": item}, "quantity": 3, "rate": 100},
                                              {"item": {"id": part}, "quantity": 2, "rate": 50}]}


async def test_create_with_an_unresolved_ref_and_no_preflight_is_a_map_dead_letter_and_creates_nothing():
    w = setup()
    _, widget = await catalog(w)
    loose = w.sf.create("Product2", {"Name": "Hand-made part"})
    acct = w.sf.create("Account", {"Name": "Acme"})
    opp = w.sf.create("Opportunity", {"Name": "Rockets", "AccountId": acct,
                                      "OpportunityLineItems": lines((widget, 1, 100), (loose, 1, 5))})
    summary = await w.engine.sync()
    assert outcome_of(summary, opp).outcome.value == "dead_lettered"
    assert w.ns.all("opportunity") == []
    letters = {d.link: d for d in await w.store.list_dead_letters()}
    assert letters.keys() == {"pipeline"}
    assert (letters["pipeline"].step, letters["pipeline"].error_code) == (Step.MAP, "REF_UNRESOLVED")
    assert loose in letters["pipeline"].error_message


async def test_an_items_linked_check_limited_to_other_links_does_not_let_an_unresolved_line_through():
    w = setup(preflight=[{"check": "items_linked", "links": ["kits"]}])
    _, widget = await catalog(w)
    opp, _ = await opportunity_in_netsuite(w, widget)
    loose = w.sf.create("Product2", {"Name": "Hand-made part"})
    w.clock.advance(60)
    ns_writes = w.ns.n_writes
    w.sf.edit("Opportunity", opp, OpportunityLineItems=lines((widget, 1, 100), (loose, 2, 50)))
    summary = await w.engine.sync()
    assert outcome_of(summary, opp).outcome.value == "dead_lettered"
    assert w.ns.n_writes == ns_writes
    [letter] = await w.store.list_dead_letters()
    assert letter.error_code == "REF_UNRESOLVED" and loose in letter.error_message

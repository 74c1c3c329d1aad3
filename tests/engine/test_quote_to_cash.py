"""Quote-to-cash in the engine with in-memory fakes: child lines, refs through several links,
preflight checks that park a create as a review, and the freeze guard on approved orders."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

import pytest
from engine_world import ACCOUNTS

from ledgerbridge.core.records import Record, System
from ledgerbridge.engine.memory_store import MemoryStateStore
from ledgerbridge.engine.runner import Engine
from ledgerbridge.engine.steps import guard_reason
from ledgerbridge.flows.spec import LinkSpec
from ledgerbridge.testing.fakes import FakeSystem, ManualClock

pytestmark = pytest.mark.anyio


class ChildAwareFake(FakeSystem):
    """The fake, reading ``FIELDS(ALL)`` and ``(SELECT ... FROM Rel)`` entries as the connector does."""

    @staticmethod
    def _project(r: Record, fields: Sequence[str] | None) -> Record:
        if fields is None or "FIELDS(ALL)" in fields:
            return replace(r, fields=copy.deepcopy(dict(r.fields)))
        keys = [f.rsplit(" ", 1)[-1].rstrip(")") if f.startswith("(") else f for f in fields]
        return replace(r, fields={k: copy.deepcopy(r.fields[k]) for k in keys if k in r.fields})


def product_link(item_type: str) -> dict:
    return {"salesforce": "Product2", "netsuite": item_type, "direction": "to_salesforce",
            "ids": {"salesforce_external_id": "NetSuite_Id__c"},
            "fields": [{"salesforce": "Name", "netsuite": "itemId"}], "match": {"external_id": True}}


ORDERS = {
    "salesforce": "Opportunity", "netsuite": "salesOrder", "direction": "to_netsuite",
    "scope": {"salesforce": "IsWon = true"},
    "fields": [
        {"salesforce": "AccountId", "netsuite": "entity", "ref": "accounts"},
        {"name": "lines", "netsuite": "item",
         "to_netsuite": '{"items": [OpportunityLineItems.records.{'
                        '"item": {"id": $ref(["items", "service_items"], Product2Id)}, '
                        '"quantity": Quantity, "rate": UnitPrice * (1 - (Discount ? Discount : 0) / 100)}]}'},
        {"salesforce": "PO_Number__c", "netsuite": "otherRefNum", "direction": "to_netsuite"},
        {"salesforce": "NetSuite_Order_Id__c", "netsuite": "id", "direction": "to_salesforce"},
        {"salesforce": "NetSuite_Order_Status__c", "netsuite": "orderStatus",
         "direction": "to_salesforce", "to_salesforce": "orderStatus.id"},
    ],
    "match": {"external_id": True},
    "delete": "unlink",
    "options": {
        "children": {"OpportunityLineItems": ["Id", "Product2Id", "Quantity", "UnitPrice", "Discount"]},
        "preflight": ["items_linked", "lines_total", "subsidiary"],
        "freeze_when": {"netsuite": "orderStatus.id != 'A'"},
    },
}


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.sf = ChildAwareFake(System.SALESFORCE, self.clock)
        self.ns = ChildAwareFake(System.NETSUITE, self.clock)
        self.store = MemoryStateStore()
        links = {"accounts": ACCOUNTS, "items": product_link("inventoryItem"),
                 "service_items": product_link("serviceSaleItem"), "orders": ORDERS}
        specs = {n: LinkSpec.model_validate(s) for n, s in links.items()}
        self.engine = Engine(specs, salesforce=self.sf, netsuite=self.ns, store=self.store, clock=self.clock)
        self.sf.where["IsWon = true"] = lambda r: r.fields.get("IsWon") is True

    async def catalog(self) -> dict[str, str]:
        self.widget = self.ns.create("inventoryItem", {"itemId": "Widget",
                                                       "subsidiary": {"items": [{"id": "1"}]}})
        self.setup = self.ns.create("serviceSaleItem", {"itemId": "Setup"})
        await self.engine.sync(["items", "service_items"])
        return {str(p.fields["Name"]): p.id for p in self.sf.all("Product2")}

    def won(self, lines: list[tuple[str, float, float, float | None]], amount: float) -> str:
        acct = self.sf.create("Account", {"Name": "Acme"})
        return self.sf.create("Opportunity", {
            "Name": "Deal", "IsWon": True, "AccountId": acct, "Amount": amount, "PO_Number__c": "PO-1",
            "OpportunityLineItems": {"totalSize": len(lines), "done": True, "records": [
                {"Product2Id": p, "Quantity": q, "UnitPrice": u, "Discount": d} for p, q, u, d in lines]}})


async def test_lines_resolve_through_either_item_link_and_the_order_is_written_back():
    w = World()
    products = await w.catalog()
    opp = w.won([(products["Widget"], 3, 10.0, 15.0), (products["Setup"], 1, 100.0, None)], 125.5)
    summary = await w.engine.sync(["orders"])
    assert summary.ok, summary.links["orders"].outcomes
    [order] = w.ns.all("salesOrder")
    assert order.fields["externalId"] == opp
    assert order.fields["item"] == {"items": [{"item": {"id": w.widget}, "quantity": 3, "rate": 8.5},
                                              {"item": {"id": w.setup}, "quantity": 1, "rate": 100}]}
    assert w.sf.get("Opportunity", opp).fields["NetSuite_Order_Id__c"] == order.id  # type: ignore[union-attr]
    writes = w.sf.n_writes + w.ns.n_writes
    w.clock.advance(60)
    await w.engine.sync()
    assert w.sf.n_writes + w.ns.n_writes == writes


async def test_a_product_without_an_item_is_a_preflight_review_and_nothing_reaches_netsuite():
    w = World()
    products = await w.catalog()
    loose = w.sf.create("Product2", {"Name": "Loose"})
    opp = w.won([(products["Widget"], 1, 10.0, None), (loose, 1, 5.0, None)], 15.0)
    summary = await w.engine.sync(["orders"])
    [outcome] = [o for o in summary.links["orders"].outcomes if o.id == opp]
    assert outcome.outcome.value == "waiting" and "items_linked" in outcome.reason
    assert w.ns.all("salesOrder") == [] and w.ns.all("customer") != []
    [review] = await w.store.list_reviews(link="orders")
    assert review.record_id == opp and review.candidates == ()
    reason = guard_reason(review)
    assert reason is not None and loose in reason and "items or service_items" in reason
    assert await w.store.list_dead_letters() == []
    # the product gets its item: the next pass creates the order and closes the review
    item = w.ns.create("serviceSaleItem", {"itemId": "Loose"})
    w.sf.edit("Product2", loose, NetSuite_Id__c=item)
    w.clock.advance(60)
    w.sf.edit("Opportunity", opp, Description="retry")
    assert (await w.engine.sync(["orders"])).ok
    [order] = w.ns.all("salesOrder")
    assert [ln["item"]["id"] for ln in order.fields["item"]["items"]] == [w.widget, item]  # type: ignore[index]
    assert await w.store.list_reviews(link="orders") == []


async def test_lines_that_do_not_add_up_to_the_amount_are_a_preflight_review():
    w = World()
    products = await w.catalog()
    opp = w.won([(products["Widget"], 3, 9.99, None)], 30.0)
    await w.engine.sync(["orders"])
    [review] = await w.store.list_reviews(link="orders")
    assert guard_reason(review) == ("lines_total: lines total 29.97 (quantity x rate per line, as NetSuite "
                                    "computes it) differs from Amount 30.00")
    assert review.record_id == opp and w.ns.all("salesOrder") == []


async def test_an_item_outside_the_customers_subsidiary_is_a_preflight_review():
    w = World()
    products = await w.catalog()
    w.ns.edit("inventoryItem", w.widget, subsidiary={"items": [{"id": "3"}]})
    w.won([(products["Widget"], 1, 10.0, None)], 10.0)
    await w.engine.sync(["orders"])
    [review] = await w.store.list_reviews(link="orders")
    assert guard_reason(review) == "subsidiary: item Widget is not available in subsidiary 1 (only 3)"


async def test_an_approved_order_is_frozen_edits_raise_a_review_and_status_still_flows_back():
    w = World()
    products = await w.catalog()
    opp = w.won([(products["Widget"], 1, 10.0, None)], 10.0)
    await w.engine.sync(["orders"])
    [order] = w.ns.all("salesOrder")
    w.clock.advance(60)
    w.ns.edit("salesOrder", order.id, orderStatus={"id": "B", "refName": "Pending Fulfillment"})
    w.sf.edit("Opportunity", opp, PO_Number__c="PO-2")
    ns_writes = w.ns.n_writes
    summary = await w.engine.sync(["orders"])
    assert w.ns.n_writes == ns_writes
    assert w.ns.get("salesOrder", order.id).fields["otherRefNum"] == "PO-1"  # type: ignore[union-attr]
    assert w.sf.get("Opportunity", opp).fields["NetSuite_Order_Status__c"] == "B"  # type: ignore[union-attr]
    [review] = await w.store.list_reviews(link="orders")
    reason = guard_reason(review)
    assert review.record_id == opp and reason is not None and "PO_Number__c" in reason
    assert any(o.outcome.value == "waiting" for o in summary.links["orders"].outcomes)
    writes = w.sf.n_writes + w.ns.n_writes
    w.clock.advance(60)
    await w.engine.sync(["orders"])
    assert w.sf.n_writes + w.ns.n_writes == writes
    assert len(await w.store.list_reviews(link="orders")) == 1

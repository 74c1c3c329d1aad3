from __future__ import annotations

import copy

import pytest
from engine_world import ACCOUNTS, world

from ledgerbridge.core.errors import ErrorKind
from ledgerbridge.core.records import RecordError, System
from ledgerbridge.core.store import Step
from ledgerbridge.engine import Operations

pytestmark = pytest.mark.anyio

PRODUCTS = {
    "salesforce": "Product2", "netsuite": "inventoryItem", "direction": "to_salesforce",
    "ids": {"salesforce_external_id": "NetSuite_Id__c"},
    "fields": [{"salesforce": "Name", "netsuite": "itemId"},
               {"salesforce": "IsActive", "netsuite": "isInactive", "to_salesforce": "$not(isInactive)"}],
    "match": {"external_id": True},
}
ORDERS = {
    "salesforce": "Opportunity", "netsuite": "salesOrder", "direction": "to_netsuite",
    "scope": {"salesforce": "StageName = 'Closed Won'"},
    "fields": [
        {"salesforce": "AccountId", "netsuite": "entity", "ref": "accounts"},
        {"name": "lines", "netsuite": "item",
         "to_netsuite": '{"items": [OpportunityLineItems.records.{'
                        '"item": {"id": $ref("products", Product2Id)}, '
                        '"quantity": Quantity, "rate": UnitPrice}]}'},
        {"name": "total", "netsuite": "custbody_sf_total",
         "to_netsuite": "$sum(OpportunityLineItems.records.(Quantity * UnitPrice))"},
        {"netsuite": "orderStatus", "value": "B"},
        {"salesforce": "NetSuite_Order_Id__c", "netsuite": "id", "direction": "to_salesforce"},
    ],
    "match": {"external_id": True},
    "delete": "unlink",
}


def links():
    return {"accounts": ACCOUNTS, "products": PRODUCTS, "orders": ORDERS}


def won(w, account_id, lines):
    return w.sf.create("Opportunity", {
        "Name": "Big deal", "StageName": "Closed Won", "AccountId": account_id,
        "OpportunityLineItems": {"records": [{"Product2Id": p, "Quantity": q, "UnitPrice": u}
                                             for p, q, u in lines]}})


async def test_links_run_parents_first():
    w = world(links())
    assert w.engine.order() == ["accounts", "products", "orders"]
    assert w.engine.order(["orders", "accounts"]) == ["accounts", "orders"]


async def test_order_lines_map_to_item_sublist_and_the_unlinked_customer_is_synced_first():
    w = world(links())
    w.sf.where["StageName = 'Closed Won'"] = lambda r: r.fields.get("StageName") == "Closed Won"
    widget = w.ns.create("inventoryItem", {"itemId": "Widget", "isInactive": False})
    gadget = w.ns.create("inventoryItem", {"itemId": "Gadget", "isInactive": False})
    await w.engine.sync(["products"])
    products = {p.fields["Name"]: p.id for p in w.sf.all("Product2")}
    assert products.keys() == {"Widget", "Gadget"}
    assert all(p.fields["IsActive"] is True for p in w.sf.all("Product2"))
    acct = w.sf.create("Account", {"Name": "Acme"})
    w.sf.create("Opportunity", {"Name": "Lost deal", "StageName": "Closed Lost", "AccountId": acct})
    opp = won(w, acct, [(products["Widget"], 2, 10.0), (products["Gadget"], 1, 5.5)])
    summary = await w.engine.sync(["orders"])  # accounts not named: synced on demand as the parent
    assert summary.ok, summary.links["orders"].outcomes
    [customer] = w.ns.all("customer")
    assert customer.fields["externalId"] == acct
    [order] = w.ns.all("salesOrder")
    assert order.fields["externalId"] == opp
    assert order.fields["entity"] == {"id": customer.id}
    assert order.fields["item"] == {"items": [{"item": {"id": widget}, "quantity": 2, "rate": 10},
                                              {"item": {"id": gadget}, "quantity": 1, "rate": 5.5}]}
    assert order.fields["custbody_sf_total"] == 25.5
    assert w.sf.get("Opportunity", opp).fields["NetSuite_Order_Id__c"] == order.id  # type: ignore[union-attr]
    writes = w.n_writes
    w.clock.advance(60)
    await w.engine.sync()
    assert w.n_writes == writes


async def test_a_line_change_updates_the_sublist():
    w = world(links())
    item = w.ns.create("inventoryItem", {"itemId": "Widget", "isInactive": False})
    await w.engine.sync(["products"])
    [product] = w.sf.all("Product2")
    acct = w.sf.create("Account", {"Name": "Acme"})
    opp = won(w, acct, [(product.id, 1, 10)])
    await w.engine.sync()
    w.clock.advance(60)
    w.sf.edit("Opportunity", opp, OpportunityLineItems={"records": [
        {"Product2Id": product.id, "Quantity": 3, "UnitPrice": 10}]})
    await w.engine.sync()
    [order] = w.ns.all("salesOrder")
    assert order.fields["item"]["items"] == [{"item": {"id": item}, "quantity": 3, "rate": 10}]  # type: ignore[index]
    assert order.fields["custbody_sf_total"] == 30


async def test_a_parent_that_cannot_be_synced_dead_letters_the_child_with_that_reason_then_retry_works():
    w = world(links())
    acct = w.sf.create("Account", {"Name": "Acme"})
    rule = w.ns.fail_writes(lambda obj, wr: obj == "customer",
                            RecordError(ErrorKind.RECORD, "SUBSIDIARY_REQUIRED", "pick a subsidiary"))
    opp = won(w, acct, [])
    summary = await w.engine.sync(["orders"])
    assert not summary.ok
    letters = {d.link: d for d in await w.store.list_dead_letters()}
    assert letters["accounts"].error_code == "SUBSIDIARY_REQUIRED"
    assert letters["orders"].step is Step.REF and letters["orders"].error_code == "PARENT_NOT_SYNCED"
    message = letters["orders"].error_message
    assert acct in message and "SUBSIDIARY_REQUIRED" in message
    assert w.ns.all("salesOrder") == []
    w.ns.rules.remove(rule)
    outcome = await Operations(w.engine).retry_dead_letter(letters["orders"].id)
    assert outcome is not None and outcome.outcome.value == "synced"
    [order] = w.ns.all("salesOrder")
    assert order.fields["externalId"] == opp
    assert await w.store.list_dead_letters() == []  # the parent's letter closed too


ADDRESS_FIELD = {
    "name": "billing_address",
    "salesforce": ["BillingStreet", "BillingCity", "BillingPostalCode", "BillingCountry"],
    "netsuite": "addressBook",
    "to_netsuite": '{"items": [{"defaultBilling": true, "label": "Billing", "addressBookAddress": '
                   '{"addr1": BillingStreet, "city": BillingCity, "zip": BillingPostalCode, '
                   '"country": BillingCountry}}]}',
    "to_salesforce": '($a := addressBook.items[defaultBilling].addressBookAddress; '
                     '{"BillingStreet": $a.addr1, "BillingCity": $a.city, "BillingPostalCode": $a.zip, '
                     '"BillingCountry": $a.country})',
}


async def test_address_maps_to_address_book_and_back():
    spec = copy.deepcopy(ACCOUNTS)
    spec["fields"].append(ADDRESS_FIELD)
    w = world({"accounts": spec})
    sf_id = w.sf.create("Account", {"Name": "Acme", "BillingStreet": "1 Main St",
                                    "BillingCity": "Springfield", "BillingPostalCode": "12345",
                                    "BillingCountry": "US"})
    await w.engine.sync()
    [c] = w.ns.all("customer")
    assert c.fields["addressBook"] == {"items": [{
        "defaultBilling": True, "label": "Billing",
        "addressBookAddress": {"addr1": "1 Main St", "city": "Springfield", "zip": "12345",
                               "country": "US"}}]}
    # NetSuite adds line ids and a second (shipping) address, and a person moves the billing address
    w.clock.advance(60)
    w.ns.edit("customer", c.id, addressBook={"items": [
        {"id": 7, "defaultShipping": True, "addressBookAddress": {"addr1": "9 Dock Rd", "city": "Portville"}},
        {"id": 8, "defaultBilling": True, "label": "Billing", "addressBookAddress": {
            "addr1": "2 High St", "city": "Shelbyville", "zip": "54321", "country": "US"}}]})
    await w.engine.sync()
    sf = w.sf.get("Account", sf_id)
    assert sf is not None
    assert (sf.fields["BillingStreet"], sf.fields["BillingCity"], sf.fields["BillingPostalCode"]) == \
        ("2 High St", "Shelbyville", "54321")
    writes = w.n_writes
    await w.engine.sync()
    assert w.n_writes == writes
    assert len(w.ns.all("customer")) == 1
    assert (await w.store.get_xref("accounts", System.SALESFORCE, sf_id)) is not None

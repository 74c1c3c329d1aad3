from __future__ import annotations

import pytest
from engine_world import world

from ledgerbridge.core.records import System
from ledgerbridge.core.store import ConflictStatus

pytestmark = pytest.mark.anyio


async def test_new_salesforce_account_creates_customer_idempotently_and_writes_the_id_back():
    w = world()
    sf_id = w.sf.create("Account", {"Name": "Acme", "Phone": "415", "Email__c": "Ops@Acme.com "})
    summary = await w.engine.sync()
    assert summary.ok, summary
    customers = w.ns.all("customer")
    assert len(customers) == 1
    c = customers[0]
    assert c.fields["externalId"] == sf_id
    assert c.fields["companyName"] == "Acme"
    assert c.fields["email"] == "ops@acme.com"
    assert c.fields["subsidiary"] == {"id": "1"}
    assert w.sf.get("Account", sf_id).fields["NetSuite_Id__c"] == c.id  # type: ignore[union-attr]
    xref = await w.store.get_xref("accounts", System.SALESFORCE, sf_id)
    assert xref is not None and xref.ns_id == c.id
    assert summary.actions["create:netsuite"] == 1


async def test_a_pass_over_our_own_echo_makes_zero_writes():
    w = world()
    w.sf.create("Account", {"Name": "Acme", "Phone": "415"})
    await w.engine.sync()
    w.clock.advance(60)
    writes = w.n_writes
    summary = await w.engine.sync()
    assert w.n_writes == writes
    assert summary.counts["synced"] == 0
    assert summary.counts["skipped"] >= 1


async def test_field_changed_on_one_side_is_copied_across_then_settles():
    w = world()
    sf_id = w.sf.create("Account", {"Name": "Acme", "Phone": "415"})
    await w.engine.sync()
    ns_id = w.ns.all("customer")[0].id
    w.clock.advance(60)
    w.sf.edit("Account", sf_id, Name="Acme Corp")
    w.ns.edit("customer", ns_id, creditLimit=5000)
    await w.engine.sync()
    assert w.ns.get("customer", ns_id).fields["companyName"] == "Acme Corp"  # type: ignore[union-attr]
    assert w.sf.get("Account", sf_id).fields["Credit_Limit__c"] == 5000  # type: ignore[union-attr]
    writes = w.n_writes
    w.clock.advance(60)
    await w.engine.sync()
    assert w.n_writes == writes


async def test_conflict_is_settled_by_owner_newest_or_parked_for_review():
    w = world()
    sf_id = w.sf.create("Account", {"Name": "Acme", "Phone": "1", "Website": "a.com"})
    await w.engine.sync()
    ns_id = w.ns.all("customer")[0].id
    w.clock.advance(60)
    # Phone: owner salesforce. Name: newest (NetSuite edited later). Website: review.
    w.ns.edit("customer", ns_id, phone="2-ns", url="ns.com")
    w.sf.edit("Account", sf_id, Phone="2-sf", Website="sf.com")
    w.clock.advance(1)
    w.sf.edit("Account", sf_id, Name="Acme SF")
    w.clock.advance(1)
    w.ns.edit("customer", ns_id, companyName="Acme NS")
    summary = await w.engine.sync()
    sf, ns = w.sf.get("Account", sf_id), w.ns.get("customer", ns_id)
    assert sf is not None and ns is not None
    assert sf.fields["Phone"] == ns.fields["phone"] == "2-sf"
    assert sf.fields["Name"] == ns.fields["companyName"] == "Acme NS"
    assert (sf.fields["Website"], ns.fields["url"]) == ("sf.com", "ns.com")
    conflicts = await w.store.list_conflicts(link="accounts")
    assert [(c.field, c.sf_value, c.ns_value) for c in conflicts] == [("Website", "sf.com", "ns.com")]
    assert summary.counts["waiting"] >= 1
    # both human edits that lost are in the audit log
    audit = await w.store.list_audit(link="accounts", record_id=sf_id, limit=100)
    conflicts_audited = {e.fields[0]: e for e in audit if e.action == "conflict"}
    assert conflicts_audited["Phone"].before == {"salesforce": "2-sf", "netsuite": "2-ns"}
    assert conflicts_audited["Name"].decision == "netsuite_wins"
    # a second pass keeps the conflict parked without duplicating it and writes nothing
    writes = w.n_writes
    await w.engine.sync()
    assert w.n_writes == writes
    assert len(await w.store.list_conflicts(link="accounts")) == 1
    assert (await w.store.list_conflicts(link="accounts"))[0].status is ConflictStatus.OPEN


async def test_a_create_leaves_empty_mapped_values_out_so_the_system_applies_its_defaults():
    w = world()
    sf_id = w.sf.create("Account", {"Name": "Acme", "Phone": None})
    await w.engine.sync()
    [c] = w.ns.all("customer")
    assert c.fields["companyName"] == "Acme"
    assert "phone" not in c.fields and "email" not in c.fields  # not sent as null
    # and the empty field settles: a second pass writes nothing
    writes = w.n_writes
    w.clock.advance(60)
    await w.engine.sync()
    assert w.n_writes == writes
    assert w.sf.get("Account", sf_id) is not None

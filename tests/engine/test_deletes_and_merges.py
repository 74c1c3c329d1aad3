from __future__ import annotations

import copy

import pytest
from engine_world import ACCOUNTS, world

from ledgerbridge.core.records import System

pytestmark = pytest.mark.anyio


def with_delete(policy):
    spec = copy.deepcopy(ACCOUNTS)
    spec["delete"] = policy
    return {"accounts": spec}


async def synced_pair(w):
    sf_id = w.sf.create("Account", {"Name": "Acme", "Phone": "1"})
    await w.engine.sync()
    [c] = w.ns.all("customer")
    w.clock.advance(60)
    return sf_id, c.id


async def test_delete_in_salesforce_deactivates_the_customer_by_default():
    w = world()
    sf_id, ns_id = await synced_pair(w)
    w.sf.remove("Account", sf_id)
    summary = await w.engine.sync()
    assert w.ns.get("customer", ns_id).fields["isInactive"] is True  # type: ignore[union-attr]
    x = await w.store.get_xref("accounts", System.SALESFORCE, sf_id)
    assert x is not None and x.deleted_on is System.SALESFORCE  # closed, kept as a tombstone
    assert summary.actions["deactivate:netsuite"] == 1
    audit = await w.store.list_audit(link="accounts", record_id=ns_id)
    assert audit[0].action == "deactivate" and audit[0].after == {"isInactive": True}


async def test_deactivate_uses_the_configured_flag():
    flag = {"field": "Status__c", "value": "Inactive"}
    w = world(with_delete({"policy": "deactivate", "salesforce": flag}))
    sf_id, ns_id = await synced_pair(w)
    w.ns.remove("customer", ns_id)
    await w.engine.sync()
    assert w.sf.get("Account", sf_id).fields["Status__c"] == "Inactive"  # type: ignore[union-attr]


async def test_delete_policy_deletes_and_unlink_policy_only_forgets():
    w = world(with_delete("delete"))
    sf_id, ns_id = await synced_pair(w)
    w.sf.remove("Account", sf_id)
    await w.engine.sync()
    assert w.ns.get("customer", ns_id) is None
    w2 = world(with_delete("unlink"))
    sf_id, ns_id = await synced_pair(w2)
    w2.sf.remove("Account", sf_id)
    writes = w2.n_writes
    await w2.engine.sync()
    assert w2.n_writes == writes and w2.ns.get("customer", ns_id) is not None
    assert (await w2.store.get_xref("accounts", System.NETSUITE, ns_id)).is_closed  # type: ignore[union-attr]
    # the surviving customer is neither synced nor re-created later
    w2.clock.advance(60)
    w2.ns.edit("customer", ns_id, phone="9")
    await w2.engine.sync()
    assert w2.n_writes == writes and len(w2.sf.all("Account")) == 0


async def test_partner_missing_on_read_is_handled_as_a_delete():
    w = world()
    sf_id, ns_id = await synced_pair(w)
    del w.ns.records["customer"][ns_id]  # gone without a trace in the delete feed
    w.sf.edit("Account", sf_id, Phone="2")
    await w.engine.sync()
    assert w.sf.get("Account", sf_id).fields.get("IsActive") is False  # type: ignore[union-attr]
    assert (await w.store.get_xref("accounts", System.SALESFORCE, sf_id)).is_closed  # type: ignore[union-attr]
    writes = w.n_writes
    await w.engine.sync()
    assert w.n_writes == writes


async def test_salesforce_merge_relinks_to_the_winner_instead_of_deactivating():
    w = world()
    loser = w.sf.create("Account", {"Name": "Acme (dup)", "Phone": "1"})
    winner = w.sf.create("Account", {"Name": "Acme", "Phone": "2", "Email__c": "a@acme.com"})
    await w.engine.sync()
    x_loser = await w.store.get_xref("accounts", System.SALESFORCE, loser)
    x_winner = await w.store.get_xref("accounts", System.SALESFORCE, winner)
    assert x_loser is not None and x_winner is not None
    w.clock.advance(60)
    # unlinked winner case: forget the winner's link first, as if it had been created after the sync
    await w.store.delete_xref("accounts", winner, x_winner.ns_id)
    w.ns.remove("customer", x_winner.ns_id)
    w.ns.deleted.clear()
    w.sf.merge("Account", loser, winner)
    await w.engine.sync()
    x = await w.store.get_xref("accounts", System.SALESFORCE, winner)
    assert x is not None and x.ns_id == x_loser.ns_id
    c = w.ns.get("customer", x_loser.ns_id)
    assert c is not None and c.fields.get("isInactive") is not True
    assert c.fields["companyName"] == "Acme" and c.fields["email"] == "a@acme.com"
    assert any(e.action == "relink" for e in await w.store.list_audit(link="accounts"))


async def test_merge_into_an_already_linked_winner_deactivates_the_losers_partner():
    w = world()
    loser = w.sf.create("Account", {"Name": "Acme (dup)"})
    winner = w.sf.create("Account", {"Name": "Acme"})
    await w.engine.sync()
    x_loser = await w.store.get_xref("accounts", System.SALESFORCE, loser)
    assert x_loser is not None
    w.clock.advance(60)
    w.sf.merge("Account", loser, winner)
    await w.engine.sync()
    assert w.ns.get("customer", x_loser.ns_id).fields["isInactive"] is True  # type: ignore[union-attr]
    assert await w.store.get_xref("accounts", System.SALESFORCE, winner) is not None


async def test_repeated_delete_signals_never_echo_even_if_the_closure_was_not_kept():
    w = world()
    sf_id, ns_id = await synced_pair(w)
    original_put = w.store.put_xref

    async def forgetful_put(x):  # an adapter that does not keep Xref.deleted_on
        from dataclasses import replace

        await original_put(replace(x, deleted_on=None))

    w.store.put_xref = forgetful_put  # type: ignore[method-assign]
    w.sf.remove("Account", sf_id)
    await w.engine.sync()
    assert w.ns.get("customer", ns_id).fields["isInactive"] is True  # type: ignore[union-attr]
    writes = w.n_writes
    for _ in range(3):
        w.clock.advance(30)
        await w.engine.sync()
    assert w.n_writes == writes
    assert len(w.sf.all("Account")) == 0

"""A parent and its child new in the same batch: the parent is written first, then the child with
the parent's id, in the same pass; a true reference cycle is a dead letter naming the cycle."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from engine_world import ACCOUNTS, World, world

from ledgerbridge.core.errors import ErrorKind
from ledgerbridge.core.records import Change, RecordError, System
from ledgerbridge.core.store import Step
from ledgerbridge.engine import Engine

pytestmark = pytest.mark.anyio


def accounts_with_parent() -> dict[str, Any]:
    spec = copy.deepcopy(ACCOUNTS)
    spec["fields"].append({"salesforce": "ParentId", "netsuite": "parent", "ref": "accounts"})
    return spec


def family(**kw: Any) -> World:
    return world({"accounts": accounts_with_parent()}, **kw)


def customer_of(w: World, sf_id: str) -> Any:
    [customer] = [c for c in w.ns.all("customer") if c.fields.get("externalId") == sf_id]
    return customer


def parent_id(w: World, sf_id: str) -> Any:
    value = customer_of(w, sf_id).fields.get("parent")
    return value.get("id") if isinstance(value, dict) else value


def sf_outcomes(summary: Any) -> list[tuple[str, str, str]]:
    return [(o.id, o.action, o.outcome.value) for o in summary.links["accounts"].outcomes
            if o.system is System.SALESFORCE]


async def assert_next_pass_writes_nothing(w: World) -> None:
    writes = w.n_writes
    w.clock.advance(60)
    again = await w.engine.sync()
    assert again.ok, again.links["accounts"].outcomes
    assert w.n_writes == writes


async def test_parent_listed_before_its_new_child_is_created_first_in_the_same_pass():
    w = family()
    parent = w.sf.create("Account", {"Name": "Globex Holdings"})
    child = w.sf.create("Account", {"Name": "Globex Europe", "ParentId": parent})
    summary = await w.engine.sync()
    assert summary.ok, summary.links["accounts"].outcomes
    assert await w.store.list_dead_letters() == []
    assert sf_outcomes(summary) == [(parent, "create", "synced"), (child, "create", "synced")]
    assert summary.links["accounts"].actions["create:netsuite"] == 2
    assert len(w.ns.all("customer")) == 2  # the parent is not created twice
    assert parent_id(w, child) == customer_of(w, parent).id
    assert int(customer_of(w, parent).id) < int(customer_of(w, child).id)
    await assert_next_pass_writes_nothing(w)


async def test_child_listed_before_its_new_parent_syncs_the_parent_ahead_and_once():
    w = family()
    parent = w.sf.create("Account", {"Name": "Globex Holdings"})
    child = w.sf.create("Account", {"Name": "Globex Europe", "ParentId": parent})
    w.clock.advance(1)
    w.sf.edit("Account", parent, Phone="+1 415 555 0100")  # the parent now comes after its child
    summary = await w.engine.sync()
    assert summary.ok, summary.links["accounts"].outcomes
    assert sf_outcomes(summary) == [(parent, "create", "synced"), (child, "create", "synced")]
    assert len(w.ns.all("customer")) == 2
    assert parent_id(w, child) == customer_of(w, parent).id
    assert customer_of(w, parent).fields["phone"] == "+1 415 555 0100"
    await assert_next_pass_writes_nothing(w)


@pytest.mark.parametrize("order", list(itertools.permutations("ABC")))
async def test_a_deep_chain_new_in_one_batch_is_created_parents_first_in_any_order(order: tuple[str, ...]):
    # A's parent is B, B's parent is C; the batch lists them in ``order``
    w = family()
    ids = {name: w.sf.create("Account", {"Name": f"Level {name}"}) for name in "CBA"}
    w.sf.edit("Account", ids["A"], ParentId=ids["B"])
    w.sf.edit("Account", ids["B"], ParentId=ids["C"])
    for name in order:
        w.clock.advance(1)
        w.sf.edit("Account", ids[name], Description=f"touched {name}")
    summary = await w.engine.sync()
    assert summary.ok, summary.links["accounts"].outcomes
    outcomes = sf_outcomes(summary)
    assert sorted(outcomes) == sorted((ids[n], "create", "synced") for n in "ABC")  # each once
    assert [i for i, _, _ in outcomes] == [ids["C"], ids["B"], ids["A"]]  # parents first
    assert len(w.ns.all("customer")) == 3
    assert parent_id(w, ids["A"]) == customer_of(w, ids["B"]).id
    assert parent_id(w, ids["B"]) == customer_of(w, ids["C"]).id
    await assert_next_pass_writes_nothing(w)


async def test_a_true_cycle_is_a_dead_letter_naming_it_and_the_rest_of_the_batch_goes_on():
    w = family()
    a = w.sf.create("Account", {"Name": "Alpha"})
    b = w.sf.create("Account", {"Name": "Beta", "ParentId": a})
    w.sf.edit("Account", a, ParentId=b)
    loner = w.sf.create("Account", {"Name": "Gamma"})
    summary = await w.engine.sync()
    assert not summary.ok
    by_id = {o.id: o for o in summary.links["accounts"].outcomes if o.system is System.SALESFORCE}
    assert len(sf_outcomes(summary)) == 3  # one each
    assert by_id[loner].outcome.value == "synced"
    assert {by_id[a].outcome.value, by_id[b].outcome.value} == {"dead_lettered"}
    letters = {d.source_id: d for d in await w.store.list_dead_letters()}
    assert letters.keys() == {a, b}
    for letter in letters.values():
        assert letter.step is Step.REF and letter.error_code == "PARENT_NOT_SYNCED"
        assert "reference cycle: " in letter.error_message
        assert a in letter.error_message and b in letter.error_message
    # the batch lists B first (A was edited last); A is reached from B: the cycle is named in full
    assert letters[a].error_message.endswith(
        f"reference cycle: accounts salesforce {b} -> accounts salesforce {a} -> accounts salesforce {b}")
    assert letters[b].error_message.startswith(f"parent accounts salesforce {a} is not synced: ")
    assert [c.fields["externalId"] for c in w.ns.all("customer")] == [loner]


async def test_a_record_that_is_its_own_parent_is_a_cycle():
    w = family()
    a = w.sf.create("Account", {"Name": "Ouroboros"})
    w.sf.edit("Account", a, ParentId=a)
    summary = await w.engine.sync()
    [letter] = await w.store.list_dead_letters()
    assert letter.source_id == a
    assert f"reference cycle: accounts salesforce {a} -> accounts salesforce {a}" in letter.error_message
    assert w.ns.all("customer") == [] and not summary.ok


async def test_a_parent_in_the_batch_that_fails_its_write_dead_letters_once_and_the_child_names_it():
    w = family()
    parent = w.sf.create("Account", {"Name": "Globex Holdings"})
    child = w.sf.create("Account", {"Name": "Globex Europe", "ParentId": parent})
    rule = w.ns.fail_writes(lambda obj, wr: wr.external_id == parent,
                            RecordError(ErrorKind.RECORD, "SUBSIDIARY_REQUIRED", "pick a subsidiary"))
    summary = await w.engine.sync()
    assert sorted(sf_outcomes(summary)) == sorted([(parent, "create", "dead_lettered"),
                                                   (child, "create", "dead_lettered")])
    letters = {d.source_id: d for d in await w.store.list_dead_letters()}
    assert letters[parent].error_code == "SUBSIDIARY_REQUIRED" and letters[parent].attempts == 1
    assert letters[child].step is Step.REF and "SUBSIDIARY_REQUIRED" in letters[child].error_message
    assert parent in letters[child].error_message
    assert w.ns.all("customer") == []
    w.ns.rules.remove(rule)
    w.clock.advance(60)
    w.sf.edit("Account", child, Phone="+1 415 555 0199")  # the child comes round again
    assert (await w.engine.sync()).ok
    assert parent_id(w, child) == customer_of(w, parent).id
    assert await w.store.list_dead_letters() == []


async def test_a_parent_in_the_batch_that_matches_an_existing_customer_links_once_and_the_child_uses_it():
    w = family()
    existing = w.ns.create("customer", {"companyName": "Globex Holdings", "email": "ap@globex.example"})
    parent = w.sf.create("Account", {"Name": "Globex Holdings", "Email__c": "AP@globex.example"})
    child = w.sf.create("Account", {"Name": "Globex Europe", "ParentId": parent})
    summary = await w.engine.sync()
    assert summary.ok, summary.links["accounts"].outcomes
    assert sf_outcomes(summary) == [(parent, "link", "synced"), (child, "create", "synced")]
    assert [c.id for c in w.ns.all("customer")].count(existing) == 1 and len(w.ns.all("customer")) == 2
    assert parent_id(w, child) == existing
    await assert_next_pass_writes_nothing(w)


async def test_with_leases_the_parent_is_synced_ahead_under_the_batch_lease_and_every_lease_is_released():
    w = family()
    engine = Engine(w.engine.specs, salesforce=w.sf, netsuite=w.ns, store=w.store, clock=w.clock,
                    lease_ttl_s=60, owner="worker-1")
    parent = w.sf.create("Account", {"Name": "Globex Holdings"})
    child = w.sf.create("Account", {"Name": "Globex Europe", "ParentId": parent})
    w.clock.advance(1)
    w.sf.edit("Account", parent, Phone="+1 415 555 0100")  # child first in the batch
    summary = await engine.sync()
    assert summary.ok, summary.links["accounts"].outcomes
    assert sf_outcomes(summary) == [(parent, "create", "synced"), (child, "create", "synced")]
    assert parent_id(w, child) == customer_of(w, parent).id
    for sf_id in (parent, child):  # nothing left locked: another worker may take them at once
        assert await w.store.try_lock_record(f"accounts:salesforce:{sf_id}", "worker-2",
                                             now=w.clock.now(), ttl_s=60)


async def test_a_parent_leased_by_another_worker_makes_the_child_wait_not_a_cycle():
    w = family()
    engine = Engine(w.engine.specs, salesforce=w.sf, netsuite=w.ns, store=w.store, clock=w.clock,
                    lease_ttl_s=60, owner="worker-1")
    parent = w.sf.create("Account", {"Name": "Globex Holdings"})
    child = w.sf.create("Account", {"Name": "Globex Europe", "ParentId": parent})
    assert await w.store.try_lock_record(f"accounts:salesforce:{parent}", "worker-2",
                                         now=w.clock.now(), ttl_s=60)
    summary = await engine.sync()
    assert [(o.id, o.outcome.value) for o in summary.links["accounts"].outcomes] == \
        [(parent, "waiting"), (child, "waiting")]  # one outcome each
    by_id = {o.id: o for o in summary.links["accounts"].outcomes}
    assert "leased by another worker" in by_id[child].reason and "cycle" not in by_id[child].reason
    assert w.ns.all("customer") == [] and await w.store.list_dead_letters() == []


async def test_pushed_parent_and_child_are_created_parent_first_in_one_intake_pass():
    w = family()
    parent = w.sf.create("Account", {"Name": "Globex Holdings"})
    child = w.sf.create("Account", {"Name": "Globex Europe", "ParentId": parent})
    for sf_id in (child, parent):
        w.engine.intake.submit(Change(System.SALESFORCE, "Account", sf_id, source="push"))
    summary = await w.engine.process_intake()
    assert summary.ok, summary.links["accounts"].outcomes
    assert sf_outcomes(summary) == [(parent, "create", "synced"), (child, "create", "synced")]
    assert len(w.ns.all("customer")) == 2
    assert parent_id(w, child) == customer_of(w, parent).id

from __future__ import annotations

import copy

import pytest
from engine_world import ACCOUNTS, world

from ledgerbridge.core.errors import ErrorKind
from ledgerbridge.core.records import RecordError, System
from ledgerbridge.core.store import DeadLetterStatus, Step
from ledgerbridge.engine import EngineHooks, Operations

pytestmark = pytest.mark.anyio


class Crash(BaseException):
    """Stands for the process dying (not an error the engine may catch)."""


async def test_record_error_dead_letters_one_record_with_the_system_code_and_the_rest_go_on():
    w = world()
    good = [w.sf.create("Account", {"Name": f"Good {i}"}) for i in range(3)]
    bad = w.sf.create("Account", {"Name": "BAD name"})
    rule = w.ns.fail_writes(lambda obj, wr: "BAD" in str(wr.fields.get("companyName")),
                            RecordError(ErrorKind.RECORD, "INVALID_FLD_VALUE", "companyName is not valid"))
    summary = await w.engine.sync()
    assert not summary.ok
    assert summary.counts["dead_lettered"] == 1
    assert {c.fields["externalId"] for c in w.ns.all("customer")} == set(good)
    [letter] = await w.store.list_dead_letters()
    assert (letter.source_id, letter.step, letter.error_code) == (bad, Step.WRITE, "INVALID_FLD_VALUE")
    assert letter.error_message == "companyName is not valid"
    assert letter.payload["companyName"] == "BAD name"
    # the cause is fixed: retry succeeds and closes the letter
    w.ns.rules.remove(rule)
    outcome = await Operations(w.engine).retry_dead_letter(letter.id)
    assert outcome is not None and outcome.outcome.value == "synced"
    assert (await w.store.get_dead_letter(letter.id)).status is DeadLetterStatus.RESOLVED  # type: ignore[union-attr]
    assert len(w.ns.all("customer")) == 4


async def test_retry_with_an_edited_payload_writes_the_edited_values():
    w = world()
    w.sf.create("Account", {"Name": "BAD name"})
    w.ns.fail_writes(lambda obj, wr: "BAD" in str(wr.fields.get("companyName")),
                     RecordError(ErrorKind.RECORD, "INVALID_FLD_VALUE", "bad name"))
    await w.engine.sync()
    [letter] = await w.store.list_dead_letters()
    outcome = await Operations(w.engine).retry_dead_letter(letter.id, payload={"companyName": "Fixed"})
    assert outcome is not None and outcome.outcome.value == "synced"
    assert [c.fields["companyName"] for c in w.ns.all("customer")] == ["Fixed"]


async def test_a_failed_retry_keeps_the_letter_open_and_counts_attempts():
    w = world()
    w.sf.create("Account", {"Name": "BAD"})
    w.ns.fail_writes(lambda obj, wr: True, RecordError(ErrorKind.RECORD, "DUP", "duplicate"))
    await w.engine.sync()
    [letter] = await w.store.list_dead_letters()
    await Operations(w.engine).retry_dead_letter(letter.id)
    [again] = await w.store.list_dead_letters()
    assert again.id == letter.id and again.attempts == 2 and again.status is DeadLetterStatus.OPEN


async def test_expression_failure_and_runaway_expression_dead_letter_at_the_map_step():
    spec = copy.deepcopy(ACCOUNTS)
    spec["options"] = {"expression_timeout_ms": 50}
    spec["fields"].append({"netsuite": "custentity_score", "to_netsuite": "$number(Score__c)"})
    spec["fields"].append({"netsuite": "custentity_loop",
                           "to_netsuite": "Loop__c ? ($f := function($x){ $f($x) }; $f(1)) : null"})
    w = world({"accounts": spec})
    ok = w.sf.create("Account", {"Name": "Fine", "Score__c": "12"})
    w.sf.create("Account", {"Name": "Bad number", "Score__c": "twelve"})
    w.sf.create("Account", {"Name": "Runaway", "Loop__c": True})
    summary = await w.engine.sync()
    letters = {d.payload.get("Name"): d for d in await w.store.list_dead_letters()}
    assert letters["Bad number"].step is Step.MAP and letters["Bad number"].error_code == "EXPRESSION_ERROR"
    assert letters["Runaway"].step is Step.MAP and letters["Runaway"].error_code == "EXPRESSION_TIMEOUT"
    assert [c.fields["externalId"] for c in w.ns.all("customer")] == [ok]
    assert w.ns.all("customer")[0].fields["custentity_score"] == 12
    assert summary.counts["dead_lettered"] == 2


@pytest.mark.parametrize("crash_on", [System.NETSUITE, System.SALESFORCE])
async def test_crash_between_write_and_state_commit_then_rerun_never_duplicates(crash_on: System):
    armed = {"on": True}

    async def after_write(link, system, results):
        if armed["on"] and system is crash_on:
            raise Crash()

    w = world(hooks=EngineHooks(after_write=after_write))
    ids = [w.sf.create("Account", {"Name": f"Acme {i}", "Phone": str(i)}) for i in range(5)]
    with pytest.raises(Crash):
        await w.engine.sync()
    assert await w.store.count_xrefs("accounts") == 0  # nothing committed
    assert await w.store.get_watermark("accounts", System.SALESFORCE, "changes") is None
    armed["on"] = False
    summary = await w.engine.sync()
    assert summary.ok
    customers = w.ns.all("customer")
    assert sorted(c.fields["externalId"] for c in customers) == sorted(ids)  # no duplicate
    for sf_id in ids:
        x = await w.store.get_xref("accounts", System.SALESFORCE, sf_id)
        assert x is not None
        assert w.sf.get("Account", sf_id).fields["NetSuite_Id__c"] == x.ns_id  # type: ignore[union-attr]
    writes = w.n_writes
    w.clock.advance(60)
    await w.engine.sync()
    assert w.n_writes == writes  # converged: no echo


async def test_crash_after_an_update_write_converges_without_extra_writes_later():
    armed = {"on": False}

    async def after_write(link, system, results):
        if armed["on"]:
            raise Crash()

    w = world(hooks=EngineHooks(after_write=after_write))
    sf_id = w.sf.create("Account", {"Name": "Acme"})
    await w.engine.sync()
    w.clock.advance(60)
    w.sf.edit("Account", sf_id, Name="Acme 2")
    armed["on"] = True
    with pytest.raises(Crash):
        await w.engine.sync()
    armed["on"] = False
    await w.engine.sync()
    ns = w.ns.all("customer")
    assert len(ns) == 1 and ns[0].fields["companyName"] == "Acme 2"
    writes = w.n_writes
    await w.engine.sync()
    assert w.n_writes == writes

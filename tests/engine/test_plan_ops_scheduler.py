from __future__ import annotations

import copy

import pytest
from engine_world import ACCOUNTS, world

from ledgerbridge.core.records import Change, ChangeKind, System
from ledgerbridge.engine import Operations, Scheduler
from ledgerbridge.engine.scheduler import next_fire
from ledgerbridge.flows.spec import TriggerSpec

pytestmark = pytest.mark.anyio


async def test_plan_counts_creates_and_batched_calls_and_writes_nothing():
    w = world(batch=100, page_size=1000)
    for i in range(250):
        w.sf.create("Account", {"Name": f"Company {i:03d}"})
    plan = await w.engine.plan()
    assert plan.actions["create:netsuite"] == 250
    # creates: 3 batches of 100 on NetSuite; the new NetSuite ids flow back to Salesforce: 3 batches
    assert plan.api_calls["netsuite.upsert"] == 3
    assert plan.api_calls["salesforce.upsert"] == 3
    assert w.ns.all("customer") == [] and w.n_writes == 0
    assert await w.store.count_xrefs("accounts") == 0
    assert await w.store.get_watermark("accounts", System.SALESFORCE, "changes") is None
    summary = await w.engine.sync()
    assert summary.actions["create:netsuite"] == 250 and len(w.ns.all("customer")) == 250
    assert w.ns.calls["upsert"] == 3


async def test_pushed_change_is_fetched_and_reconciled_and_a_vanished_id_is_a_delete():
    w = world()
    sf_id = w.sf.create("Account", {"Name": "Acme"})
    w.engine.intake.submit(Change(System.SALESFORCE, "Account", sf_id, source="push"))
    w.engine.intake.submit(Change(System.SALESFORCE, "Account", sf_id, source="push"))  # duplicate
    assert len(w.engine.intake) == 1
    summary = await w.engine.process_intake()
    assert summary.counts["synced"] == 1 and len(w.ns.all("customer")) == 1
    w.sf.remove("Account", sf_id)
    w.engine.intake.submit(Change(System.SALESFORCE, "Account", sf_id, ChangeKind.DELETE, source="push"))
    await w.engine.process_intake()
    assert w.ns.all("customer")[0].fields["isInactive"] is True


async def test_status_reconcile_and_heal():
    w = world()
    a = w.sf.create("Account", {"Name": "A"})
    b = w.sf.create("Account", {"Name": "B"})
    await w.engine.sync()
    xa = await w.store.get_xref("accounts", System.SALESFORCE, a)
    xb = await w.store.get_xref("accounts", System.SALESFORCE, b)
    assert xa is not None and xb is not None
    ops = Operations(w.engine)
    [st] = await ops.status()
    assert st.n_pairs == 2 and st.last_run is not None and st.watermarks["salesforce.changes"]
    # drift behind the engine's back, a missing record, and an orphan
    w.ns.records["customer"][xa.ns_id] = w.ns.records["customer"][xa.ns_id].__class__(
        "customer", xa.ns_id, {**w.ns.records["customer"][xa.ns_id].fields, "companyName": "A-drift"})
    c = w.sf.create("Account", {"Name": "C"})
    del w.ns.records["customer"][xb.ns_id]
    report = await ops.reconcile("accounts")
    assert [d.fields for d in report.drifted] == [("Name",)]
    assert report.missing[System.NETSUITE] == [c]
    assert [x.sf_id for x in report.orphaned] == [b]
    assert not report.is_clean
    writes = w.n_writes
    assert w.n_writes == writes  # reconcile alone writes nothing
    healed = await ops.reconcile("accounts", heal=True)
    assert healed.healed is not None
    after = await ops.reconcile("accounts")
    assert after.is_clean, after
    assert w.ns.get("customer", xa.ns_id).fields["companyName"] in {"A", "A-drift"}  # type: ignore[union-attr]
    assert w.sf.get("Account", a).fields["Name"] == w.ns.get("customer", xa.ns_id).fields["companyName"]  # type: ignore[union-attr]


async def test_preview_shows_mapped_current_and_diff():
    w = world()
    sf_id = w.sf.create("Account", {"Name": "Acme", "Phone": "1"})
    await w.engine.sync()
    w.sf.edit("Account", sf_id, Name="Acme 2")
    pv = await Operations(w.engine).preview("accounts", System.SALESFORCE, sf_id)
    assert pv.target is System.NETSUITE and pv.target_id is not None
    assert pv.diff == {"Name": ("Acme", "Acme 2")}
    assert pv.payload["companyName"] == "Acme 2"


async def test_resolve_conflict_by_side_and_by_value():
    w = world()
    sf_id = w.sf.create("Account", {"Name": "Acme", "Website": "a.com"})
    await w.engine.sync()
    ns_id = w.ns.all("customer")[0].id
    w.clock.advance(60)
    w.sf.edit("Account", sf_id, Website="sf.com")
    w.ns.edit("customer", ns_id, url="ns.com")
    await w.engine.sync()
    ops = Operations(w.engine)
    [conflict] = await ops.conflicts()
    await ops.resolve_conflict(conflict.id, pick="netsuite")
    assert w.sf.get("Account", sf_id).fields["Website"] == "ns.com"  # type: ignore[union-attr]
    assert await ops.conflicts() == []
    w.clock.advance(60)
    w.sf.edit("Account", sf_id, Website="x.com")
    w.ns.edit("customer", ns_id, url="y.com")
    await w.engine.sync()
    [conflict] = await ops.conflicts()
    await ops.resolve_conflict(conflict.id, value="z.com", use_value=True)
    assert w.sf.get("Account", sf_id).fields["Website"] == "z.com"  # type: ignore[union-attr]
    assert w.ns.get("customer", ns_id).fields["url"] == "z.com"  # type: ignore[union-attr]
    writes = w.n_writes
    await w.engine.sync()
    assert w.n_writes == writes and await ops.conflicts() == []


async def test_scheduler_runs_interval_triggers_on_the_clock_and_stops_gracefully():
    spec = copy.deepcopy(ACCOUNTS)
    spec["triggers"] = [{"interval": "5m"}]
    w = world({"accounts": spec})
    w.sf.create("Account", {"Name": "Acme"})
    summaries = []
    sched = Scheduler(w.engine, on_summary=summaries.append)
    start = w.clock.now()
    await sched.run(max_passes=3)
    assert sched.n_passes == 3 and len(summaries) == 3
    assert (w.clock.now() - start).total_seconds() >= 600
    assert len(w.ns.all("customer")) == 1
    sched.stop()
    await sched.run()
    assert sched.n_passes == 3


def test_cron_and_interval_next_fire():
    from datetime import UTC, datetime

    at = datetime(2026, 1, 5, 9, 7, tzinfo=UTC)
    assert next_fire(TriggerSpec(cron="*/15 * * * *"), at) == datetime(2026, 1, 5, 9, 15, tzinfo=UTC)
    assert next_fire(TriggerSpec(interval="90s"), at) == datetime(2026, 1, 5, 9, 8, 30, tzinfo=UTC)


async def test_online_check_reports_unknown_and_read_only_fields():
    from ledgerbridge.core.records import FieldSchema, ObjectSchema

    w = world()
    sf = ObjectSchema("Account", {n: FieldSchema(n, "string") for n in
                                  ("Name", "Phone", "Website", "Credit_Limit__c", "NetSuite_Id__c",
                                   "IsActive")}
                      | {"Email__c": FieldSchema("Email__c", "email", createable=False, updateable=False)})
    ns = ObjectSchema("customer", {n: FieldSchema(n, "string") for n in
                                   ("companyName", "phone", "email", "url", "creditLimit", "subsidiary",
                                    "externalId", "isInactive")})
    problems = Operations(w.engine).check_links_against({(System.SALESFORCE, "Account"): sf,
                                                         (System.NETSUITE, "customer"): ns})
    text = [p.format() for p in problems]
    assert any("Email__c is read-only" in t for t in text), text
    assert any("NetSuite_Id__c is not marked External ID" in t for t in text), text
    assert all("companyName" not in t for t in text)


async def test_a_full_trigger_rereads_every_record_and_the_others_only_changes():
    spec = copy.deepcopy(ACCOUNTS)
    spec["triggers"] = [{"interval": "5m"}, {"interval": "15m", "full": True}]
    spec["options"] = {"overlap_s": 0}
    w = world({"accounts": spec})
    for n in range(3):
        w.sf.create("Account", {"Name": f"Acme {n}"})
    summaries = []
    sched = Scheduler(w.engine, on_summary=summaries.append)
    await sched.run(max_passes=5)  # t0 (full and 5m), t5, t10, t15 (full), t20
    seen = [len({o.id for o in s.links["accounts"].outcomes if o.system is System.SALESFORCE})
            for s in summaries]
    assert seen[0] == 3 and seen[3] == 3, seen
    assert seen[2] < 3 and seen[4] < 3, seen  # incremental passes read from the watermark only
    assert len(w.ns.all("customer")) == 3


def test_full_goes_with_interval_or_cron_not_push():
    assert TriggerSpec(cron="0 2 * * *", full=True).full
    with pytest.raises(ValueError, match="full: true goes with an interval or cron"):
        TriggerSpec(push=True, full=True)

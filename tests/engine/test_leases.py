from __future__ import annotations

import pytest
from engine_world import world

from ledgerbridge.engine import Engine

pytestmark = pytest.mark.anyio


async def test_a_record_leased_by_another_worker_waits_and_is_not_written_twice():
    w = world()
    sf_id = w.sf.create("Account", {"Name": "Acme"})
    other = Engine(w.engine.specs, salesforce=w.sf, netsuite=w.ns, store=w.store, clock=w.clock,
                   lease_ttl_s=60, owner="worker-2")
    mine = Engine(w.engine.specs, salesforce=w.sf, netsuite=w.ns, store=w.store, clock=w.clock,
                  lease_ttl_s=60, owner="worker-1")
    key = f"accounts:salesforce:{sf_id}"
    assert await w.store.try_lock_record(key, "worker-2", now=w.clock.now(), ttl_s=60)
    summary = await mine.sync()
    assert summary.counts["waiting"] == 1 and w.ns.all("customer") == []
    await w.store.unlock_record(f"accounts:salesforce:{sf_id}", "worker-2")
    await other.sync()
    assert len(w.ns.all("customer")) == 1
    w.clock.advance(60)
    await mine.sync()
    assert len(w.ns.all("customer")) == 1

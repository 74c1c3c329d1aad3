"""The dashboard's backend over a live runtime: overview, throughput and change-to-written latency."""

from __future__ import annotations

from typing import Any

import pytest

from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.wiring import Runtime
from ledgerbridge.core.records import System
from ledgerbridge.dashboard.backend import LinkState
from ledgerbridge.dashboard.live import RuntimeBackend
from ledgerbridge.engine import Engine, MemoryStateStore
from ledgerbridge.testing.fakes import FakeSystem, ManualClock

CONFIG = """\
links:
  accounts:
    salesforce: Account
    netsuite: customer
    ids: {salesforce_external_id: NetSuite_Id__c}
    fields:
      - {salesforce: Name, netsuite: companyName}
      - {name: netsuite_id, salesforce: NetSuite_Id__c, to_salesforce: id}
"""


def _runtime() -> tuple[Runtime, FakeSystem, ManualClock]:
    clock = ManualClock()
    config = load_config_text(CONFIG, env={}).config
    sf, ns = FakeSystem(System.SALESFORCE, clock), FakeSystem(System.NETSUITE, clock)
    store = MemoryStateStore()
    engine = Engine(config.links, salesforce=sf, netsuite=ns, store=store, clock=clock)
    fake: Any = (sf, ns)  # the runtime's connector slots hold the in-memory systems here
    return Runtime(config, fake[0], fake[1], store, engine, clock), sf, clock


@pytest.mark.anyio
async def test_overview_counts_synced_pairs_throughput_and_latency_of_new_changes() -> None:
    rt, sf, clock = _runtime()
    backend = RuntimeBackend(rt)
    clock.advance(1)
    sf.create("Account", {"Name": "Acme"})
    clock.advance(4)  # the pass runs four seconds after the edit
    summary = await rt.engine.sync()
    backend.record_summary(summary)
    overview = await backend.overview()
    (link,) = overview.links
    assert (link.name, link.n_synced, link.state) == ("accounts", 1, LinkState.RUNNING)
    assert [p.value for p in overview.throughput] == [1.0]
    assert [p.value for p in overview.latency] == [pytest.approx(4.0)]
    sf_id = (await rt.store.list_xrefs("accounts"))[0].sf_id
    hits = await backend.search_records(sf_id)
    assert [(h.link, h.sf_id) for h in hits] == [("accounts", sf_id)]
    lineage = await backend.lineage(sf_id)
    assert lineage.xrefs and any(e.action == "create" for e in lineage.events)

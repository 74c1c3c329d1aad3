"""``ledgerbridge.testing.capture_events`` sees the engine's structured events."""

from __future__ import annotations

import pytest

from ledgerbridge.app.config import load_config_text
from ledgerbridge.core.records import System
from ledgerbridge.engine import Engine, MemoryStateStore
from ledgerbridge.testing import capture_events
from ledgerbridge.testing.fakes import FakeSystem, ManualClock

LINKS = """\
links:
  accounts:
    salesforce: Account
    netsuite: customer
    fields: [{salesforce: Name, netsuite: companyName}]
"""


@pytest.mark.anyio
async def test_a_sync_pass_emits_dotted_events_with_context() -> None:
    clock = ManualClock()
    sf, ns = FakeSystem(System.SALESFORCE, clock), FakeSystem(System.NETSUITE, clock)
    sf.create("Account", {"Name": "Acme"})
    engine = Engine(load_config_text(LINKS, env={}).config.links, salesforce=sf, netsuite=ns,
                    store=MemoryStateStore(), clock=clock)
    with capture_events() as events:
        await engine.sync()
    names = [e["event"] for e in events]
    assert "sync.run.started" in names and "sync.run.finished" in names
    written = [e for e in events if e["event"] == "sync.record.written"]
    assert written and written[0]["link"] == "accounts"

"""The demo's simulator edits both systems through their ports, as people would."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from ledgerbridge.app.demo import Simulator
from ledgerbridge.core.records import System
from ledgerbridge.testing.fakes import FakeSystem, ManualClock


@dataclass
class _Ports:
    salesforce: FakeSystem
    netsuite: FakeSystem


def _world() -> _Ports:
    clock = ManualClock()
    sf, ns = FakeSystem(System.SALESFORCE, clock), FakeSystem(System.NETSUITE, clock)
    ns_id = ns.create("customer", {"companyName": "Acme Corp", "phone": "+1 512 555 0100",
                                   "creditLimit": 1000.0})
    sf.create("Account", {"Name": "Acme Corp", "Phone": "+1 512 555 0100", "NetSuite_Id__c": ns_id})
    ns.create("inventoryItem", {"itemId": "HW-1", "salesDescription": "Gateway"})
    return _Ports(sf, ns)


@pytest.mark.anyio
async def test_every_kind_of_edit_lands_in_the_right_system() -> None:
    ports = _world()
    messages: list[str] = []
    sim = Simulator(ports, rng=random.Random(3), on_event=messages.append)
    for _ in range(60):
        message = await sim.step()
        assert message is not None
        messages.append(message)
    assert sim.n_edits >= 60
    joined = "\n".join(messages)
    for expected in ("phone changed", "credit limit set", "new account", "description revised",
                     "a conflict"):
        assert expected in joined, expected
    assert "failed" not in joined
    assert len(ports.salesforce.all("Account")) > 1  # new accounts were created
    item = ports.netsuite.all("inventoryItem")[0]
    assert "revised spec" in str(item.fields["salesDescription"])


@pytest.mark.anyio
async def test_nothing_to_edit_is_not_an_error() -> None:
    clock = ManualClock()
    sim = Simulator(_Ports(FakeSystem(System.SALESFORCE, clock), FakeSystem(System.NETSUITE, clock)),
                    rng=random.Random(1))
    results = [await sim.step() for _ in range(20)]
    assert None in results  # NetSuite is empty: its edits find nothing and say so by returning None
    assert all(r is None or "failed" not in r for r in results)

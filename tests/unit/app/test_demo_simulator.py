"""The demo's simulator: people's edits on both systems, of every kind the demo shows."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from ledgerbridge.app.demo import PortEditor, Simulator
from ledgerbridge.core.records import JsonValue, Priority, System
from ledgerbridge.testing.fakes import FakeSystem, ManualClock


class FakeNetSuite(FakeSystem):
    """The in-memory NetSuite with the SuiteQL reads the simulator uses."""

    async def suiteql(self, query: str, params: tuple[str, ...] = (), *,
                      priority: Priority = Priority.STATUS) -> list[dict[str, JsonValue]]:
        if "FROM customer" in query:
            return [{"id": r.id, "companyname": r.fields.get("companyName")} for r in self.all("customer")]
        if "FROM transaction" in query:
            return [{"id": r.id, "entity": r.fields.get("entity"), "foreignamountunpaid": "80.0"}
                    for r in self.all("invoice")]
        if "FROM item" in query:
            return [{"id": r.id, "itemid": r.fields.get("itemId")} for r in self.all("inventoryItem")]
        raise AssertionError(f"unexpected query {query}")


@dataclass
class _Ports:
    salesforce: FakeSystem
    netsuite: FakeSystem


def _world() -> _Ports:
    clock = ManualClock()
    sf, ns = FakeSystem(System.SALESFORCE, clock), FakeNetSuite(System.NETSUITE, clock)
    ns_id = ns.create("customer", {"companyName": "Acme Corp", "phone": "+1 512 555 0100",
                                   "creditLimit": 1000.0})
    acct = sf.create("Account", {"Name": "Acme Corp", "Phone": "+1 512 555 0100", "NetSuite_Id__c": ns_id})
    sf.create("Opportunity", {"Name": "Acme - Renewal", "AccountId": acct, "StageName": "Negotiation/Review"})
    sf.create("Lead", {"Company": "Globex", "LastName": "Ng", "Lead_Score__c": 40})
    ns.create("inventoryItem", {"itemId": "HW-1", "salesDescription": "Gateway"})
    ns.create("invoice", {"entity": ns_id, "amountRemaining": 80.0})
    return _Ports(sf, ns)


@pytest.mark.anyio
async def test_every_kind_of_edit_lands_in_the_right_system() -> None:
    ports = _world()
    messages: list[str] = []
    sim = Simulator(ports, editor=PortEditor(ports), rng=random.Random(3))
    for _ in range(80):
        message = await sim.step()
        assert message is not None
        messages.append(message)
    joined = "\n".join(messages)
    for expected in ("closed won", "scored", "phone changed", "new account", "credit limit set",
                     "payment of", "description revised", "a conflict"):
        assert expected in joined, expected
    assert "failed" not in joined
    assert ports.salesforce.all("Opportunity")[0].fields["StageName"] == "Closed Won"
    assert int(str(ports.salesforce.all("Lead")[0].fields["Lead_Score__c"])) > 40
    payments = ports.netsuite.all("customerPayment")
    assert payments and payments[0].fields["apply"] == {
        "items": [{"doc": {"id": ports.netsuite.all("invoice")[0].id}, "apply": True,
                   "amount": payments[0].fields["payment"]}]}
    item = ports.netsuite.all("inventoryItem")[0]
    assert "revised spec" in str(item.fields["salesDescription"])


@pytest.mark.anyio
async def test_nothing_to_edit_is_not_an_error() -> None:
    clock = ManualClock()
    sim = Simulator(_Ports(FakeSystem(System.SALESFORCE, clock), FakeNetSuite(System.NETSUITE, clock)),
                    rng=random.Random(1))
    results = [await sim.step() for _ in range(20)]
    assert None in results  # empty systems: most edits find nothing and say so by returning None
    assert all(r is None or "failed" not in r for r in results)

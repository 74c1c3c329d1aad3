"""Shared set-up for engine scenario tests: two fake systems, a memory store, a manual clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledgerbridge.core.records import System
from ledgerbridge.engine.memory_store import MemoryStateStore
from ledgerbridge.engine.runner import Engine, EngineHooks
from ledgerbridge.flows.spec import LinkSpec
from ledgerbridge.testing.fakes import FakeSystem, ManualClock

ACCOUNTS: dict[str, Any] = {
    "salesforce": "Account",
    "netsuite": "customer",
    "direction": "both",
    "ids": {"salesforce_external_id": "NetSuite_Id__c"},
    "fields": [
        {"salesforce": "Name", "netsuite": "companyName"},
        {"salesforce": "Phone", "netsuite": "phone", "conflict": "salesforce"},
        {"salesforce": "Email__c", "netsuite": "email", "transform": "email"},
        {"salesforce": "Website", "netsuite": "url", "conflict": "review"},
        {"salesforce": "Credit_Limit__c", "netsuite": "creditLimit", "direction": "to_salesforce"},
        {"salesforce": "NetSuite_Id__c", "netsuite": "id", "direction": "to_salesforce"},
        {"netsuite": "subsidiary", "value": {"id": "1"}},
    ],
    "match": {
        "keys": [{"salesforce": "Email__c", "netsuite": "email", "normalise": "email"}],
        "fuzzy": {"name": {"salesforce": "Name", "netsuite": "companyName"}, "auto": 92, "review": 75},
    },
    "conflict": "newest",
}


@dataclass
class World:
    clock: ManualClock
    sf: FakeSystem
    ns: FakeSystem
    store: MemoryStateStore
    engine: Engine

    def port(self, system: System) -> FakeSystem:
        return self.sf if system is System.SALESFORCE else self.ns

    @property
    def n_writes(self) -> int:
        return self.sf.n_writes + self.ns.n_writes


def world(links: Mapping[str, Mapping[str, Any]] | None = None, *, hooks: EngineHooks | None = None,
          batch: int = 200, page_size: int = 100) -> World:
    clock = ManualClock()
    sf = FakeSystem(System.SALESFORCE, clock, max_write_batch=batch, page_size=page_size)
    ns = FakeSystem(System.NETSUITE, clock, max_write_batch=batch, page_size=page_size)
    store = MemoryStateStore()
    given = links or {"accounts": ACCOUNTS}
    specs = {name: LinkSpec.model_validate(dict(spec)) for name, spec in given.items()}
    engine = Engine(specs, salesforce=sf, netsuite=ns, store=store, clock=clock, hooks=hooks)
    return World(clock, sf, ns, store, engine)

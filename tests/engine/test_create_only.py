"""``create_only`` fields: written when the engine creates the record on that side, never on updates,
and a later change of them on either side is kept where it was made (no write, no conflict)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from engine_world import World

from ledgerbridge.core.records import Priority, Record, System, Write, WriteResult
from ledgerbridge.engine.memory_store import MemoryStateStore
from ledgerbridge.engine.runner import Engine
from ledgerbridge.flows.config import LedgerBridgeConfig
from ledgerbridge.flows.mapping import LinkMapping
from ledgerbridge.flows.spec import FieldMapSpec, LinkSpec
from ledgerbridge.testing.fakes import FakeSystem, ManualClock

pytestmark = pytest.mark.anyio

PROSPECT = {"id": "8"}
CUSTOMER = {"id": "13"}

LEADS: dict[str, Any] = {
    "salesforce": "Lead",
    "netsuite": "customer",
    "direction": "to_netsuite",
    "fields": [{"salesforce": "Company", "netsuite": "companyName"},
               {"salesforce": "Email", "netsuite": "email"},
               {"netsuite": "entityStatus", "value": PROSPECT, "create_only": True}],
    "match": {"external_id": True, "keys": [{"salesforce": "Email", "netsuite": "email",
                                             "normalise": "email"}]},
}
BOTH: dict[str, Any] = {
    "salesforce": "Account",
    "netsuite": "customer",
    "direction": "both",
    "ids": {"salesforce_external_id": "NetSuite_Id__c"},
    "fields": [{"salesforce": "Name", "netsuite": "companyName"},
               {"salesforce": "Rating", "netsuite": "category", "create_only": True}],
    "match": {"external_id": True},
    "conflict": "review",  # a field merged after the create would park as a conflict
}


class Recording(FakeSystem):
    """A fake that keeps every write it was asked to make."""

    def __init__(self, system: System, clock: ManualClock) -> None:
        super().__init__(system, clock)
        self.writes: list[Write] = []

    async def upsert(self, object: str, writes: Sequence[Write], *, key_field: str | None = None,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        self.writes.extend(writes)
        return await super().upsert(object, writes, key_field=key_field, priority=priority)


def recording_world(link: dict[str, Any]) -> World:
    clock = ManualClock()
    sf, ns = Recording(System.SALESFORCE, clock), Recording(System.NETSUITE, clock)
    store = MemoryStateStore()
    engine = Engine({"link": LinkSpec.model_validate(link)}, salesforce=sf, netsuite=ns, store=store,
                    clock=clock)
    return World(clock, sf, ns, store, engine)


def only(w: World, obj: str) -> Record:
    [record] = w.port(System.NETSUITE).all(obj) if obj == "customer" else w.sf.all(obj)
    return record


def updates(port: FakeSystem) -> list[dict[str, Any]]:
    assert isinstance(port, Recording)
    return [dict(wr.fields) for wr in port.writes if wr.id is not None]


async def test_the_create_writes_it_and_updates_never_do():
    w = recording_world(LEADS)
    lead = w.sf.create("Lead", {"Company": "Hot Co", "Email": "a@hot.example"})
    assert (await w.engine.sync()).ok
    customer = only(w, "customer")
    assert customer.fields["entityStatus"] == PROSPECT
    # NetSuite moves the prospect to the customer stage itself (first sales order)
    w.clock.advance(60)
    w.ns.edit("customer", customer.id, entityStatus=CUSTOMER)
    w.sf.edit("Lead", lead, Company="Hot Company")
    summary = await w.engine.sync()
    assert summary.ok and summary.actions == {"update:netsuite": 1}
    assert updates(w.ns) == [{"companyName": "Hot Company"}]
    assert only(w, "customer").fields["entityStatus"] == CUSTOMER
    # and again, with nothing else to write: no write at all, the stage stays
    w.clock.advance(60)
    w.sf.edit("Lead", lead, Phone="555-0100")
    writes = w.n_writes
    again = await w.engine.sync()
    assert again.ok and w.n_writes == writes
    assert only(w, "customer").fields["entityStatus"] == CUSTOMER
    assert await w.store.list_conflicts(link="link") == []
    # a heal (reconcile --heal) does not put it back either
    healed = await w.engine.sync_records("link", System.SALESFORCE, [lead], heal=True)
    assert healed.ok and w.n_writes == writes


async def test_linking_an_existing_record_leaves_its_value_alone():
    w = recording_world(LEADS)
    existing = w.ns.create("customer", {"companyName": "Old Co", "email": "x@old.example",
                                        "entityStatus": CUSTOMER})
    w.sf.create("Lead", {"Company": "Old Co Ltd", "Email": "X@old.example"})
    summary = await w.engine.sync()
    assert summary.ok, summary
    assert summary.actions["link"] == 1 and "create:netsuite" not in summary.actions
    assert all("entityStatus" not in u for u in updates(w.ns))
    record = w.ns.get("customer", existing)
    assert record is not None and record.fields["entityStatus"] == CUSTOMER
    assert record.fields["companyName"] == "Old Co Ltd"


async def test_a_change_on_either_side_is_kept_there_without_a_write_or_a_conflict():
    w = recording_world(BOTH)
    account = w.sf.create("Account", {"Name": "Acme", "Rating": "Hot"})
    assert (await w.engine.sync()).ok
    customer = only(w, "customer")
    assert customer.fields["category"] == "Hot"  # written by the create
    w.clock.advance(60)
    w.ns.edit("customer", customer.id, category="Key account")
    writes = w.n_writes
    summary = await w.engine.sync()
    assert summary.ok and w.n_writes == writes
    record = w.sf.get("Account", account)
    assert record is not None and record.fields["Rating"] == "Hot"
    w.clock.advance(60)
    w.sf.edit("Account", account, Rating="Cold")  # both sides now differ from the create
    summary = await w.engine.sync()
    assert summary.ok and w.n_writes == writes
    assert await w.store.list_conflicts(link="link") == []
    assert only(w, "customer").fields["category"] == "Key account"
    # a mapped field still flows
    w.clock.advance(60)
    w.sf.edit("Account", account, Name="Acme Corp")
    summary = await w.engine.sync()
    assert summary.actions == {"update:netsuite": 1}
    assert updates(w.ns)[-1] == {"companyName": "Acme Corp"}


async def test_a_record_created_on_salesforce_gets_it_too():
    w = recording_world(BOTH)
    w.ns.create("customer", {"companyName": "From NetSuite", "category": "Partner"})
    summary = await w.engine.sync()
    assert summary.actions["create:salesforce"] == 1
    assert only(w, "Account").fields["Rating"] == "Partner"


async def test_the_preview_of_an_update_leaves_it_out():
    w = recording_world(LEADS)
    lead = w.sf.create("Lead", {"Company": "Hot Co", "Email": "a@hot.example"})
    assert (await w.engine.sync()).ok
    customer = only(w, "customer")
    w.ns.edit("customer", customer.id, entityStatus=CUSTOMER)
    mapping = LinkMapping("link", LinkSpec.model_validate(LEADS))
    source = w.sf.get("Lead", lead)
    assert source is not None
    update = mapping.preview(System.SALESFORCE, source, w.ns.get("customer", customer.id))
    assert "entityStatus" not in update.payload and not update.diff
    create = mapping.preview(System.SALESFORCE, source, None)
    assert create.payload["entityStatus"] == PROSPECT


def test_create_only_is_described_and_takes_no_conflict_policy():
    spec = FieldMapSpec.model_validate({"netsuite": "entityStatus", "value": PROSPECT, "create_only": True})
    assert spec.create_only
    assert not FieldMapSpec.model_validate({"salesforce": "Name", "netsuite": "companyName"}).create_only
    with pytest.raises(ValueError, match="create_only field is never merged"):
        FieldMapSpec.model_validate({"salesforce": "Rating", "netsuite": "category", "create_only": True,
                                     "conflict": "netsuite"})
    schema = LedgerBridgeConfig.model_json_schema()
    described = schema["$defs"]["FieldMapSpec"]["properties"]["create_only"]
    assert described["type"] == "boolean" and "only when the engine creates" in described["description"]

"""``options.enrich``: a value read with one query per batch of source records, mapped like a field."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from engine_world import World

from ledgerbridge.core.errors import FlowSpecError, RequestRejected
from ledgerbridge.core.ports import RowQueryPort
from ledgerbridge.core.records import Change, FieldSchema, ObjectSchema, System, Watermark
from ledgerbridge.engine.memory_store import MemoryStateStore
from ledgerbridge.engine.operations import Operations
from ledgerbridge.engine.runner import Engine
from ledgerbridge.flows.load import load_config_text
from ledgerbridge.flows.mapping import LinkMapping, check_links_against, validate_links
from ledgerbridge.flows.spec import LinkSpec, link_problems
from ledgerbridge.testing.fakes import FakeSystem, ManualClock

pytestmark = pytest.mark.anyio

QUERY = ("SELECT t.entity AS customer, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS paid_on, "
         "t.foreigntotal AS amount "
         "FROM transaction t WHERE t.type = 'CustPymt' AND t.voided = 'F' AND t.entity IN ({ids}) "
         "ORDER BY t.entity, t.trandate DESC, t.id DESC")

LINK: dict[str, Any] = {
    "salesforce": "Account",
    "netsuite": "customer",
    "direction": "to_salesforce",
    "ids": {"salesforce_external_id": "NetSuite_Id__c", "netsuite_external_id": None},
    "fields": [
        {"salesforce": "Name", "netsuite": "companyName"},
        {"salesforce": "Last_Payment_Date__c", "netsuite": "last_payment.paid_on"},
        {"salesforce": "Last_Payment_Amount__c", "netsuite": "last_payment.amount",
         "to_salesforce": "last_payment ? $number(last_payment.amount) : null"},
    ],
    "match": {"external_id": False, "create": True},
    "delete": "ignore",
    "options": {"enrich": [{"name": "last_payment", "netsuite": QUERY, "key": "customer"}]},
}


class QueryingNetSuite(FakeSystem):
    """A fake NetSuite that also runs the payment query (the row-query port), over ``payments``."""

    def __init__(self, clock: ManualClock, **kw: Any) -> None:
        super().__init__(System.NETSUITE, clock, **kw)
        self.payments: list[dict[str, Any]] = []
        self.queries: list[tuple[str, list[str]]] = []
        self.refuse: str | None = None

    async def query_rows(self, statement: str, params: Sequence[str]) -> list[dict[str, str]]:
        self.calls["query_rows"] += 1
        self.queries.append((statement, list(params)))
        if self.refuse and self.refuse in statement:
            raise RequestRejected(
                "Search error occurred: Field 'bogus' for record 'transaction' was not found.",
                status=400, code="INVALID_PARAMETER", system="netsuite", operation="suiteql")
        assert statement.count("?") == len(params)
        wanted = set(params)
        rows = [p for p in self.payments if p["customer"] in wanted and not p.get("voided")]
        rows.sort(key=lambda p: (p["customer"], p["date"], int(p["id"])), reverse=True)
        # as SuiteQL returns them: strings, column names in lower case
        return [{"customer": p["customer"], "paid_on": p["date"], "amount": str(p["amount"])} for p in rows]

    def pay(self, customer: str, date: str, amount: float, *, voided: bool = False) -> str:
        """A payment is recorded (the customer record itself does not change)."""
        pid = self.create("customerPayment", {"customer": {"id": customer, "refName": "x"},
                                              "tranDate": date, "payment": amount})
        self.payments.append({"id": pid, "customer": customer, "date": date, "amount": amount,
                              "voided": voided})
        return pid


def make_world(link: dict[str, Any] | None = None, *, ns: FakeSystem | None = None,
               page_size: int = 100, batch: int = 200) -> tuple[World, QueryingNetSuite]:
    clock = ManualClock()
    sf = FakeSystem(System.SALESFORCE, clock, max_write_batch=batch, page_size=page_size)
    netsuite = ns or QueryingNetSuite(clock, max_write_batch=batch, page_size=page_size)
    netsuite.clock = clock
    store = MemoryStateStore()
    specs = {"status": LinkSpec.model_validate(link or LINK)}
    engine = Engine(specs, salesforce=sf, netsuite=netsuite, store=store, clock=clock)
    return World(clock, sf, netsuite, store, engine), netsuite  # type: ignore[return-value]


def account_of(w: World, customer: str) -> dict[str, Any]:
    [acct] = [r for r in w.sf.all("Account") if r.fields.get("NetSuite_Id__c") == customer]
    return {k: acct.fields.get(k) for k in ("Name", "Last_Payment_Date__c", "Last_Payment_Amount__c")}


async def full_pass(w: World) -> Any:
    for s in System:
        await w.store.set_watermark("status", s, "changes", Watermark(datetime(2000, 1, 1, tzinfo=UTC)))
    w.clock.advance(60)
    return await w.engine.sync()


async def test_each_record_gets_the_first_row_for_its_id_from_one_query_with_bound_ids():
    w, ns = make_world()
    paid = ns.create("customer", {"companyName": "Payer"})
    never = ns.create("customer", {"companyName": "Never Paid"})
    ns.pay(paid, "2026-01-10", 120.5)
    ns.pay(paid, "2026-03-02", 80)  # the newest
    ns.pay(paid, "2026-02-01", 999)
    ns.pay(paid, "2026-04-01", 5, voided=True)  # voided payments do not count
    summary = await w.engine.sync()
    assert summary.ok, summary
    assert account_of(w, paid) == {"Name": "Payer", "Last_Payment_Date__c": "2026-03-02",
                                   "Last_Payment_Amount__c": 80}
    assert account_of(w, never) == {"Name": "Never Paid", "Last_Payment_Date__c": None,
                                    "Last_Payment_Amount__c": None}
    # one query for the page, the ids bound as parameters and never pasted into the text
    [(statement, params)] = ns.queries
    assert sorted(params) == sorted([paid, never])
    assert "IN (?, ?)" in statement and paid not in statement and never not in statement
    assert summary.links["status"].api_calls["netsuite.query_rows"] == 1
    # the enriched name is never requested from the system as a field
    plain = {**LINK, "fields": [*LINK["fields"][:2], {"salesforce": "Last_Payment_Amount__c",
                                                      "netsuite": "last_payment.amount"}]}
    assert LinkMapping("status", LinkSpec.model_validate(plain)).read_fields(System.NETSUITE) == \
        ["companyName", "id"]


async def test_unchanged_pass_writes_nothing_and_a_new_payment_alone_is_written():
    w, ns = make_world()
    paid = ns.create("customer", {"companyName": "Payer"})
    other = ns.create("customer", {"companyName": "Other"})
    ns.pay(paid, "2026-01-10", 100)
    assert (await w.engine.sync()).ok
    writes = w.n_writes
    again = await full_pass(w)  # every customer re-read: values equal the baselines
    assert again.ok and w.n_writes == writes
    assert again.counts["synced"] == 0 and not again.actions
    ns.pay(paid, "2026-05-20", 250.75)  # the customer record is untouched
    summary = await full_pass(w)
    assert summary.ok
    assert summary.actions == {"update:salesforce": 1}
    assert account_of(w, paid)["Last_Payment_Date__c"] == "2026-05-20"
    assert account_of(w, paid)["Last_Payment_Amount__c"] == 250.75
    assert account_of(w, other)["Last_Payment_Date__c"] is None
    writes = w.n_writes
    assert (await full_pass(w)).ok and w.n_writes == writes


async def test_incremental_pass_reads_the_changed_customer_with_its_payment():
    w, ns = make_world()
    paid = ns.create("customer", {"companyName": "Payer"})
    assert (await w.engine.sync()).ok
    ns.pay(paid, "2026-02-02", 42)
    w.clock.advance(600)
    ns.edit("customer", paid, companyName="Payer Ltd")  # a change the feed sees
    summary = await w.engine.sync()
    assert summary.ok
    assert account_of(w, paid) == {"Name": "Payer Ltd", "Last_Payment_Date__c": "2026-02-02",
                                   "Last_Payment_Amount__c": 42}


async def test_the_query_runs_once_per_thousand_ids():
    w, ns = make_world(page_size=2000, batch=2000)
    ids = [ns.create("customer", {"companyName": f"C{i}"}) for i in range(1001)]
    ns.pay(ids[-1], "2026-01-01", 1)
    summary = await w.engine.sync()
    assert summary.ok
    assert [len(params) for _, params in ns.queries] == [1000, 1]
    assert account_of(w, ids[-1])["Last_Payment_Amount__c"] == 1


async def test_pushed_changes_are_enriched_too():
    w, ns = make_world()
    paid = ns.create("customer", {"companyName": "Payer"})
    ns.pay(paid, "2026-06-01", 10)
    w.engine.intake.submit(Change(System.NETSUITE, "customer", paid, source="push"))
    summary = await w.engine.process_intake()
    assert summary.ok, summary
    assert account_of(w, paid)["Last_Payment_Date__c"] == "2026-06-01"
    assert summary.links["status"].api_calls["netsuite.query_rows"] == 1
    # and the level-triggered replay of the same push writes nothing
    writes = w.n_writes
    w.engine.intake.submit(Change(System.NETSUITE, "customer", paid, source="replay"))
    assert (await w.engine.process_intake()).ok and w.n_writes == writes


async def test_sync_records_and_reconcile_see_the_enriched_values():
    w, ns = make_world()
    paid = ns.create("customer", {"companyName": "Payer"})
    assert (await w.engine.sync()).ok
    ns.pay(paid, "2026-07-07", 7)
    ops = Operations(w.engine)
    report = await ops.reconcile("status")
    assert [d.ns_id for d in report.drifted] == [paid]
    summary = await w.engine.sync_records("status", System.NETSUITE, [paid])
    assert summary.ok and summary.actions == {"update:salesforce": 1}
    assert account_of(w, paid)["Last_Payment_Amount__c"] == 7
    assert (await ops.reconcile("status")).drifted == []
    preview = await ops.preview("status", System.NETSUITE, paid)
    assert {f.path: f.mapped for f in preview.fields}["Last_Payment_Date__c"] == "2026-07-07"


async def test_a_side_that_cannot_run_queries_fails_the_link_with_the_reason():
    plain = FakeSystem(System.NETSUITE, ManualClock())
    assert not isinstance(plain, RowQueryPort)
    w, _ = make_world(ns=plain)
    plain.create("customer", {"companyName": "Payer"})
    summary = await w.engine.sync()
    assert not summary.ok
    error = summary.links["status"].error or ""
    assert "enrich 'last_payment' needs a netsuite connection that runs row queries" in error
    assert w.n_writes == 0
    [problem] = w.engine.enrich_problems()
    assert problem.path == ("links", "status", "options", "enrich", 0)


async def test_a_refused_query_or_a_missing_key_column_fails_the_link_not_a_record():
    bad = {**LINK, "options": {"enrich": [{"name": "last_payment", "netsuite": QUERY + " bogus",
                                           "key": "customer"}]}}
    w, ns = make_world(bad)
    ns.refuse = "bogus"
    ns.create("customer", {"companyName": "Payer"})
    summary = await w.engine.sync()
    assert "enrich 'last_payment': netsuite refused the query" in (summary.links["status"].error or "")
    assert w.n_writes == 0
    problems = await Operations(w.engine).describe_and_check()
    assert any(p.path == ("links", "status", "options", "enrich", 0) and "refused" in p.message
               for p in problems)

    wrong_key = {**LINK, "options": {"enrich": [{"name": "last_payment", "netsuite": QUERY,
                                                 "key": "entity"}]}}
    w, ns = make_world(wrong_key)
    payer = ns.create("customer", {"companyName": "Payer"})
    ns.pay(payer, "2026-01-01", 1)
    summary = await w.engine.sync()
    assert "no row has the key column 'entity' (columns: amount, customer, paid_on)" in \
        (summary.links["status"].error or "")
    assert w.n_writes == 0


async def test_online_check_accepts_the_enriched_paths_and_refuses_a_name_the_object_has():
    spec = LinkSpec.model_validate(LINK)
    sf_schema = ObjectSchema("Account", {n: FieldSchema(n, "string", updateable=True, createable=True)
                                         for n in ("Name", "Last_Payment_Date__c", "Last_Payment_Amount__c",
                                                   "NetSuite_Id__c")})
    ns_fields = {n: FieldSchema(n, "string") for n in ("companyName",)}
    schemas = {(System.SALESFORCE, "Account"): sf_schema,
               (System.NETSUITE, "customer"): ObjectSchema("customer", ns_fields)}
    problems = check_links_against({"status": spec}, schemas)
    assert [p.message for p in problems if "last_payment" in p.message] == []
    shadowing = {**ns_fields, "last_payment": FieldSchema("last_payment", "string")}
    schemas[(System.NETSUITE, "customer")] = ObjectSchema("customer", shadowing)
    [problem] = [p for p in check_links_against({"status": spec}, schemas) if "last_payment" in p.message]
    assert problem.path == ("links", "status", "options", "enrich", 0, "name")
    assert "is a field of netsuite customer" in problem.message
    # the check runs the query once with an id no record has
    w, ns = make_world()
    assert await w.engine.check_enrichments() == []
    assert ns.queries == [(re.sub(r"\{ids\}", "?", QUERY), ["-1"])]


BAD = """\
links:
  status:
    salesforce: Account
    netsuite: customer
    direction: to_salesforce
    fields:
      - {salesforce: Name, netsuite: companyName}
      - {salesforce: Last_Payment_Date__c, netsuite: last_payment.paid_on}
    options:
      enrich:
        - name: last_payment
          netsuite: "SELECT entity AS customer FROM transaction WHERE entity = 1"
          key: customer
        - name: overdue
          netsuite: "SELECT entity FROM transaction WHERE entity IN ({ids}) AND type = ?"
          key: entity
        - {name: a.b, netsuite: "SELECT 1 FROM x WHERE id IN ({ids})", key: id}
        - {name: twice, key: id}
"""


def test_enrich_specs_are_checked_with_their_place_in_the_file():
    with pytest.raises(FlowSpecError) as info:
        load_config_text(BAD, source="f.yaml", env={})
    text = "\n".join(info.value.problems)
    assert "f.yaml:11:11: links.status.options.enrich.0: enrich 'last_payment': the query must contain " \
        "{ids} exactly once" in text
    assert "f.yaml:14:11: links.status.options.enrich.1: " in text and "must not contain '?'" in text
    assert "links.status.options.enrich.2.name: " in text and "must be a plain name" in text
    assert "f.yaml:18:11: links.status.options.enrich.3: enrich 'twice': give exactly one query" in text


CLASH = """\
links:
  status:
    salesforce: Account
    netsuite: customer
    direction: both
    fields:
      - {salesforce: Name, netsuite: companyName}
      - {salesforce: Description, netsuite: memo.text}
    match:
      keys: [{salesforce: Phone, netsuite: phone}]
    options:
      enrich:
        - {name: phone, netsuite: "SELECT id FROM customer WHERE id IN ({ids})", key: id}
        - {name: memo, netsuite: "SELECT id FROM customer WHERE id IN ({ids})", key: id}
        - {name: ok, netsuite: "SELECT id FROM customer WHERE id IN ({ids})", key: id}
        - {name: OK, netsuite: "SELECT id FROM customer WHERE id IN ({ids})", key: id}
"""


def test_an_enrich_name_may_not_hide_a_field_the_link_reads_or_writes():
    loaded = load_config_text(CLASH.replace("- {name: OK", "- {name: X"), source="f.yaml", env={})
    with pytest.raises(FlowSpecError) as info:
        validate_links(loaded.config.links, loaded.document.where, source="f.yaml")
    text = "\n".join(info.value.problems)
    assert "f.yaml:13:12: links.status.options.enrich[0].name: enrich name 'phone' clashes with match key" \
        in text
    assert "links.status.options.enrich[1].name: enrich name 'memo' clashes with fields[1] " \
        "('Description'), which writes netsuite 'memo.text'" in text
    assert "enrich[2]" not in text and "enrich[3]" not in text
    with pytest.raises(FlowSpecError) as twice:
        load_config_text(CLASH, source="f.yaml", env={})
    assert "links.status.options.enrich: enrich[3]: the name 'OK' is used twice for netsuite" in \
        "\n".join(twice.value.problems)


WATCHING = {**LINK, "options": {**LINK["options"],
                                 "watch": [{"netsuite": "customerPayment", "via": "customer"}]}}


async def test_a_watched_payment_makes_an_incremental_pass_look_at_its_customer():
    w, ns = make_world(WATCHING)
    paid = ns.create("customer", {"companyName": "Payer"})
    ns.pay(paid, "2026-01-10", 100)
    other = ns.create("customer", {"companyName": "Other"})
    first = await w.engine.sync()
    assert first.ok
    # the first pass reads no payment history: the watch starts here (the customers were read in full)
    assert first.links["status"].api_calls["netsuite.read_changes"] == 1
    assert account_of(w, paid)["Last_Payment_Amount__c"] == 100
    w.clock.advance(600)
    ns.pay(paid, "2026-03-03", 300)  # only the payment changes, not the customer
    summary = await w.engine.sync()
    assert summary.ok
    assert summary.actions == {"update:salesforce": 1}
    assert account_of(w, paid) == {"Name": "Payer", "Last_Payment_Date__c": "2026-03-03",
                                   "Last_Payment_Amount__c": 300}
    # level-triggered: an older-dated payment names the customer, whose values did not change
    w.clock.advance(600)
    ns.pay(other, "2020-01-01", 5, voided=True)
    ns.pay(paid, "2026-01-01", 1)
    writes = w.n_writes
    summary = await w.engine.sync()
    assert summary.ok and w.n_writes == writes and not summary.actions
    outcomes = {o.id: o.reason for o in summary.links["status"].outcomes}
    assert outcomes == {paid: "no change since the last sync", other: "no change since the last sync"}
    # overlap re-reads of the same payments write nothing either
    w.clock.advance(60)
    assert (await w.engine.sync()).ok and w.n_writes == writes


def test_a_watch_names_one_record_type_and_a_field_path():
    with pytest.raises(ValueError, match="exactly one record type"):
        LinkSpec.model_validate({**LINK, "options": {"watch": [{"via": "customer"}]}})
    with pytest.raises(ValueError, match="is not a field path"):
        LinkSpec.model_validate({**LINK, "options": {"watch": [{"netsuite": "customerPayment",
                                                                "via": "a b"}]}})


async def test_a_pushed_payment_makes_the_engine_look_at_its_customer():
    w, ns = make_world(WATCHING)
    paid = ns.create("customer", {"companyName": "Payer"})
    assert (await w.engine.sync()).ok
    payment = ns.pay(paid, "2026-04-04", 44)
    w.engine.intake.submit(Change(System.NETSUITE, "customerPayment", payment, source="push"))
    summary = await w.engine.process_intake()
    assert summary.ok, summary
    assert summary.actions == {"update:salesforce": 1}
    assert account_of(w, paid)["Last_Payment_Date__c"] == "2026-04-04"
    writes = w.n_writes
    w.engine.intake.submit(Change(System.NETSUITE, "customerPayment", payment, source="replay"))
    assert (await w.engine.process_intake()).ok and w.n_writes == writes


async def test_watches_are_checked_offline_and_online():
    own = {**LINK, "options": {"watch": [{"netsuite": "customer", "via": "parent"}]}}
    problems = [p for p in link_problems({"status": LinkSpec.model_validate(own)}) if "watch" in str(p.path)]
    assert [(p.path, "is the link's own record type" in p.message) for p in problems] == \
        [(("links", "status", "options", "watch", 0), True)]
    w, ns = make_world(WATCHING)
    ns.pay(ns.create("customer", {"companyName": "Payer"}), "2026-01-01", 1)
    assert await w.engine.check_enrichments() == []
    typo = {**WATCHING, "options": {**WATCHING["options"],
                                    "watch": [{"netsuite": "customerPayment", "via": "custmer.id"}]}}
    w, ns = make_world(typo)
    ns.pay(ns.create("customer", {"companyName": "Payer"}), "2026-01-01", 1)
    [problem] = await w.engine.check_enrichments()
    assert problem.path == ("links", "status", "options", "watch", 0)
    assert problem.message == "via: netsuite customerPayment has no field 'custmer'"

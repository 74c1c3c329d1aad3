"""Seeds: the empty account's lists, and a demo company consistent with the shared company and the rules."""

from __future__ import annotations

import json
from typing import Any

from netsuite_sandbox_support import NS, START

from ledgerbridge_sandbox.company import build_company
from ledgerbridge_sandbox.netsuite import ManualClock, NetSuiteSandboxConfig, create_app


def test_empty_seed_has_only_lists(ns: NS) -> None:
    counts = dict(ns.sb.store.query("SELECT type, COUNT(*) FROM records GROUP BY type"))
    assert counts == {"currency": 4, "subsidiary": 5, "term": 5, "priceLevel": 5, "customerStatus": 11}
    assert [r["symbol"] for r in ns.rows("SELECT symbol FROM currency ORDER BY id")] == [
        "USD",
        "GBP",
        "CAD",
        "EUR",
    ]


def test_demo_draws_customers_contacts_and_items_from_the_shared_company(demo: NS) -> None:
    company = build_company(seed=42, n_accounts=120, n_products=150, n_leads=0)
    names = {r["companyname"] for r in demo.rows("SELECT companyname FROM customer")}
    expected = {c.netsuite_name for c in company.companies if c.netsuite_presence in {"exact", "near"}}
    absent = {c.name for c in company.companies if c.netsuite_presence == "none"}
    assert names == expected and not names & absent
    near = next(c for c in company.companies if c.netsuite_presence == "near" and c.netsuite_name != c.name)
    row = demo.rows(
        "SELECT phone, BUILTIN.DF(currency) cur FROM customer WHERE companyname = ?",
        params=[near.netsuite_name],
    )[0]
    assert row == {"phone": near.netsuite_phone, "cur": near.currency}
    emails = {r["email"] for r in demo.rows("SELECT email FROM contact")}
    assert {p.email for c in company.companies if c.netsuite_presence != "none" for p in c.contacts} == emails
    skus = {r["itemid"] for r in demo.rows("SELECT itemid FROM item WHERE itemtype <> 'Discount'")}
    assert skus == {p.sku for p in company.products}
    kinds = {r["itemtype"] for r in demo.rows("SELECT DISTINCT itemtype FROM item")}
    assert kinds == {"InvtPart", "NonInvtPart", "Service", "Discount"}
    currencies = {r["c"] for r in demo.rows("SELECT DISTINCT BUILTIN.DF(currency) c FROM pricing")}
    assert currencies == {"USD", "EUR", "GBP", "CAD"}


def test_demo_has_the_receivables_story(demo: NS) -> None:
    def count(q: str) -> int:
        return int(demo.rows(q)[0]["n"])

    assert count("SELECT COUNT(*) n FROM transaction WHERE type = 'CustInvc' AND daysoverduesearch > 0") > 0
    assert (
        count(
            "SELECT COUNT(*) n FROM transaction WHERE type = 'CustInvc' AND foreignamountpaid > 0 "
            "AND foreignamountunpaid > 0"
        )
        > 0
    )
    assert count("SELECT COUNT(*) n FROM transaction WHERE type = 'CustInvc' AND status = 'B'") > 0
    assert count("SELECT COUNT(*) n FROM transaction WHERE type = 'Opprtnty' AND status = 'A'") > 0
    assert count("SELECT COUNT(*) n FROM customer WHERE oncredithold = 'T'") > 0
    assert count("SELECT COUNT(*) n FROM customer WHERE searchstage = 'Prospect'") > 0
    assert count("SELECT COUNT(*) n FROM employee WHERE issalesrep = 'T'") >= 5
    assert demo.rows("SELECT entityid FROM employee WHERE title = 'Customer Success Manager'") == [
        {"entityid": "Grace Wright"}
    ]
    assert count("SELECT COUNT(DISTINCT currency) n FROM transaction") == 4


def _snapshot(ns: NS) -> dict[tuple[str, int], str]:
    return {(t, int(i)): d for t, i, d in ns.sb.store.query("SELECT type, id, data FROM records")}


def test_demo_is_consistent_with_the_business_rules(demo: NS) -> None:
    before = _snapshot(demo)
    rules = demo.sb.records.rules
    with demo.sb.store.transaction():
        for rtype, rid in list(before):
            if rtype == "invoice":
                rules.recompute_invoice(rid)
            elif rtype == "salesOrder":
                rules.recompute_order_billing(rid)
        for rtype, rid in list(before):
            if rtype == "customer":
                rules.recompute_customer(rid)
    after = _snapshot(demo)
    changed = [key for key in before if before[key] != after[key]]
    assert changed == []
    for (rtype, _rid), blob in before.items():
        if rtype in {"salesOrder", "invoice"}:
            data = json.loads(blob)
            assert data["total"] == round(sum(ln["amount"] for ln in data["item"]) + data["discountTotal"], 2)


def test_demo_is_deterministic_and_scales() -> None:
    def dump(scale: int) -> tuple[Any, ...]:
        app = create_app(NetSuiteSandboxConfig(clock=ManualClock(START)), seed="demo", scale=scale)
        store = app.state.sandbox.store
        rows = store.query("SELECT type, id, data FROM records ORDER BY family, id")
        store.conn.close()
        return tuple(rows)

    small = dump(40)
    assert small == dump(40)
    assert len(dump(80)) > len(small)

"""The preflight checks on their own: line amounts as NetSuite computes them (item lines, discount
lines by amount and by percentage) and the credit limit check (override ON/OFF/AUTO, no limit,
unbilled orders, header discounts, a foreign-currency order), with NetSuite reads counted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ledgerbridge.core.records import JsonValue, Record
from ledgerbridge.engine.steps import PreflightInput, line_amounts, run_preflight
from ledgerbridge.flows.mapping import MapContext
from ledgerbridge.flows.spec import PreflightSpec

pytestmark = pytest.mark.anyio


def line(item: str, rate: JsonValue, quantity: float | None = None) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {"item": {"id": item}, "rate": rate}
    if quantity is not None:
        out["quantity"] = quantity
    return out


def test_item_lines_are_quantity_times_rate_rounded_per_line() -> None:
    assert line_amounts([line("1", 3.333, 3), line("2", 100), line("3", 0.126, 1)]) == [10.0, 100.0, 0.13]


def test_a_percentage_discount_line_takes_its_share_of_the_line_above() -> None:
    lines = [line("1", 9.99, 1), line("9", "-50%"), line("1", 100, 2), line("9", "-12.5%", 4)]
    assert line_amounts(lines) == [9.99, -5.0, 200.0, -25.0]  # quantity of a discount line is ignored


def test_an_amount_discount_line_counts_once_whatever_its_quantity_when_its_item_is_known() -> None:
    lines = [line("1", 10, 3), line("9", -4.5, 3)]
    assert line_amounts(lines, {"9"}) == [30.0, -4.5]
    assert line_amounts(lines) == [30.0, -13.5]  # an unknown item with a quantity is an item line


@pytest.mark.parametrize(("lines", "message"), [
    ([line("1", None, 1)], "line 1 has no rate"),
    ([line("1", 1, 1), "x"], "line 2 is not an object"),
    ([line("1", "ten", 1)], "line 1: 'ten' is not a number"),
    ([line("1", 1, 1), line("9", "-a%")], "line 2: rate '-a%' is not a percentage"),
])
def test_bad_lines_are_named(lines: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        line_amounts(lines)


class NetSuiteReads:
    """Records by type and id, with every read call recorded."""

    def __init__(self, **records: dict[str, dict[str, JsonValue]]) -> None:
        self.records = records
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    async def __call__(self, rtype: str, ids: Sequence[str]) -> list[Record]:
        self.calls.append((rtype, tuple(ids)))
        rows = self.records.get(rtype, {})
        return [Record(rtype, i, rows[i]) for i in ids if i in rows]


def order(total: float, **header: JsonValue) -> dict[str, JsonValue]:
    return {"entity": {"id": "7"}, "item": {"items": [line("1", total, 1)]}, **header}


async def check(reads: NetSuiteReads, payload: dict[str, JsonValue], *specs: Any) -> str | None:
    checks = [PreflightSpec.model_validate(s) for s in (specs or ["credit_limit"])]
    inp = PreflightInput({"Amount": 0}, payload, MapContext(), reads, lambda link: "serviceSaleItem")
    return await run_preflight(checks, inp)


def customer(**fields: JsonValue) -> NetSuiteReads:
    return NetSuiteReads(customer={"7": {"companyName": "Acme", "currency": {"id": "1"}, **fields}})


async def test_balance_plus_order_over_the_limit_is_refused_with_the_amounts() -> None:
    reads = customer(creditLimit=10000, balance=9000, creditHoldOverride={"id": "AUTO", "refName": "Auto"})
    assert await check(reads, order(2500)) == (
        "credit_limit: customer Acme balance 9,000.00 + order 2,500.00 exceeds credit limit 10,000.00 "
        "(raise the limit or set the customer's credit hold override to OFF in NetSuite, then retry)")
    assert await check(reads, order(1000)) is None  # exactly at the limit is within it
    assert await check(reads, order(1000.01)) is not None


@pytest.mark.parametrize(("override", "limit", "refused"), [
    ("ON", 1_000_000, True), ("OFF", 1, False), ("AUTO", None, False), (None, 100, True),
    ("auto", 100, True)])
async def test_the_credit_hold_override_decides_as_netsuite_does(override: str | None, limit: float | None,
                                                                  refused: bool) -> None:
    fields: dict[str, JsonValue] = {"balance": 50, "creditLimit": limit}
    if override is not None:
        fields["creditHoldOverride"] = override
    reason = await check(customer(**fields), order(60))
    assert (reason is not None) is refused
    if override == "ON":
        assert reason == "credit_limit: customer Acme is on credit hold (credit hold override ON)"


async def test_unbilled_orders_count_only_when_asked() -> None:
    reads = customer(creditLimit=1000, balance=500, unbilledOrders=400)
    assert await check(reads, order(200)) is None
    assert await check(reads, order(200), {"check": "credit_limit", "unbilled": True}) == (
        "credit_limit: customer Acme balance 500.00 + unbilled orders 400.00 + order 200.00 exceeds credit "
        "limit 1,000.00 (raise the limit or set the customer's credit hold override to OFF in NetSuite, "
        "then retry)")


async def test_the_order_total_counts_discount_lines_and_a_header_discount() -> None:
    reads = customer(creditLimit=1000, balance=0)
    lines = {"items": [line("1", 600, 2), line("9", "-10%")]}  # 1,200 - 120 = 1,080
    assert await check(reads, {**order(0), "item": lines}) is not None
    halved = {**order(0), "item": lines, "discountItem": {"id": "9"}, "discountRate": "-50%"}
    assert await check(reads, halved) is None  # 1,080 - 540
    flat = {**order(0), "item": lines, "discountItem": {"id": "9"}, "discountRate": -100}
    assert await check(reads, flat) is None  # 1,080 - 100
    reason = await check(customer(creditLimit=900, balance=0), flat)
    assert reason is not None and "order 980.00 exceeds credit limit 900.00" in reason


async def test_a_foreign_currency_order_is_converted_to_the_customers_currency() -> None:
    reads = customer(creditLimit=1000, balance=0)
    reads.records["currency"] = {"1": {"exchangeRate": 1.0}, "2": {"exchangeRate": 1.25}}
    reason = await check(reads, order(900, currency={"id": "2"}))  # GBP 900 = USD 1,125
    assert reason is not None and "order 1,125.00 exceeds credit limit 1,000.00" in reason
    reads.records["currency"] = {"1": {"exchangeRate": 1.0}}
    assert await check(reads, order(900, currency={"id": "2"})) == (
        "credit_limit: no exchange rate for currency 2 or 1, so the credit limit cannot be checked")


async def test_missing_customer_or_entity_is_named() -> None:
    assert await check(NetSuiteReads(), order(1)) == "credit_limit: customer 7 does not exist in NetSuite"
    assert await check(NetSuiteReads(), {"item": {"items": []}}) == \
        "credit_limit: the order has no customer (entity)"


async def test_checks_of_one_order_read_the_customer_once() -> None:
    reads = customer(creditLimit=1000, balance=0, subsidiary={"id": "1"})
    assert await check(reads, order(10), "subsidiary", "credit_limit") is None
    assert reads.calls == [("customer", ("7",))]


async def test_an_order_without_lines_says_so_instead_of_comparing_totals() -> None:
    reads = NetSuiteReads()
    for payload in ({"entity": {"id": "7"}}, {"entity": {"id": "7"}, "item": {"items": []}}):
        reason = await check(reads, payload, "lines_total")
        assert reason == ("lines_total: there are no lines (item.items is empty): add the products "
                          "to the record, then retry"), reason

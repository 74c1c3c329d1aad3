"""Named steps that guard writes: preflight checks before a create, and the freeze guard (layer ``engine``).

Imports ``core`` and ``flows`` only. A step never writes; it returns the reason a write must not
happen, and the runner parks the record as a review with that reason instead of writing:

- **preflight** (``options.preflight``) runs before a record is created on NetSuite:
  ``lines_total``, ``items_linked``, ``subsidiary`` and ``credit_limit`` (see
  :class:`~ledgerbridge.flows.spec.PreflightSpec`).
- **freeze** (``options.freeze_when``) holds while an expression is true on a side's record, e.g.
  a sales order past Pending Approval (``orderStatus.id != 'A'``): changes are not written to that
  side; they raise a review.

Such reviews are :class:`~ledgerbridge.core.store.MatchReview` rows with no candidates whose label
starts with :data:`PREFLIGHT_LABEL` or :data:`FROZEN_LABEL`; :func:`guard_reason` reads them back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ledgerbridge.core.records import JsonValue, Record
from ledgerbridge.core.store import MatchReview
from ledgerbridge.flows.expressions import Expression, Path, compile_expression
from ledgerbridge.flows.mapping import MapContext
from ledgerbridge.flows.spec import PreflightSpec

__all__ = [
    "FROZEN_LABEL",
    "PREFLIGHT_LABEL",
    "FreezeGuard",
    "PreflightInput",
    "guard_reason",
    "is_guard_review",
    "line_amounts",
    "run_preflight",
]

PREFLIGHT_LABEL = "preflight: "
FROZEN_LABEL = "frozen: "

Reader = Callable[[str, Sequence[str]], Awaitable[list[Record]]]


def is_guard_review(review: MatchReview) -> bool:
    """True for a review opened by a preflight check or the freeze guard (not a match review)."""
    return not review.candidates and review.label.startswith((PREFLIGHT_LABEL, FROZEN_LABEL))


def guard_reason(review: MatchReview) -> str | None:
    """The reason of a preflight or freeze review (its label without the prefix); None for others."""
    if not is_guard_review(review):
        return None
    for prefix in (PREFLIGHT_LABEL, FROZEN_LABEL):
        if review.label.startswith(prefix):
            return review.label[len(prefix):]
    return None  # pragma: no cover - is_guard_review checked the prefixes


@dataclass(frozen=True, slots=True)
class PreflightInput:
    """What the checks see: the source record, the NetSuite payload about to be created, the
    resolved references, and a way to read NetSuite records."""

    source: Mapping[str, JsonValue]
    payload: Mapping[str, JsonValue]
    ctx: MapContext
    read: Reader
    object_of_link: Callable[[str], str]


def _items(value: JsonValue) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in ("items", "records"):
            inner = value.get(key)
            if isinstance(inner, list):
                return inner
    return []


def _id(value: JsonValue) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return None if value is None or value == "" else str(value)


def _ids(value: JsonValue) -> set[str]:
    """Ids of a multi-select as NetSuite returns it (``{"items": [{"id"}]}``, a list, or one id)."""
    if isinstance(value, dict) and "id" not in value:
        value = _items(value)
    if isinstance(value, list):
        return {i for v in value if (i := _id(v)) is not None}
    one = _id(value)
    return {one} if one is not None else set()


def _num(value: JsonValue, default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None


def _percent(value: JsonValue) -> float | None:
    """The percentage of a rate like ``"-10%"`` (-10.0); None for any other rate."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1])
        except ValueError:
            raise ValueError(f"rate {value!r} is not a percentage") from None
    return None


def line_amounts(lines: Sequence[JsonValue], discount_items: Collection[str] = ()) -> list[float]:
    """Each line's amount as NetSuite computes it, rounded to cents.

    An item line is ``quantity × rate`` (quantity 1 when absent). A discount-item line (its rate a
    percentage such as ``"-10%"``, or its item in ``discount_items``) ignores quantity: a
    percentage takes that share of the line above it, an amount counts once.

    Raises:
        ValueError: a line is not an object, has no rate, or a rate or quantity is not a number
            (the message names the line, counting from 1).
    """
    amounts: list[float] = []
    previous = 0.0
    for n, line in enumerate(lines, 1):
        if not isinstance(line, dict):
            raise ValueError(f"line {n} is not an object")
        rate = line.get("rate")
        if rate is None:
            raise ValueError(f"line {n} has no rate")
        try:
            pct = _percent(rate)
            if pct is not None:
                amount = round(previous * pct / 100.0, 2)
            elif _id(line.get("item")) in discount_items:
                amount = round(_num(rate, 0.0), 2)
            else:
                amount = round(_num(line.get("quantity"), 1.0) * _num(rate, 0.0), 2)
        except ValueError as exc:
            raise ValueError(f"line {n}: {exc}") from None
        amounts.append(amount)
        previous = amount
    return amounts


def _lines_total(check: PreflightSpec, inp: PreflightInput) -> str | None:
    lines = _items(Path(check.lines).get(inp.payload))
    if not lines:
        return (f"there are no lines ({check.lines} is empty): add the products to the record, "
                "then retry")
    try:
        total = round(sum(line_amounts(lines, check.discount_items)), 2)
    except ValueError as exc:
        return str(exc)
    expected = Path(check.total).get(inp.source)
    if expected is None or isinstance(expected, bool) or not isinstance(expected, int | float | str):
        return f"{check.total} is empty, so the lines' total cannot be checked"
    try:
        want = float(expected)
    except ValueError:
        return f"{check.total} {expected!r} is not a number"
    if abs(total - want) > check.tolerance:
        return (f"lines total {total:.2f} (quantity x rate per line, as NetSuite computes it) "
                f"differs from {check.total} {want:.2f}")
    return None


def _items_linked(check: PreflightSpec, inp: PreflightInput) -> str | None:
    wanted = set(check.links) if check.links else None
    for req in sorted(inp.ctx.unresolved, key=lambda r: (r.links, r.id)):
        if wanted is None or wanted & set(req.links):
            return (f"{req.from_system.value} record {req.id} is not linked through "
                    f"{' or '.join(req.links)}: nothing on the other side to put on the line")
    return None


async def _order_customer(inp: PreflightInput) -> tuple[str, Mapping[str, JsonValue]] | str:
    """The order's customer id and record, or the reason there is none."""
    entity = _id(inp.payload.get("entity"))
    if entity is None:
        return "the order has no customer (entity)"
    found = await inp.read("customer", [entity])
    if not found:
        return f"customer {entity} does not exist in NetSuite"
    return entity, found[0].fields


async def _subsidiary(check: PreflightSpec, inp: PreflightInput) -> str | None:
    got = await _order_customer(inp)
    if isinstance(got, str):
        return got
    entity, customer = got
    customer_sub = _id(customer.get("subsidiary"))
    subsidiary = _id(inp.payload.get("subsidiary")) or customer_sub
    if customer_sub is not None and subsidiary != customer_sub:
        return f"customer {entity} belongs to subsidiary {customer_sub}, the order to {subsidiary}"
    currency = _id(inp.payload.get("currency"))
    if currency is not None:
        allowed = _ids(customer.get("currency")) | {
            c for ln in _items(customer.get("currencyList")) if isinstance(ln, dict)
            for c in _ids(ln.get("currency"))}
        if allowed and currency not in allowed:
            known = ", ".join(sorted(allowed))
            return f"currency {currency} is not a currency of customer {entity} ({known})"
    # Which record type each line's item is: the link that resolved its reference says so.
    by_type: dict[str, list[str]] = {}
    for req, target in inp.ctx.refs.items():
        link = inp.ctx.via.get(req, req.link)
        by_type.setdefault(inp.object_of_link(link), []).append(target)
    line_items = [i for ln in _items(Path(check.lines).get(inp.payload)) if isinstance(ln, dict)
                  if (i := _id(ln.get("item"))) is not None]
    items: dict[str, Record] = {}
    for rtype, ids in sorted(by_type.items()):
        wanted = sorted({i for i in ids if i in line_items})
        if wanted and rtype != "customer":
            items.update({r.id: r for r in await inp.read(rtype, wanted)})
    for item_id in line_items:
        item = items.get(item_id)
        if item is None or subsidiary is None:
            continue
        subs = _ids(item.fields.get("subsidiary"))
        if subs and subsidiary not in subs and not item.fields.get("includeChildren"):
            name = item.fields.get("itemId") or item_id
            return f"item {name} is not available in subsidiary {subsidiary} (only {', '.join(sorted(subs))})"
    return None


def _enum(value: JsonValue) -> str | None:
    """An enum as NetSuite returns it (``{"id": "AUTO", "refName": "Auto"}``) or as text."""
    value = _id(value)
    return value.upper() if value is not None else None


def _money(value: float) -> str:
    return f"{value:,.2f}"


async def _credit_limit(check: PreflightSpec, inp: PreflightInput) -> str | None:
    got = await _order_customer(inp)
    if isinstance(got, str):
        return got
    entity, customer = got
    name = customer.get("companyName") or customer.get("entityId") or entity
    override = _enum(customer.get("creditHoldOverride")) or "AUTO"
    if override == "OFF":
        return None
    if override == "ON":
        return f"customer {name} is on credit hold (credit hold override ON)"
    try:
        limit_value = customer.get("creditLimit")
        if limit_value is None or limit_value == "":
            return None  # no credit limit: NetSuite never holds
        limit = _num(limit_value, 0.0)
        balance = _num(customer.get("balance"), 0.0)
        unbilled = _num(customer.get("unbilledOrders"), 0.0) if check.unbilled else 0.0
    except ValueError as exc:
        return f"customer {name}: {exc}"
    try:
        lines = _items(Path(check.lines).get(inp.payload))
        subtotal = round(sum(line_amounts(lines, check.discount_items)), 2)
    except ValueError as exc:
        return str(exc)
    total = subtotal
    header = inp.payload.get("discountRate")
    if inp.payload.get("discountItem") is not None and header is not None:
        try:
            pct = _percent(header)
            total += round(subtotal * pct / 100.0, 2) if pct is not None else round(_num(header, 0.0), 2)
        except ValueError as exc:
            return f"discountRate: {exc}"
    currency, own = _id(inp.payload.get("currency")), _id(customer.get("currency"))
    if currency is not None and own is not None and currency != own:
        rates = {r.id: r.fields.get("exchangeRate") for r in await inp.read("currency", [currency, own])}
        try:
            total = total * _num(rates.get(currency), float("nan")) / _num(rates.get(own), float("nan"))
        except ValueError as exc:
            return f"currency exchange rate: {exc}"
        if total != total:  # NaN: a currency record or its rate is missing
            return f"no exchange rate for currency {currency} or {own}, so the credit limit cannot be checked"
    total = round(total, 2)
    if balance + unbilled + total > limit + 0.005:
        parts = f"balance {_money(balance)}"
        if check.unbilled:
            parts += f" + unbilled orders {_money(unbilled)}"
        return (f"customer {name} {parts} + order {_money(total)} exceeds credit limit {_money(limit)}"
                " (raise the limit or set the customer's credit hold override to OFF in NetSuite, "
                "then retry)")
    return None


def _cached(read: Reader) -> Reader:
    """``read`` remembering each record, so checks of one record read it once."""
    seen: dict[tuple[str, str], Record | None] = {}

    async def cached(rtype: str, ids: Sequence[str]) -> list[Record]:
        todo = [i for i in dict.fromkeys(ids) if (rtype, i) not in seen]
        if todo:
            got = {r.id: r for r in await read(rtype, todo)}
            for i in todo:
                seen[(rtype, i)] = got.get(i)
        return [r for i in dict.fromkeys(ids) if (r := seen[(rtype, i)]) is not None]

    return cached


async def run_preflight(checks: Sequence[PreflightSpec], inp: PreflightInput) -> str | None:
    """Run the checks in order (each NetSuite record they need is read once).

    Returns:
        The first failure's reason, or None when every check passes.
    """
    inp = replace(inp, read=_cached(inp.read))
    for check in checks:
        if check.check == "lines_total":
            reason = _lines_total(check, inp)
        elif check.check == "items_linked":
            reason = _items_linked(check, inp)
        elif check.check == "credit_limit":
            reason = await _credit_limit(check, inp)
        else:
            reason = await _subsidiary(check, inp)
        if reason is not None:
            return f"{check.check}: {reason}"
    return None


class FreezeGuard:
    """``options.freeze_when`` of one side, compiled.

    Args:
        text: an expression (or plain path) over that side's record; truthy means frozen.
        timeout_ms: evaluation bound.
        max_depth: recursion bound.
    """

    def __init__(self, text: str, *, timeout_ms: int = 1000, max_depth: int = 200) -> None:
        self.text = text
        self._expr: Expression = compile_expression(text, timeout_ms=timeout_ms, max_depth=max_depth)

    def frozen(self, data: Mapping[str, JsonValue]) -> bool:
        """True when the record is frozen.

        Raises:
            ExpressionError: the expression failed on this record.
        """
        return bool(self._expr.evaluate(data))

"""Named steps that guard writes: preflight checks before a create, and the freeze guard (layer ``engine``).

Imports ``core`` and ``flows`` only. A step never writes; it returns the reason a write must not
happen, and the runner parks the record as a review with that reason instead of writing:

- **preflight** (``options.preflight``) runs before a record is created on NetSuite:
  ``lines_total``, ``items_linked`` and ``subsidiary`` (see :class:`~ledgerbridge.flows.spec.PreflightSpec`).
- **freeze** (``options.freeze_when``) holds while an expression is true on a side's record, e.g.
  a sales order past Pending Approval (``orderStatus.id != 'A'``): changes are not written to that
  side; they raise a review.

Such reviews are :class:`~ledgerbridge.core.store.MatchReview` rows with no candidates whose label
starts with :data:`PREFLIGHT_LABEL` or :data:`FROZEN_LABEL`; :func:`guard_reason` reads them back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
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
    return float(value)


def _lines_total(check: PreflightSpec, inp: PreflightInput) -> str | None:
    lines = _items(Path(check.lines).get(inp.payload))
    total = 0.0
    for n, line in enumerate(lines, 1):
        if not isinstance(line, dict):
            return f"line {n} is not an object"
        try:
            qty = _num(line.get("quantity"), 1.0)
            if line.get("rate") is None:
                return f"line {n} has no rate"
            total += round(qty * _num(line.get("rate"), 0.0), 2)  # NetSuite rounds each line's amount
        except ValueError as exc:
            return f"line {n}: {exc}"
    expected = Path(check.total).get(inp.source)
    if expected is None or isinstance(expected, bool) or not isinstance(expected, int | float | str):
        return f"{check.total} is empty, so the lines' total cannot be checked"
    try:
        want = float(expected)
    except ValueError:
        return f"{check.total} {expected!r} is not a number"
    if abs(round(total, 2) - want) > check.tolerance:
        return (f"lines total {round(total, 2):.2f} (quantity x rate per line, as NetSuite computes it) "
                f"differs from {check.total} {want:.2f}")
    return None


def _items_linked(check: PreflightSpec, inp: PreflightInput) -> str | None:
    wanted = set(check.links) if check.links else None
    for req in sorted(inp.ctx.unresolved, key=lambda r: (r.links, r.id)):
        if wanted is None or wanted & set(req.links):
            return (f"{req.from_system.value} record {req.id} is not linked through "
                    f"{' or '.join(req.links)}: nothing on the other side to put on the line")
    return None


async def _subsidiary(check: PreflightSpec, inp: PreflightInput) -> str | None:
    entity = _id(inp.payload.get("entity"))
    if entity is None:
        return "the order has no customer (entity)"
    found = await inp.read("customer", [entity])
    if not found:
        return f"customer {entity} does not exist in NetSuite"
    customer = found[0].fields
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


async def run_preflight(checks: Sequence[PreflightSpec], inp: PreflightInput) -> str | None:
    """Run the checks in order.

    Returns:
        The first failure's reason, or None when every check passes.
    """
    for check in checks:
        if check.check == "lines_total":
            reason = _lines_total(check, inp)
        elif check.check == "items_linked":
            reason = _items_linked(check, inp)
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

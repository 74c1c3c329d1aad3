"""The cash-flow forecast: weighted pipeline and expected collections per week or month (layer ``app``).

Two sources are combined per period:

* **Weighted pipeline** - every open Salesforce opportunity (``IsClosed = false``) contributes
  ``Amount x Probability / 100`` to the period of its ``CloseDate``.
* **Expected collections** - every open NetSuite invoice contributes its remaining balance to the
  period of its due date shifted by its customer's average days-to-pay: the mean of
  ``payment date - due date`` (days, may be negative) over the customer's fully paid invoices, where
  an invoice's payment date is the date of the latest customer payment applied to it. A customer
  with no paid invoices is expected to pay on the due date.

Amounts dated before the first period (overdue invoices, opportunities whose close date passed) are
counted in the first period; amounts after the last period are reported as ``beyond``. Amounts are
summed as entered, without currency conversion. The arithmetic (:func:`build_forecast`) is pure;
:func:`forecast` reads the data from both systems; :func:`to_csv` and :func:`to_png` render it.
"""

from __future__ import annotations

import csv
import io
import struct
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

from ledgerbridge.app.wiring import Runtime, open_runtime
from ledgerbridge.core.records import JsonValue
from ledgerbridge.flows.config import LedgerBridgeConfig

__all__ = [
    "ForecastPeriod",
    "ForecastReport",
    "Granularity",
    "OpenInvoice",
    "OpenOpportunity",
    "PaidInvoice",
    "build_forecast",
    "days_to_pay",
    "forecast",
    "forecast_runtime",
    "period_label",
    "period_start",
    "to_csv",
    "to_png",
]

Granularity = Literal["week", "month"]
CENT = Decimal("0.01")
CSV_COLUMNS = ("period_start", "label", "weighted_pipeline", "expected_collections", "total")


@dataclass(frozen=True, slots=True)
class OpenOpportunity:
    """An open opportunity: amount, probability in percent (0-100) and expected close date."""

    id: str
    amount: Decimal
    probability: Decimal
    close_date: date


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    """An open invoice: its customer, due date and remaining balance."""

    id: str
    customer: str
    due_date: date
    amount_due: Decimal


@dataclass(frozen=True, slots=True)
class PaidInvoice:
    """A fully paid invoice of a customer: when it was due and when it was paid."""

    customer: str
    due_date: date
    paid_on: date


@dataclass(frozen=True, slots=True)
class ForecastPeriod:
    """One period of the forecast."""

    start: date
    label: str
    weighted_pipeline: Decimal
    expected_collections: Decimal

    @property
    def total(self) -> Decimal:
        """Pipeline plus collections."""
        return self.weighted_pipeline + self.expected_collections


@dataclass(frozen=True, slots=True)
class ForecastReport:
    """The forecast, oldest period first, with what falls after the last period."""

    granularity: Granularity
    currency: str
    generated_at: datetime
    periods: tuple[ForecastPeriod, ...]
    beyond_pipeline: Decimal = Decimal("0.00")
    beyond_collections: Decimal = Decimal("0.00")
    days_to_pay: dict[str, float] = field(default_factory=dict)


# -- arithmetic ------------------------------------------------------------------------------------

def period_start(day: date, granularity: Granularity) -> date:
    """The first day of ``day``'s period: the Monday of its ISO week, or the 1st of its month."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_start(start: date, granularity: Granularity) -> date:
    if granularity == "week":
        return start + timedelta(days=7)
    return date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def period_label(start: date, granularity: Granularity) -> str:
    """``2026-W07`` (ISO week) or ``2026-03``."""
    if granularity == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def days_to_pay(paid: Iterable[PaidInvoice]) -> dict[str, float]:
    """Per customer, the mean of ``paid_on - due_date`` in days over their paid invoices."""
    delays: dict[str, list[int]] = defaultdict(list)
    for inv in paid:
        delays[inv.customer].append((inv.paid_on - inv.due_date).days)
    return {customer: sum(d) / len(d) for customer, d in delays.items()}


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def build_forecast(opportunities: Iterable[OpenOpportunity], invoices: Iterable[OpenInvoice],
                   paid: Iterable[PaidInvoice], *, today: date, granularity: Granularity = "month",
                   periods: int = 6, currency: str = "USD",
                   generated_at: datetime | None = None) -> ForecastReport:
    """Bucket weighted pipeline and adjusted collections into ``periods`` periods from ``today``'s.

    Args:
        opportunities: open opportunities.
        invoices: open invoices.
        paid: the payment history (fully paid invoices).
        today: the first period is the one holding this day.
        granularity: week or month.
        periods: number of periods (at least 1).
        currency: the label of the amounts.
        generated_at: stamp of the report (default: midnight of ``today``).

    Raises:
        ValueError: ``periods`` below 1 or an unknown granularity.
    """
    if periods < 1:
        raise ValueError("the forecast needs at least one period")
    if granularity not in ("week", "month"):
        raise ValueError("granularity must be week or month")
    starts = [period_start(today, granularity)]
    while len(starts) < periods:
        starts.append(_next_start(starts[-1], granularity))
    end = _next_start(starts[-1], granularity)
    pipeline: dict[date, Decimal] = defaultdict(Decimal)
    collections: dict[date, Decimal] = defaultdict(Decimal)
    beyond_pipeline = beyond_collections = Decimal(0)

    def bucket(day: date) -> date | None:
        if day >= end:
            return None
        return max(starts[0], period_start(day, granularity))

    for opp in opportunities:
        weighted = opp.amount * opp.probability / 100
        key = bucket(opp.close_date)
        if key is None:
            beyond_pipeline += weighted
        else:
            pipeline[key] += weighted
    delays = days_to_pay(paid)
    for inv in invoices:
        shift = delays.get(inv.customer)
        expected = inv.due_date + timedelta(days=round(shift)) if shift is not None else inv.due_date
        key = bucket(expected)
        if key is None:
            beyond_collections += inv.amount_due
        else:
            collections[key] += inv.amount_due
    rows = tuple(ForecastPeriod(s, period_label(s, granularity), _cents(pipeline[s]), _cents(collections[s]))
                 for s in starts)
    stamp = generated_at or datetime(today.year, today.month, today.day)
    return ForecastReport(granularity, currency, stamp, rows, _cents(beyond_pipeline),
                          _cents(beyond_collections), delays)


# -- reading both systems --------------------------------------------------------------------------

def _decimal(value: JsonValue) -> Decimal | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _date(value: JsonValue) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _ref_id(value: JsonValue) -> str | None:
    if isinstance(value, dict):
        inner = value.get("id")
        return str(inner) if inner is not None else None
    return str(value) if value is not None else None


async def _open_opportunities(rt: Runtime) -> list[OpenOpportunity]:
    out: list[OpenOpportunity] = []
    fields = ["Id", "Amount", "Probability", "CloseDate"]
    where = "IsClosed = false"
    async for page in rt.salesforce.read_changes("Opportunity", None, fields=fields, where=where):
        for r in page.records:
            amount, probability = _decimal(r.fields.get("Amount")), _decimal(r.fields.get("Probability"))
            close = _date(r.fields.get("CloseDate"))
            if amount is not None and probability is not None and close is not None:
                out.append(OpenOpportunity(r.id, amount, probability, close))
    return out


_INVOICES = ("SELECT id, entity, TO_CHAR(duedate, 'YYYY-MM-DD') AS duedate, foreignamountunpaid "
             "FROM transaction WHERE type = 'CustInvc' AND voided = 'F' ORDER BY id")


async def _invoices(rt: Runtime) -> tuple[list[OpenInvoice], dict[str, tuple[str, date]]]:
    """Open invoices, and every fully paid invoice's (customer, due date) by id."""
    open_: list[OpenInvoice] = []
    settled: dict[str, tuple[str, date]] = {}
    for row in await rt.netsuite.suiteql(_INVOICES):
        due, unpaid = _date(row.get("duedate")), _decimal(row.get("foreignamountunpaid"))
        customer = row.get("entity") or ""
        if due is None or unpaid is None:
            continue
        if unpaid > 0:
            open_.append(OpenInvoice(row["id"], customer, due, unpaid))
        else:
            settled[row["id"]] = (customer, due)
    return open_, settled


async def _paid(rt: Runtime, settled: dict[str, tuple[str, date]]) -> list[PaidInvoice]:
    last_payment: dict[str, date] = {}
    async for page in rt.netsuite.read_changes("customerPayment", None):
        for r in page.records:
            paid_on = _date(r.fields.get("tranDate"))
            apply = r.fields.get("apply")
            items = apply.get("items") if isinstance(apply, dict) else apply
            if paid_on is None or not isinstance(items, list):
                continue
            for line in items:
                if not isinstance(line, dict) or line.get("apply") is False:
                    continue
                doc = _ref_id(line.get("doc"))
                if doc in settled and (_decimal(line.get("amount")) or 0) > 0:
                    last_payment[doc] = max(paid_on, last_payment.get(doc, paid_on))
    return [PaidInvoice(settled[doc][0], settled[doc][1], on) for doc, on in sorted(last_payment.items())]


async def forecast_runtime(rt: Runtime, *, granularity: Granularity = "month", periods: int = 6,
                           currency: str = "USD") -> ForecastReport:
    """The forecast from an open runtime (the dashboard's live backend uses this)."""
    opportunities = await _open_opportunities(rt)
    invoices, settled = await _invoices(rt)
    paid = await _paid(rt, settled)
    now = rt.clock.now()
    return build_forecast(opportunities, invoices, paid, today=now.date(), granularity=granularity,
                          periods=periods, currency=currency, generated_at=now)


async def forecast(config: LedgerBridgeConfig, *, granularity: Granularity = "month", periods: int = 6,
                   state_url: str | None = None) -> ForecastReport:
    """Read open opportunities, open invoices and the payment history, and build the forecast."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await forecast_runtime(rt, granularity=granularity, periods=periods)


# -- rendering -------------------------------------------------------------------------------------

def to_csv(report: ForecastReport) -> str:
    """The periods as CSV (``period_start,label,weighted_pipeline,expected_collections,total``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in report.periods:
        writer.writerow([p.start.isoformat(), p.label, f"{p.weighted_pipeline}", f"{p.expected_collections}",
                         f"{p.total}"])
    return buf.getvalue()


_PIPELINE_RGB = (59, 130, 246)
_COLLECTIONS_RGB = (16, 185, 129)
_AXIS_RGB = (75, 85, 99)
_GRID_RGB = (229, 231, 235)


def _png(width: int, height: int, pixels: Sequence[bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def to_png(report: ForecastReport, *, width: int = 640, height: int = 320) -> bytes:
    """A grouped bar chart (blue: weighted pipeline, green: expected collections) as PNG bytes.

    Drawn with a tiny rasteriser (no chart library): white background, light grid lines at quarters
    of the largest value, an axis, and two bars per period from left to right.
    """
    pixels = [bytearray(b"\xff" * (width * 3)) for _ in range(height)]

    def rect(x0: int, y0: int, x1: int, y1: int, rgb: tuple[int, int, int]) -> None:
        for y in range(max(0, y0), min(height, y1)):
            row = pixels[y]
            for x in range(max(0, x0), min(width, x1)):
                row[3 * x:3 * x + 3] = bytes(rgb)

    left, right, top, bottom = 40, width - 16, 24, height - 24
    plot_h = bottom - top
    peak = max([max(p.weighted_pipeline, p.expected_collections) for p in report.periods] + [Decimal(0)])
    for q in range(1, 5):
        y = bottom - plot_h * q // 4
        rect(left, y, right, y + 1, _GRID_RGB)
    # legend: two swatches at the top left
    rect(left, 6, left + 12, 16, _PIPELINE_RGB)
    rect(left + 20, 6, left + 32, 16, _COLLECTIONS_RGB)
    n = max(1, len(report.periods))
    slot = (right - left) / n
    bar = max(1, int(slot * 0.35))
    for i, p in enumerate(report.periods):
        x = left + int(i * slot + slot * 0.15)
        for j, (value, rgb) in enumerate(((p.weighted_pipeline, _PIPELINE_RGB),
                                          (p.expected_collections, _COLLECTIONS_RGB))):
            h = int(plot_h * value / peak) if peak > 0 and value > 0 else 0
            rect(x + j * bar, bottom - h, x + (j + 1) * bar, bottom, rgb)
    rect(left - 1, top, left, bottom + 1, _AXIS_RGB)
    rect(left - 1, bottom, right, bottom + 1, _AXIS_RGB)
    return _png(width, height, pixels)

"""The forecast arithmetic: weighting, bucketing by week and month, the days-to-pay shift, and the
CSV and PNG renderings."""

from __future__ import annotations

import struct
import zlib
from datetime import date
from decimal import Decimal

import pytest

from ledgerbridge.app.forecast import (
    OpenInvoice,
    OpenOpportunity,
    PaidInvoice,
    build_forecast,
    days_to_pay,
    period_label,
    period_start,
    to_csv,
    to_png,
)

D = Decimal
TODAY = date(2026, 3, 11)  # a Wednesday


def test_period_start_and_label():
    assert period_start(TODAY, "week") == date(2026, 3, 9)
    assert period_label(date(2026, 3, 9), "week") == "2026-W11"
    assert period_start(TODAY, "month") == date(2026, 3, 1)
    assert period_label(date(2026, 3, 1), "month") == "2026-03"
    assert period_label(date(2025, 12, 29), "week") == "2026-W01"  # ISO year


def test_weighted_pipeline_by_close_month_with_past_and_beyond():
    opps = [OpenOpportunity("a", D("1000"), D("50"), date(2026, 3, 30)),
            OpenOpportunity("b", D("333.33"), D("10"), date(2026, 4, 1)),
            OpenOpportunity("c", D("200"), D("100"), date(2026, 1, 5)),   # overdue close: first period
            OpenOpportunity("d", D("999"), D("90"), date(2026, 6, 1))]    # after 3 months: beyond
    report = build_forecast(opps, [], [], today=TODAY, granularity="month", periods=3)
    assert [p.label for p in report.periods] == ["2026-03", "2026-04", "2026-05"]
    assert [p.weighted_pipeline for p in report.periods] == [D("700.00"), D("33.33"), D("0.00")]
    assert report.beyond_pipeline == D("899.10")


def test_weeks_bucket_from_monday():
    opps = [OpenOpportunity("a", D("100"), D("25"), date(2026, 3, 15)),  # Sunday: week 11
            OpenOpportunity("b", D("100"), D("25"), date(2026, 3, 16))]  # Monday: week 12
    report = build_forecast(opps, [], [], today=TODAY, granularity="week", periods=2)
    assert [(p.start, p.weighted_pipeline) for p in report.periods] == [
        (date(2026, 3, 9), D("25.00")), (date(2026, 3, 16), D("25.00"))]


def test_days_to_pay_is_the_mean_delay_per_customer():
    paid = [PaidInvoice("7", date(2026, 1, 1), date(2026, 1, 11)),
            PaidInvoice("7", date(2026, 2, 1), date(2026, 2, 21)),
            PaidInvoice("8", date(2026, 2, 1), date(2026, 1, 29))]
    assert days_to_pay(paid) == {"7": 15.0, "8": -3.0}


def test_collections_shift_by_the_customers_days_to_pay():
    paid = [PaidInvoice("late", date(2026, 1, 1), date(2026, 1, 31))]  # 30 days late
    invoices = [OpenInvoice("1", "late", date(2026, 3, 20), D("500")),      # -> Apr 19
                OpenInvoice("2", "new", date(2026, 3, 20), D("120.50")),    # no history: due date
                OpenInvoice("3", "new", date(2026, 2, 1), D("10")),         # overdue: first period
                OpenInvoice("4", "late", date(2026, 5, 10), D("40"))]       # -> Jun 9: beyond
    report = build_forecast([], invoices, paid, today=TODAY, granularity="month", periods=3)
    assert [p.expected_collections for p in report.periods] == [D("130.50"), D("500.00"), D("0.00")]
    assert report.beyond_collections == D("40.00")
    assert report.days_to_pay == {"late": 30.0}


def test_bad_arguments():
    with pytest.raises(ValueError):
        build_forecast([], [], [], today=TODAY, periods=0)


def test_csv_and_png():
    report = build_forecast([OpenOpportunity("a", D("10"), D("50"), TODAY)],
                            [OpenInvoice("1", "c", TODAY, D("2"))], [], today=TODAY, periods=2)
    assert to_csv(report).splitlines() == [
        "period_start,label,weighted_pipeline,expected_collections,total",
        "2026-03-01,2026-03,5.00,2.00,7.00", "2026-04-01,2026-04,0.00,0.00,0.00"]
    png = to_png(report, width=120, height=80)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    assert struct.unpack(">II", png[16:24]) == (120, 80)
    idat_len = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41:41 + idat_len])
    assert len(raw) == 80 * (1 + 120 * 3)

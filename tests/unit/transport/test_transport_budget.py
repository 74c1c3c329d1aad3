"""The daily allocation: Sforce-Limit-Info parsing and the reserve for urgent work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledgerbridge.core.errors import ConfigError, ErrorKind, QuotaExhausted
from ledgerbridge.core.records import Priority
from ledgerbridge.transport.budget import DailyAllocation, Usage, parse_limit_info


class FakeClock:
    def __init__(self) -> None:
        self.t = datetime(2024, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def test_parse_limit_info_reads_the_org_usage() -> None:
    # reference/salesforce-api.md §2.1
    assert parse_limit_info("api-usage=10018/100000") == [Usage("api-usage", 10018, 100000)]


def test_parse_limit_info_reads_the_per_app_usage() -> None:
    # reference/salesforce-api.md §2.1
    got = parse_limit_info("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)")
    assert got == [Usage("api-usage", 25, 5000),
                   Usage("per-app-api-usage", 17, 250, "sample-connected-app")]


@pytest.mark.parametrize("value", [None, "", "garbage", "api-usage=abc/def"])
def test_parse_limit_info_ignores_missing_or_garbled_values(value: str | None) -> None:
    assert parse_limit_info(value) == []


def test_nothing_reported_lets_every_priority_go() -> None:
    budget = DailyAllocation()
    for p in Priority:
        budget.check(p)


def test_background_work_stops_at_the_reserve_while_urgent_work_goes_on() -> None:
    budget = DailyAllocation(reserve_fraction=0.2, clock=FakeClock())
    budget.update_from_header("api-usage=79999/100000")
    for p in Priority:
        budget.check(p)
    budget.update_from_header("api-usage=80000/100000")
    for p in (Priority.BACKFILL, Priority.STATUS):
        with pytest.raises(QuotaExhausted) as info:
            budget.check(p)
        assert info.value.kind is ErrorKind.QUOTA
        assert "reserve" in str(info.value)
    budget.check(Priority.ORDER)
    budget.check(Priority.INTERACTIVE)


def test_a_spent_allocation_stops_even_urgent_work() -> None:
    budget = DailyAllocation(clock=FakeClock())
    budget.update_from_header("api-usage=15000/15000")
    for p in Priority:
        assert not budget.allows(p)


def test_the_binding_limit_is_the_per_app_one_when_it_is_closer() -> None:
    budget = DailyAllocation(reserve_fraction=0.2, clock=FakeClock())
    budget.update_from_header("api-usage=25/5000; per-app-api-usage=210/250(appName=x)")
    assert not budget.allows(Priority.BACKFILL)
    assert budget.allows(Priority.ORDER)


def test_a_stale_report_no_longer_blocks() -> None:
    clock = FakeClock()
    budget = DailyAllocation(stale_after_s=600, clock=clock)
    budget.update_from_header("api-usage=100/100")
    assert not budget.allows(Priority.ORDER)
    clock.t += timedelta(seconds=601)
    assert budget.allows(Priority.ORDER)


def test_snapshot_reports_the_org_usage_as_a_budget() -> None:
    budget = DailyAllocation(clock=FakeClock())
    budget.update_from_header("api-usage=25/5000; per-app-api-usage=17/250(appName=x)")
    snap = budget.snapshot()
    assert (snap.calls_used, snap.calls_limit, snap.calls_remaining) == (25, 5000, 4975)
    assert snap.extra["per-app-api-usage.limit"] == 250


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_reserve_fraction_outside_zero_to_one_is_a_config_error(fraction: float) -> None:
    with pytest.raises(ConfigError):
        DailyAllocation(reserve_fraction=fraction)

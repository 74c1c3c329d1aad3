"""The adaptive concurrency governor: AIMD limit, priority lanes, throttled retries.

No wall time: lanes are driven by yielding to the event loop, backoff by a fake clock.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ledgerbridge.core.errors import ConcurrencyLimited, ConfigError, ServerError
from ledgerbridge.core.records import Priority
from ledgerbridge.transport.governor import (
    AdaptiveGovernor,
    AimdPolicy,
    ConcurrencyGovernor,
    Lease,
    Outcome,
    ThrottleBackoff,
    call_governed,
)

pytestmark = pytest.mark.anyio


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def saturated_successes(gov: AdaptiveGovernor, n: int) -> None:
    """Complete ``n`` calls, each while every slot of the current limit is taken."""
    for _ in range(n):
        leases = [await gov.acquire(Priority.STATUS) for _ in range(gov.limit)]
        await gov.release(leases[0], Outcome.OK)
        for lease in leases[1:]:
            await gov.release(lease, Outcome.FAILED)


def test_governor_satisfies_the_protocol() -> None:
    assert isinstance(AdaptiveGovernor(3), ConcurrencyGovernor)
    with pytest.raises(ConfigError):
        AdaptiveGovernor(0)
    with pytest.raises(ConfigError):
        AimdPolicy(decrease_factor=1.0)


async def test_limit_starts_at_the_ceiling_and_caps_in_flight() -> None:
    gov = AdaptiveGovernor(3)
    leases = [await gov.acquire(Priority.ORDER) for _ in range(3)]
    waiter = asyncio.ensure_future(gov.acquire(Priority.ORDER))
    await settle()
    assert not waiter.done()
    assert gov.stats().in_flight == 3 and gov.stats().waiting[Priority.ORDER] == 1
    await gov.release(leases[0], Outcome.OK)
    await settle()
    assert waiter.done()
    assert gov.in_flight == 3


async def test_throttle_cuts_the_limit_multiplicatively_once_per_window() -> None:
    gov = AdaptiveGovernor(8)
    leases = [await gov.acquire(Priority.ORDER) for _ in range(8)]
    for lease in leases[:4]:  # four rejections from the same burst
        await gov.release(lease, Outcome.THROTTLED)
    stats = gov.stats()
    assert stats.limit == 6  # floor(8 * 0.75), cut once
    assert stats.n_throttled == 4 and stats.n_decreases == 1


async def test_limit_never_drops_below_one() -> None:
    gov = AdaptiveGovernor(5)
    for _ in range(10):
        lease = await gov.acquire(Priority.BACKFILL)
        await gov.release(lease, Outcome.THROTTLED)
    assert gov.limit == 1
    lease = await gov.acquire(Priority.BACKFILL)  # still serves
    await gov.release(lease, Outcome.OK)


async def test_additive_increase_after_sustained_saturated_success_up_to_the_ceiling() -> None:
    gov = AdaptiveGovernor(4, AimdPolicy(increase_after=5, initial_limit=2))
    await saturated_successes(gov, 4)
    assert gov.limit == 2
    await saturated_successes(gov, 1)
    assert gov.limit == 3
    await saturated_successes(gov, 50)
    assert gov.limit == 4  # the ceiling
    assert gov.stats().n_increases == 2


async def test_successes_without_saturation_do_not_raise_the_limit() -> None:
    gov = AdaptiveGovernor(4, AimdPolicy(increase_after=2, initial_limit=2))
    for _ in range(20):
        lease = await gov.acquire(Priority.STATUS)
        await gov.release(lease, Outcome.OK)
    assert gov.limit == 2


async def test_other_failures_are_neutral() -> None:
    gov = AdaptiveGovernor(4)
    for _ in range(10):
        lease = await gov.acquire(Priority.STATUS)
        await gov.release(lease, Outcome.FAILED)
    assert gov.limit == 4 and gov.stats().n_throttled == 0


async def test_probing_a_refused_level_backs_off_exponentially() -> None:
    gov = AdaptiveGovernor(5, AimdPolicy(increase_after=4, initial_limit=3))
    # climb to 4, get refused there -> back to 3
    await saturated_successes(gov, 4)
    assert gov.limit == 4
    lease = await gov.acquire(Priority.STATUS)
    await gov.release(lease, Outcome.THROTTLED)
    assert gov.limit == 3
    # the next probe of 4 needs 4 successes (first refusal of that level)
    await saturated_successes(gov, 4)
    assert gov.limit == 4
    lease = await gov.acquire(Priority.STATUS)
    await gov.release(lease, Outcome.THROTTLED)
    assert gov.limit == 3
    # refused again at the same level: twice as many successes before probing it
    await saturated_successes(gov, 7)
    assert gov.limit == 3
    await saturated_successes(gov, 1)
    assert gov.limit == 4
    # a full streak at 4 forgets the refusal and climbs on at the normal pace
    await saturated_successes(gov, 4)
    assert gov.limit == 5


async def test_throttles_of_calls_granted_before_a_cut_do_not_cut_again() -> None:
    gov = AdaptiveGovernor(5)
    old = [await gov.acquire(Priority.STATUS) for _ in range(5)]
    await gov.release(old[0], Outcome.THROTTLED)
    assert gov.limit == 3
    await gov.release(old[1], Outcome.THROTTLED)
    assert gov.limit == 3
    for lease in old[2:]:
        await gov.release(lease, Outcome.OK)
    fresh = await gov.acquire(Priority.STATUS)
    assert fresh.window != old[0].window
    await gov.release(fresh, Outcome.THROTTLED)
    assert gov.limit == 2


async def _run_lane_order(gov: AdaptiveGovernor, lanes: list[Priority]) -> list[Priority]:
    holder = await gov.acquire(Priority.INTERACTIVE)
    order: list[Priority] = []

    async def one(p: Priority) -> None:
        lease = await gov.acquire(p)
        order.append(p)
        await settle()
        await gov.release(lease, Outcome.OK)

    tasks = []
    for p in lanes:
        tasks.append(asyncio.ensure_future(one(p)))
        await settle()
    await gov.release(holder, Outcome.OK)
    await asyncio.gather(*tasks)
    return order


async def test_higher_lanes_are_served_first_when_contended() -> None:
    gov = AdaptiveGovernor(1)
    lanes = [Priority.BACKFILL, Priority.STATUS, Priority.INTERACTIVE, Priority.ORDER]
    order = await _run_lane_order(gov, lanes)
    assert order == [Priority.INTERACTIVE, Priority.ORDER, Priority.STATUS, Priority.BACKFILL]


async def test_backfill_still_progresses_but_gets_at_most_one_grant_in_ten() -> None:
    gov = AdaptiveGovernor(1, AimdPolicy(aging_every=10))
    lanes = [Priority.BACKFILL, Priority.BACKFILL] + [Priority.INTERACTIVE] * 25
    order = await _run_lane_order(gov, lanes)
    backfill_at = [i for i, p in enumerate(order) if p is Priority.BACKFILL]
    assert backfill_at == [9, 19]  # the 10th and 20th grants; interactive gets the other 9 of 10
    # a higher lane never waits behind more than one lower call in a row
    assert all(order[i + 1] is Priority.INTERACTIVE for i in backfill_at if i + 1 < 25)


async def test_cancelled_waiters_do_not_leak_slots() -> None:
    gov = AdaptiveGovernor(1)
    holder = await gov.acquire(Priority.ORDER)
    waiter = asyncio.ensure_future(gov.acquire(Priority.ORDER))
    await settle()
    waiter.cancel()
    await settle()
    await gov.release(holder, Outcome.OK)
    assert gov.in_flight == 0
    lease = await gov.acquire(Priority.ORDER)
    assert isinstance(lease, Lease)


async def test_set_ceiling_clamps_the_limit() -> None:
    gov = AdaptiveGovernor(10)
    gov.set_ceiling(3)
    assert (gov.limit, gov.ceiling) == (3, 3)
    with pytest.raises(ConfigError):
        gov.set_ceiling(0)


async def test_call_governed_retries_throttled_calls_after_backing_off() -> None:
    gov = AdaptiveGovernor(4)
    clock = FakeClock()
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConcurrencyLimited("pool full", status=429)
        return "done"

    result = await call_governed(gov, Priority.ORDER, flaky, clock=clock,
                                 backoff=ThrottleBackoff(base_s=0.1))
    assert result == "done" and attempts == 3
    assert len(clock.sleeps) == 2 and all(s > 0 for s in clock.sleeps)
    assert gov.in_flight == 0 and gov.stats().n_throttled == 2 and gov.limit < 4


async def test_call_governed_gives_up_after_max_attempts_and_passes_other_errors() -> None:
    gov = AdaptiveGovernor(2)
    clock = FakeClock()

    async def always_throttled() -> None:
        raise ConcurrencyLimited("pool full", status=429)

    with pytest.raises(ConcurrencyLimited):
        await call_governed(gov, Priority.ORDER, always_throttled, clock=clock,
                            backoff=ThrottleBackoff(max_attempts=3))
    assert len(clock.sleeps) == 2

    async def broken() -> None:
        raise ServerError("boom", status=500)

    with pytest.raises(ServerError):
        await call_governed(gov, Priority.ORDER, broken, clock=clock)
    assert gov.in_flight == 0


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    import random

    backoff = ThrottleBackoff(base_s=1.0, max_s=8.0, rng=random.Random(1))
    assert backoff.delay_s(3, retry_after_s=2.5) == 2.5
    first = [backoff.delay_s(1) for _ in range(50)]
    late = [backoff.delay_s(6) for _ in range(50)]
    assert max(first) <= 1.5 and max(late) <= 8.5
    assert sum(late) > sum(first)
    assert len(set(first)) > 1


def test_collector_exports_the_governor_state() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from ledgerbridge.transport.governor import GovernorCollector

    gov = AdaptiveGovernor(5)
    registry = CollectorRegistry()
    registry.register(GovernorCollector(gov, system="netsuite"))
    text = generate_latest(registry).decode()
    assert 'ledgerbridge_governor_limit{system="netsuite"} 5.0' in text
    assert 'ledgerbridge_governor_waiting{lane="backfill",system="netsuite"} 0.0' in text
    assert 'ledgerbridge_governor_throttled_total{system="netsuite"} 0.0' in text


async def test_raising_the_ceiling_moves_an_uncut_limit_but_not_a_cut_one() -> None:
    gov = AdaptiveGovernor(2)
    gov.set_ceiling(4)
    assert gov.limit == 4
    lease = await gov.acquire(Priority.STATUS)
    await gov.release(lease, Outcome.THROTTLED)
    assert gov.limit == 3
    gov.set_ceiling(6)
    assert gov.limit == 3

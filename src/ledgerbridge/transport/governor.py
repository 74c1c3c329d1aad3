"""The concurrency governor: one adaptive, prioritised limiter per NetSuite account (layer ``transport``).

Imports ``ledgerbridge.core`` only.

NetSuite governs by concurrency, not by rate: one pool of slots per account, shared by REST, SOAP
and RESTlets; a call beyond it is refused with ``429 CONCURRENCY_LIMIT_EXCEEDED`` and no
``Retry-After`` (reference/netsuite-api.md §7). Every NetSuite call of a process therefore goes
through one :class:`ConcurrencyGovernor`, built by the composition root and shared by all
connectors of that account.

The interface is deliberately small (:meth:`~ConcurrencyGovernor.acquire`,
:meth:`~ConcurrencyGovernor.release`, :meth:`~ConcurrencyGovernor.stats`) so a distributed
implementation (a PostgreSQL lease table, for scale-out workers) can replace
:class:`AdaptiveGovernor` without touching the callers; :func:`call_governed` is the loop every
caller uses on top of it; :class:`GovernorCollector` exports any governor's state to Prometheus.

:class:`AdaptiveGovernor` rules:

- **Limit (AIMD).** The limit starts at the ceiling (the configured share of the account's slots)
  and never leaves ``[1, ceiling]``. A throttled call (``ThrottledError``, including the errors
  NetSuite misreports under load) cuts it multiplicatively (``limit * decrease_factor``, at least
  one less) once per *window*: throttles of calls granted before the last cut are the same
  congestion event and do not cut again. After ``increase_after`` successful calls made while the
  limit was fully used, it grows by one (additive increase). Probing a level that was just refused
  waits twice as long each time it is refused again (up to ``max_probe_multiplier``), so
  rejections stay rare when another client holds part of the pool; one success streak at that
  level forgets the history.
- **Lanes.** Waiting calls queue by :class:`~ledgerbridge.core.records.Priority` (INTERACTIVE >
  ORDER > STATUS > BACKFILL). A free slot goes to the highest non-empty lane (strict priority),
  except that when lower lanes are waiting, every ``aging_every``-th grant goes to the oldest
  waiter among the lanes below the top one. So the highest waiting lane gets at least
  ``(aging_every - 1) / aging_every`` of the slots under contention, never waits behind more than
  one lower call in a row, and backfill still progresses.
- **Scale-out.** A PostgreSQL-backed governor for several worker processes would keep one row per
  account (limit, ceiling, window, counters) and one lease row per slot in use (worker, lane,
  expiry): ``acquire`` inserts a lease while ``count(leases) < limit`` under a row lock of the
  account (waiters served by lane, then age, with the same aging rule), ``release`` deletes it and
  applies the same AIMD step to the shared row, and expired leases free the slots of crashed
  workers. Callers would not change.
- **Throttled calls are retried, not dropped.** :func:`call_governed` releases the slot as
  throttled, backs off with full jitter on the injected clock, and queues again, up to
  ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar, runtime_checkable

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ledgerbridge.core.errors import ConfigError, ThrottledError
from ledgerbridge.core.ports import Clock, SystemClock
from ledgerbridge.core.records import Priority

T = TypeVar("T")

_log = structlog.get_logger("ledgerbridge.transport.governor")


class Outcome(StrEnum):
    """How a governed call ended, as far as the governor cares."""

    OK = "ok"
    THROTTLED = "throttled"  # the pool was full (or NetSuite said so in another way)
    FAILED = "failed"  # any other failure: neutral for the limit


@dataclass(frozen=True, slots=True)
class Lease:
    """One granted slot; hand it back to :meth:`ConcurrencyGovernor.release` exactly once."""

    id: int
    priority: Priority
    window: int  # the limit window the slot was granted in


@dataclass(frozen=True, slots=True)
class GovernorStats:
    """A snapshot for ``budget()`` and metrics."""

    limit: int
    ceiling: int
    in_flight: int
    waiting: Mapping[Priority, int]
    n_granted: int
    n_throttled: int
    n_increases: int
    n_decreases: int


@runtime_checkable
class ConcurrencyGovernor(Protocol):
    """What callers need from a concurrency limiter (in-process now, distributed later)."""

    async def acquire(self, priority: Priority) -> Lease:
        """Wait for a slot in ``priority``'s lane."""
        ...

    async def release(self, lease: Lease, outcome: Outcome) -> None:
        """Give the slot back and report how the call ended."""
        ...

    def stats(self) -> GovernorStats:
        """Current limit, in-flight and waiting counts, and throttle counters."""
        ...

    def set_ceiling(self, ceiling: int) -> None:
        """Change the share of the pool this governor may use (for example from governanceLimits)."""
        ...


@dataclass(frozen=True, slots=True)
class AimdPolicy:
    """Tuning of :class:`AdaptiveGovernor`.

    Attributes:
        decrease_factor: Multiplicative cut on a throttle (the new limit is at least one lower).
        increase_after: Successful calls at full use of the limit before the limit grows by one.
        max_probe_multiplier: Cap of the doubling of ``increase_after`` when the same level keeps
            being refused.
        aging_every: Under contention, every n-th grant goes to the oldest lower-lane waiter.
        initial_limit: Starting limit; the ceiling when None.
    """

    decrease_factor: float = 0.75
    increase_after: int = 40
    max_probe_multiplier: int = 32
    aging_every: int = 10
    initial_limit: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.decrease_factor < 1.0:
            raise ConfigError("decrease_factor must be between 0 and 1")
        if self.increase_after < 1 or self.max_probe_multiplier < 1 or self.aging_every < 2:
            raise ConfigError("increase_after and max_probe_multiplier must be >= 1, aging_every >= 2")


@dataclass(slots=True)
class _Waiter:
    seq: int
    priority: Priority
    future: asyncio.Future[Lease]


class AdaptiveGovernor:
    """In-process AIMD concurrency limiter with priority lanes (see the module docstring).

    Not thread-safe: use it from one event loop (the connectors' loop).

    Args:
        ceiling: The share of the account's slots this process may use (the maximum limit).
        policy: AIMD and lane tuning.
        name: The account or pool this governor guards (in log events).
        on_change: Called with fresh stats after every limit change (metrics hook).
    """

    floor = 1

    def __init__(self, ceiling: int, policy: AimdPolicy | None = None, *, name: str = "netsuite",
                 on_change: Callable[[GovernorStats], None] | None = None) -> None:
        if ceiling < 1:
            raise ConfigError("the concurrency ceiling must be at least 1")
        self.policy = policy or AimdPolicy()
        self.name = name
        self._ceiling = ceiling
        start = self.policy.initial_limit or ceiling
        self._limit = max(self.floor, min(ceiling, start))
        self._in_flight = 0
        self._lanes: dict[Priority, deque[_Waiter]] = {p: deque() for p in Priority}
        self._seq = itertools.count()
        self._lease_ids = itertools.count(1)
        self._window = 0
        self._successes = 0
        self._refused_level: int | None = None
        self._probe_multiplier = 1
        self._passed_over = 0
        self._on_change = on_change
        self.n_granted = 0
        self.n_throttled = 0
        self.n_increases = 0
        self.n_decreases = 0

    # -- public surface -------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """Current concurrency limit."""
        return self._limit

    @property
    def ceiling(self) -> int:
        """Upper bound of the limit."""
        return self._ceiling

    @property
    def in_flight(self) -> int:
        """Slots currently held."""
        return self._in_flight

    def set_ceiling(self, ceiling: int) -> None:
        """Change the ceiling; an uncut limit follows it, a cut one is clamped into the new range.

        Args:
            ceiling: New maximum, at least 1.

        Raises:
            ConfigError: When ``ceiling`` is below 1.
        """
        if ceiling < 1:
            raise ConfigError("the concurrency ceiling must be at least 1")
        at_ceiling = self._limit >= self._ceiling
        self._ceiling = ceiling
        # A limit that was not cut follows the ceiling; a cut one climbs back by AIMD.
        self._limit = max(self.floor, ceiling if at_ceiling else min(self._limit, ceiling))
        self._changed()
        self._dispatch()

    def stats(self) -> GovernorStats:
        """A snapshot of limit, usage and counters."""
        return GovernorStats(
            limit=self._limit, ceiling=self._ceiling, in_flight=self._in_flight,
            # Lanes hold live waiters only: granted ones are popped, cancelled ones removed.
            waiting={p: len(lane) for p, lane in self._lanes.items()},
            n_granted=self.n_granted, n_throttled=self.n_throttled,
            n_increases=self.n_increases, n_decreases=self.n_decreases)

    async def acquire(self, priority: Priority) -> Lease:
        """Wait for a slot in ``priority``'s lane.

        Args:
            priority: The caller's lane.

        Returns:
            The lease to release when the call is over.
        """
        if self._in_flight < self._limit and not self._has_waiters():
            return self._grant(priority)
        future: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(next(self._seq), priority, future)
        self._lanes[priority].append(waiter)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Granted and cancelled in the same tick: hand the slot straight back.
                self._release_slot()
            else:
                try:
                    self._lanes[priority].remove(waiter)
                except ValueError:
                    pass
            raise

    async def release(self, lease: Lease, outcome: Outcome) -> None:
        """Give a slot back, adapt the limit, and wake the next waiter.

        Args:
            lease: What :meth:`acquire` returned.
            outcome: How the call ended.
        """
        saturated = self._in_flight >= self._limit or self._has_waiters()
        if outcome is Outcome.THROTTLED:
            self._on_throttle(lease)
        elif outcome is Outcome.OK and saturated and lease.window == self._window:
            self._on_success()
        self._release_slot()

    # -- AIMD -----------------------------------------------------------------------------

    def _on_throttle(self, lease: Lease) -> None:
        self.n_throttled += 1
        if lease.window != self._window:
            return  # same congestion event as an earlier cut
        refused = self._limit
        if self._refused_level is not None and refused >= self._refused_level:
            self._probe_multiplier = min(self.policy.max_probe_multiplier, self._probe_multiplier * 2)
        else:
            self._probe_multiplier = 1
        self._refused_level = refused
        cut = min(self._limit - 1, math.floor(self._limit * self.policy.decrease_factor))
        new_limit = max(self.floor, cut)
        self._window += 1
        self._successes = 0
        if new_limit != self._limit:
            _log.info("governor.limit.cut", name=self.name, limit=new_limit, refused_at=refused,
                      throttled=self.n_throttled)
            self._limit = new_limit
            self.n_decreases += 1
            self._changed()

    def _on_success(self) -> None:
        self._successes += 1
        needed = self.policy.increase_after
        if self._refused_level is not None and self._limit + 1 == self._refused_level:
            # About to probe the level that was refused last: wait longer each time it is refused.
            needed *= self._probe_multiplier
        if self._successes < needed:
            return
        self._successes = 0
        if self._refused_level is not None and self._limit >= self._refused_level:
            # A full streak at the level that was refused: that refusal was a passing event.
            self._refused_level = None
            self._probe_multiplier = 1
        if self._limit < self._ceiling:
            self._limit += 1
            self._window += 1
            self.n_increases += 1
            _log.debug("governor.limit.raised", name=self.name, limit=self._limit)
            self._changed()
            self._dispatch()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.stats())

    # -- slots and lanes ------------------------------------------------------------------

    def _has_waiters(self) -> bool:
        return any(lane for lane in self._lanes.values())

    def _grant(self, priority: Priority) -> Lease:
        self._in_flight += 1
        self.n_granted += 1
        return Lease(next(self._lease_ids), priority, self._window)

    def _release_slot(self) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._in_flight < self._limit:
            waiter = self._next_waiter()
            if waiter is None:
                return
            waiter.future.set_result(self._grant(waiter.priority))

    def _next_waiter(self) -> _Waiter | None:
        for lane in self._lanes.values():
            while lane and lane[0].future.done():  # cancelled while queued
                lane.popleft()
        waiting = [p for p in Priority if self._lanes[p]]
        if not waiting:
            return None
        top, lower = waiting[0], waiting[1:]
        if not lower:
            self._passed_over = 0
            return self._lanes[top].popleft()
        self._passed_over += 1
        if self._passed_over < self.policy.aging_every:
            return self._lanes[top].popleft()
        self._passed_over = 0
        oldest = min(lower, key=lambda p: self._lanes[p][0].seq)
        return self._lanes[oldest].popleft()


@dataclass(frozen=True, slots=True)
class ThrottleBackoff:
    """How long a throttled call waits before it queues again (full jitter, growing).

    Oracle's advice (reference/netsuite-api.md §7): delay the first retry, grow the delay, and
    do not line retries up across threads; NetSuite sends no ``Retry-After``.

    Attributes:
        base_s: First delay ceiling.
        max_s: Largest delay ceiling.
        max_attempts: Attempts of one call in all before the throttle error is raised.
        rng: Jitter source (seeded in tests).
    """

    base_s: float = 0.1
    max_s: float = 10.0
    max_attempts: int = 15
    rng: random.Random = field(default_factory=random.Random)

    def delay_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Delay after throttled attempt number ``attempt`` (1-based)."""
        if retry_after_s is not None:
            return retry_after_s
        ceiling = min(self.max_s, self.base_s * 2 ** max(0, attempt - 1))
        return self.base_s / 2 + self.rng.uniform(0.0, ceiling)


async def call_governed(governor: ConcurrencyGovernor, priority: Priority,
                        call: Callable[[], Awaitable[T]], *, clock: Clock | None = None,
                        backoff: ThrottleBackoff | None = None,
                        is_throttle: Callable[[BaseException], bool] | None = None) -> T:
    """Run ``call`` holding a slot; retry it after a backoff when it is throttled.

    Args:
        governor: The account's governor.
        priority: Lane of the call.
        call: Makes one attempt (a fresh request each time).
        clock: Where backoff sleeps happen (a fake one in tests).
        backoff: Delay and attempt policy for throttled attempts.
        is_throttle: Decides whether an exception is throttling; default: ``ThrottledError``.

    Returns:
        What ``call`` returned.

    Raises:
        ThrottledError: Still throttled after ``backoff.max_attempts`` attempts.
        Exception: Whatever ``call`` raised otherwise (the slot is released as failed).
    """
    clock = clock or SystemClock()
    backoff = backoff or ThrottleBackoff()
    throttled = is_throttle or (lambda exc: isinstance(exc, ThrottledError))
    attempt = 0
    while True:
        attempt += 1
        lease = await governor.acquire(priority)
        try:
            result = await call()
        except BaseException as exc:
            if isinstance(exc, Exception) and throttled(exc):
                await governor.release(lease, Outcome.THROTTLED)
                if attempt >= backoff.max_attempts:
                    raise
                retry_after = getattr(exc, "retry_after_s", None)
                await clock.sleep(backoff.delay_s(attempt, retry_after if isinstance(
                    retry_after, int | float) else None))
                continue
            await governor.release(lease, Outcome.FAILED)
            raise
        await governor.release(lease, Outcome.OK)
        return result


class GovernorCollector(Collector):
    """Prometheus view of a governor: limit, ceiling, in flight, waiting, throttles.

    Register it on the registry the dashboard exports, once per governor:
    ``registry.register(GovernorCollector(governor, system="netsuite"))``.

    Args:
        governor: The governor to read (its :meth:`~ConcurrencyGovernor.stats` on every scrape).
        system: Value of the ``system`` label.
    """

    def __init__(self, governor: ConcurrencyGovernor, *, system: str) -> None:
        self._governor = governor
        self._system = system

    def collect(self) -> list[Metric]:
        """One sample per metric, read from a fresh snapshot."""
        stats = self._governor.stats()
        labels = ["system"]
        gauges: list[Metric] = []
        for name, doc, value in (
            ("ledgerbridge_governor_limit", "Current adaptive concurrency limit.", stats.limit),
            ("ledgerbridge_governor_ceiling", "Configured share of the account's slots.", stats.ceiling),
            ("ledgerbridge_governor_in_flight", "Calls holding a slot.", stats.in_flight),
        ):
            gauge = GaugeMetricFamily(name, doc, labels=labels)
            gauge.add_metric([self._system], value)
            gauges.append(gauge)
        waiting = GaugeMetricFamily("ledgerbridge_governor_waiting", "Calls waiting for a slot, by lane.",
                                    labels=["system", "lane"])
        for lane, n in stats.waiting.items():
            waiting.add_metric([self._system, lane.name.lower()], n)
        gauges.append(waiting)
        throttled = CounterMetricFamily("ledgerbridge_governor_throttled", "Calls the system throttled.",
                                        labels=labels)
        throttled.add_metric([self._system], stats.n_throttled)
        gauges.append(throttled)
        return gauges

"""The long-running loop: link triggers (interval, cron), pushed changes, graceful stop (layer ``engine``).

Each trigger of a link keeps its own schedule: ``interval`` triggers fire at start and then every
interval (measured from the scheduled time, so passes do not drift); ``cron`` triggers fire at their
next matching minute (UTC). A link is due at its earliest firing; a firing of a ``full: true``
trigger first moves the link's change feeds back to the beginning, so that pass re-reads every
record in scope. ``push`` triggers are served by the intake, so a link whose only triggers are push
polls at the default interval (the safety net). Due links run together in one pass, parents first;
:meth:`Scheduler.run_soon` makes links due now (a catch-up). Between passes the loop works off the
intake (pushed ids) and sleeps on the injected clock until the next due time, waking early on
:meth:`Scheduler.stop` or when a change is pushed. ``stop()`` is graceful: the pass in progress
finishes and its state is committed before :meth:`Scheduler.run` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from ledgerbridge.core.ports import Clock
from ledgerbridge.core.records import System, Watermark
from ledgerbridge.engine import events
from ledgerbridge.engine.runner import CHANGES, Engine, SyncSummary
from ledgerbridge.flows.cron import CronSchedule
from ledgerbridge.flows.spec import TriggerSpec

__all__ = ["Scheduler", "next_fire"]

_BEGINNING = Watermark(datetime(1970, 1, 1, tzinfo=UTC))


def next_fire(trigger: TriggerSpec, after: datetime) -> datetime:
    """The next time ``trigger`` fires strictly after ``after``."""
    if trigger.interval is not None:
        return after + timedelta(seconds=trigger.interval)
    if trigger.cron is None:
        raise ValueError("a push trigger has no schedule")
    return CronSchedule.parse(trigger.cron).next_after(after)


class Scheduler:
    """Runs an engine's links on their triggers until stopped.

    Args:
        engine: the engine.
        clock: time source (defaults to the engine's); a manual clock makes the loop run instantly.
        idle_s: longest sleep between checks of the intake.
        default_interval_s: run links without triggers this often (None: only on demand/pushed).
        on_summary: called after each pass with its summary.
    """

    def __init__(self, engine: Engine, *, clock: Clock | None = None, idle_s: float = 5.0,
                 default_interval_s: float | None = None,
                 on_summary: Callable[[SyncSummary], None] | None = None) -> None:
        self.engine = engine
        self.clock = clock or engine.clock
        self.idle_s = idle_s
        self.default_interval_s = default_interval_s
        self.on_summary = on_summary
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self.n_passes = 0
        self.next_due: dict[str, datetime] = {}
        self.full_due: set[str] = set()  # links whose next due firing is a full pass
        self._fires: dict[str, list[tuple[datetime, bool]]] = {}  # per link: each trigger's (next, full)

    def stop(self) -> None:
        """Ask the loop to end after the pass in progress (safe from a signal handler)."""
        self._stop.set()

    @property
    def is_stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def run_soon(self, names: list[str]) -> None:
        """Make these links due now (a catch-up after missed pushes) and wake the loop."""
        now = self.clock.now()
        for name in names:
            if name in self.engine.specs:
                self.next_due[name] = min(self.next_due.get(name, now), now)
        self._wake.set()

    def _triggers(self, name: str) -> list[TriggerSpec]:
        spec = self.engine.specs[name]
        timed = [t for t in spec.triggers if t.push is None]
        if timed:
            return timed
        if self.default_interval_s is not None:
            return [TriggerSpec(interval=self.default_interval_s)]
        return []

    def _due(self, name: str) -> None:
        """``next_due`` is the earliest of the link's trigger firings; a full one at that time wins."""
        fires = self._fires.get(name, [])
        if not fires:
            self.next_due.pop(name, None)
            self.full_due.discard(name)
            return
        first = min(at for at, _ in fires)
        self.next_due[name] = first
        if any(full for at, full in fires if at == first):
            self.full_due.add(name)
        else:
            self.full_due.discard(name)

    def _schedule(self, now: datetime) -> None:
        for name in self.engine.order():
            if name in self._fires:
                continue
            asked = self.next_due.get(name)  # run_soon before the loop started
            self._fires[name] = [(now if t.interval is not None else next_fire(t, now), t.full)
                                 for t in self._triggers(name)]
            self._due(name)
            if asked is not None and (name not in self.next_due or asked < self.next_due[name]):
                self.next_due[name] = asked
                self.full_due.discard(name)

    def _reschedule(self, name: str, scheduled: datetime, now: datetime) -> None:
        """Move on every trigger of ``name`` that has fired by ``scheduled`` (each keeps its own
        schedule, so a 15-minute trigger fires every 15 minutes next to a 5-minute one)."""
        fires: list[tuple[datetime, bool]] = []
        for t, (at, full) in zip(self._triggers(name), self._fires.get(name, []), strict=False):
            if at <= scheduled:
                if t.interval is not None:
                    at += timedelta(seconds=t.interval)
                    while at <= now:
                        at += timedelta(seconds=t.interval)
                else:
                    at = next_fire(t, now)
            fires.append((at, full))
        self._fires[name] = fires
        self._due(name)

    async def _rewind(self, names: list[str]) -> None:
        """Move the change feeds of ``names`` back to the beginning (a full pass follows)."""
        async with self.engine.store.transaction():
            for name in names:
                for system in System:
                    await self.engine.store.set_watermark(name, system, CHANGES, _BEGINNING)

    async def run(self, *, max_passes: int | None = None) -> None:
        """Loop until :meth:`stop` (or ``max_passes`` passes, for tests and one-shot runs)."""
        self._schedule(self.clock.now())
        while not self._stop.is_set():
            if len(self.engine.intake):
                await self._guard(self.engine.process_intake())
            now = self.clock.now()
            due = [n for n, t in self.next_due.items() if t <= now]
            if due:
                full = [n for n in due if n in self.full_due]
                events.log(events.SCHEDULER_TICK, links=due, at=now.isoformat(), full=full)
                scheduled = {n: self.next_due[n] for n in due}
                if full:
                    await self._rewind(full)
                await self._guard(self.engine.sync(due))
                self.n_passes += 1
                after = self.clock.now()
                for n in due:
                    self._reschedule(n, scheduled[n], after)
                if max_passes is not None and self.n_passes >= max_passes:
                    break
                continue
            wait = self.idle_s
            if self.next_due:
                wait = min(wait, max(0.0, (min(self.next_due.values()) - now).total_seconds()))
            await self._sleep(wait)
        events.log(events.SCHEDULER_STOPPED, passes=self.n_passes)

    async def _guard(self, work: Awaitable[SyncSummary]) -> None:
        try:
            summary = await work
        except Exception as exc:  # a failed pass must not end the loop; the next trigger retries
            events.log(events.LINK_FAILED, error=type(exc).__name__, message=str(exc))
            return
        if self.on_summary is not None:
            self.on_summary(summary)

    async def _sleep(self, seconds: float) -> None:
        if self._wake.is_set():
            self._wake.clear()
            return
        stop = asyncio.ensure_future(self._stop.wait())
        woken = asyncio.ensure_future(self._wake.wait())
        nap = asyncio.ensure_future(self.clock.sleep(seconds))
        pushed = asyncio.ensure_future(self.engine.intake.wait(seconds)) if seconds > 0 else None
        waiting = [f for f in (stop, woken, nap, pushed) if f is not None]
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wake.clear()
            for f in waiting:
                if not f.done():
                    f.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await f

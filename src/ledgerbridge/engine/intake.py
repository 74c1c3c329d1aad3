"""Intake of pushed changes (webhooks, CDC, outbound messages): ids only, level-triggered (layer ``engine``).

Whatever the source says about a change, the engine only learns *which record to look at*; it always
fetches the current state itself (:meth:`ledgerbridge.engine.runner.Engine.process_intake`). So a
change may arrive twice, late or out of order without harm. Duplicates waiting in the queue collapse
into one entry.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from ledgerbridge.core.records import Change, ChangeKind, System
from ledgerbridge.engine import events

__all__ = ["Intake"]


class Intake:
    """A de-duplicating queue of :class:`~ledgerbridge.core.records.Change` hints."""

    def __init__(self, *, max_size: int = 100_000) -> None:
        self._queue: OrderedDict[tuple[System, str, str], Change] = OrderedDict()
        self._max_size = max_size
        self.n_dropped = 0
        self._event: asyncio.Event | None = None

    def submit(self, change: Change) -> bool:
        """Queue a change; False when the queue is full (the caller should fall back to polling).

        A delete hint replaces an upsert hint for the same record and vice versa: either way the
        engine reads the record's current state.
        """
        key = (change.system, change.object, change.id)
        if key not in self._queue and len(self._queue) >= self._max_size:
            self.n_dropped += 1
            return False
        self._queue[key] = change
        events.log(events.INTAKE_SUBMITTED, system=change.system.value, object=change.object, id=change.id,
                   kind=change.kind.value, source=change.source)
        if self._event is not None:
            self._event.set()
        return True

    def drain(self, limit: int = 10_000) -> list[Change]:
        """Take up to ``limit`` changes, oldest first."""
        out: list[Change] = []
        while self._queue and len(out) < limit:
            _, change = self._queue.popitem(last=False)
            out.append(change)
        if not self._queue and self._event is not None:
            self._event.clear()
        return out

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def has_deletes(self) -> bool:
        """True when a delete hint is waiting."""
        return any(c.kind is ChangeKind.DELETE for c in self._queue.values())

    async def wait(self, timeout_s: float) -> bool:
        """Wait until something is queued or ``timeout_s`` passes (real time; the scheduler uses its
        clock for everything else). True when something is queued."""
        if self._queue:
            return True
        if self._event is None:
            self._event = asyncio.Event()
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            return bool(self._queue)
        return True

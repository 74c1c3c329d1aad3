"""Time sources for the sandbox: the system clock, and a manual clock tests move by hand.

Layer: leaf; standard library only. Every timestamp the sandbox writes (lastModifiedDate, TBA
timestamp checks, token expiry, aging of invoices, async job completion) reads the injected clock,
so tests never sleep.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time (timezone-aware, UTC)."""

    def now(self) -> datetime:
        """Return the current time."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """Return the current UTC time, to the microsecond."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (thread-safe)."""

    def __init__(self, start: datetime | None = None) -> None:
        """Create the clock.

        Args:
            start: initial time (naive values are taken as UTC); default 2025-06-02 09:00:00Z.
        """
        start = start or datetime(2025, 6, 2, 9, 0, 0, tzinfo=UTC)
        self._now = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0.0, *, days: float = 0.0) -> datetime:
        """Move the clock forward.

        Args:
            seconds: seconds to add.
            days: days to add.

        Returns:
            The new time.
        """
        with self._lock:
            self._now += timedelta(seconds=seconds, days=days)
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to a given time (naive values are taken as UTC)."""
        with self._lock:
            self._now = when if when.tzinfo else when.replace(tzinfo=UTC)

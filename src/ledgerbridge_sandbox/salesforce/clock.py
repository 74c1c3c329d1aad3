"""Time source of the Salesforce sandbox (domain layer; imports only the standard library).

Everything time-dependent in the emulator (record stamps, token expiry, the rolling API
window, change-event retention, SOQL date literals) reads the time from one ``Clock`` so that
tests can freeze or move it instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """The real time, optionally shifted by an offset (``advance`` moves it forward)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or backward, with a negative value).

        Args:
            seconds: how far to move.
        """
        self._offset += timedelta(seconds=seconds)


class ManualClock(Clock):
    """A clock that only moves when told to: for tests.

    Args:
        start: the initial time (aware, or naive meaning UTC).
    """

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        start = start or datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
        self._now = start if start.tzinfo else start.replace(tzinfo=UTC)

    def now(self) -> datetime:
        """Return the frozen time."""
        return self._now + self._offset

    def set(self, when: datetime) -> None:
        """Jump to a given time.

        Args:
            when: the new time (aware, or naive meaning UTC).
        """
        self._now = when if when.tzinfo else when.replace(tzinfo=UTC)
        self._offset = timedelta(0)

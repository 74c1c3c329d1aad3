"""Daily API allocations with a reserve for urgent work (layer ``transport``; imports core only).

Salesforce reports its rolling-24-hour allocation on every REST response in the
``Sforce-Limit-Info`` header (``api-usage=N/M``, optionally ``; per-app-api-usage=n/m(appName=x)``;
reference/salesforce-api.md §2.1). :class:`DailyAllocation` keeps the last report and answers,
before each call, whether that call may spend from it: background work (``Priority.STATUS`` and
``Priority.BACKFILL``) stops once only the reserve (default 20 %) is left, while
``Priority.INTERACTIVE`` and ``Priority.ORDER`` may spend the reserve. Nothing may go once the
allocation is fully spent (the vendor would answer 403 ``REQUEST_LIMIT_EXCEEDED`` anyway).

The reported value is approximate and the window rolls, so a report older than
``stale_after_s`` no longer blocks: the next call goes through and brings a fresh one.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from datetime import datetime

from ledgerbridge.core.errors import ConfigError, QuotaExhausted
from ledgerbridge.core.ports import Clock, SystemClock
from ledgerbridge.core.records import Budget, Priority

_USAGE = re.compile(r"(?P<name>[a-z-]+)=(?P<used>\d+)/(?P<limit>\d+)(?:\((?P<extra>[^)]*)\))?", re.I)

URGENT = frozenset({Priority.INTERACTIVE, Priority.ORDER})
"""Priorities that may spend the reserve."""


@dataclass(frozen=True, slots=True)
class Usage:
    """One ``name=used/limit`` entry of a limit header."""

    name: str
    used: int
    limit: int
    app: str | None = None

    @property
    def fraction_used(self) -> float:
        """Share of the allocation spent (1.0 when the limit is zero)."""
        return 1.0 if self.limit <= 0 else self.used / self.limit


def parse_limit_info(value: str | None) -> list[Usage]:
    """Parse a ``Sforce-Limit-Info`` header value.

    Args:
        value: For example ``api-usage=25/5000; per-app-api-usage=17/250(appName=sample-app)``.

    Returns:
        One :class:`Usage` per entry (empty when absent or unparseable).
    """
    if not value:
        return []
    out: list[Usage] = []
    for m in _USAGE.finditer(value):
        extra = m.group("extra") or ""
        app = extra.partition("=")[2] or None if extra.lower().startswith("appname=") else None
        out.append(Usage(m.group("name").lower(), int(m.group("used")), int(m.group("limit")), app))
    return out


class DailyAllocation:
    """The last-reported daily allocation of one connection, and the reserve rule.

    Thread- and task-safe for the simple reads and writes it does.
    """

    def __init__(self, *, system: str = "salesforce", reserve_fraction: float = 0.2,
                 stale_after_s: float = 900.0, clock: Clock | None = None) -> None:
        """Create an allocation with nothing reported yet (every call may go).

        Args:
            system: For error messages.
            reserve_fraction: Share of the allocation kept for urgent priorities (0 to 1).
            stale_after_s: Age after which a report no longer blocks calls.
            clock: Injected time source.

        Raises:
            ConfigError: ``reserve_fraction`` is outside 0..1.
        """
        if not 0.0 <= reserve_fraction <= 1.0 or math.isnan(reserve_fraction):
            raise ConfigError(f"reserve_fraction must be between 0 and 1, got {reserve_fraction}")
        self.system = system
        self.reserve_fraction = reserve_fraction
        self.stale_after_s = stale_after_s
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._usage: dict[str, Usage] = {}
        self._observed_at: datetime | None = None

    def observe(self, used: int, limit: int, *, name: str = "api-usage") -> None:
        """Record a report of ``used`` calls out of ``limit``."""
        with self._lock:
            self._usage[name] = Usage(name, used, limit)
            self._observed_at = self._clock.now()

    def update_from_header(self, value: str | None) -> bool:
        """Record what a ``Sforce-Limit-Info`` header says.

        Args:
            value: The header value, or None when the response had none.

        Returns:
            True when the header carried at least one usage entry.
        """
        entries = parse_limit_info(value)
        if not entries:
            return False
        with self._lock:
            for entry in entries:
                self._usage[entry.name] = entry
            self._observed_at = self._clock.now()
        return True

    def mark_exhausted(self) -> None:
        """Record that the system refused a call because the allocation is spent.

        Until a newer report arrives (or this one goes stale), no priority may call.
        """
        with self._lock:
            usage = self._usage.get("api-usage")
            limit = usage.limit if usage is not None and usage.limit > 0 else 1
            self._usage["api-usage"] = Usage("api-usage", limit, limit)
            self._observed_at = self._clock.now()

    def _binding(self) -> Usage | None:
        # The entry closest to its limit decides (per-app caps can bind before the org's).
        live = [u for u in self._usage.values() if u.limit > 0]
        return max(live, key=lambda u: u.fraction_used) if live else None

    def _is_fresh(self) -> bool:
        if self._observed_at is None:
            return False
        return (self._clock.now() - self._observed_at).total_seconds() <= self.stale_after_s

    def check(self, priority: Priority) -> None:
        """Raise when a call of ``priority`` must not spend from the allocation now.

        Args:
            priority: The lane of the call about to be made.

        Raises:
            QuotaExhausted: Background work has reached the reserve, or the allocation is spent.
        """
        with self._lock:
            usage = self._binding()
            if usage is None or not self._is_fresh():
                return
            remaining = usage.limit - usage.used
            if remaining <= 0:
                raise QuotaExhausted(
                    f"{self.system} daily API allocation spent ({usage.name} {usage.used}/{usage.limit}); "
                    "wait for the rolling 24 h window or raise the org's limit", system=self.system,
                    code="RESERVE_EXHAUSTED")
            reserve = usage.limit * self.reserve_fraction
            if priority not in URGENT and remaining <= reserve:
                raise QuotaExhausted(
                    f"{self.system} daily API allocation down to its reserve ({usage.name} "
                    f"{usage.used}/{usage.limit}, reserve {self.reserve_fraction:.0%}): {priority.name} "
                    "work paused until the window frees up; orders and interactive calls still go",
                    system=self.system, code="RESERVE_REACHED")

    def allows(self, priority: Priority) -> bool:
        """True when :meth:`check` would let a call of ``priority`` through."""
        try:
            self.check(priority)
        except QuotaExhausted:
            return False
        return True

    def snapshot(self) -> Budget:
        """The allocation as a :class:`~ledgerbridge.core.records.Budget` (for ``budget()``)."""
        with self._lock:
            main = self._usage.get("api-usage") or self._binding()
            extra: dict[str, float] = {"reserve_fraction": self.reserve_fraction}
            for u in self._usage.values():
                if u is not main:
                    extra[f"{u.name}.used"] = float(u.used)
                    extra[f"{u.name}.limit"] = float(u.limit)
            return Budget(calls_used=main.used if main else None,
                          calls_limit=main.limit if main else None, extra=extra)

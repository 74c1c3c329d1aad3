"""API limits, fault injection and the request log of the Salesforce sandbox.

Domain layer; imports the clock and the config only.

- ``ApiUsage``: the daily (rolling 24 h) API request counter behind ``Sforce-Limit-Info`` and
  ``REQUEST_LIMIT_EXCEEDED`` (reference §2.1, §2.2).
- ``FaultInjector``: decides, with a seeded random generator, which calls are slowed down or
  fail (503, UNABLE_TO_LOCK_ROW), so tests are deterministic.
- ``RequestLog``: counts calls per method, route template and status; benchmarks read it to
  count API calls.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from typing import Any

from ledgerbridge_sandbox.salesforce.clock import Clock
from ledgerbridge_sandbox.salesforce.config import Faults

_WINDOW_S = 24 * 3600
_BUCKET_S = 60


class ApiUsage:
    """Rolling 24-hour API call counter in one-minute buckets.

    Args:
        clock: the sandbox clock.
        allocation: calls allowed per rolling 24 hours.
    """

    def __init__(self, clock: Clock, allocation: int) -> None:
        self.clock = clock
        self.allocation = allocation
        self._buckets: deque[list[int]] = deque()  # [minute, count]
        self._total = 0

    def _expire(self, minute: int) -> None:
        oldest = minute - _WINDOW_S // _BUCKET_S
        while self._buckets and self._buckets[0][0] <= oldest:
            self._total -= self._buckets.popleft()[1]

    def _minute(self) -> int:
        return int(self.clock.now().timestamp()) // _BUCKET_S

    @property
    def used(self) -> int:
        """Calls counted in the last 24 hours."""
        self._expire(self._minute())
        return self._total

    @property
    def remaining(self) -> int:
        """Calls left in the window (never negative)."""
        return max(0, self.allocation - self.used)

    def exhausted(self) -> bool:
        """Whether the allocation is spent."""
        return self.used >= self.allocation

    def count(self, n: int = 1) -> None:
        """Count ``n`` calls now."""
        minute = self._minute()
        self._expire(minute)
        if self._buckets and self._buckets[-1][0] == minute:
            self._buckets[-1][1] += n
        else:
            self._buckets.append([minute, n])
        self._total += n

    def set_used(self, used: int) -> None:
        """Replace the window's count with ``used`` calls made now (admin/testing)."""
        self._buckets.clear()
        self._total = 0
        if used:
            self.count(used)

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` value, e.g. ``api-usage=18/15000``."""
        return f"api-usage={self.used}/{self.allocation}"


class FaultInjector:
    """Latency and failure decisions driven by ``Faults`` and a seeded random generator.

    Args:
        faults: the knobs (mutable at runtime through the admin API).
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)

    def reseed(self, seed: int) -> None:
        """Restart the random sequence from ``seed``."""
        self.faults.seed = seed
        self.rng = random.Random(seed)

    def latency_s(self) -> float:
        """Delay to add to this call, in seconds."""
        jitter = self.faults.latency_jitter_ms
        if jitter is not None:
            return self.rng.uniform(jitter[0], jitter[1]) / 1000.0
        return self.faults.latency_ms / 1000.0

    def server_error(self) -> bool:
        """Whether this call fails with 503."""
        rate = self.faults.server_error_rate
        return rate > 0 and self.rng.random() < rate

    def lock_row(self) -> bool:
        """Whether this record write fails with UNABLE_TO_LOCK_ROW."""
        rate = self.faults.lock_row_rate
        return rate > 0 and self.rng.random() < rate

    def as_json(self) -> dict[str, Any]:
        """The knobs as the admin API shows them."""
        f = self.faults
        return {
            "latency_ms": f.latency_ms,
            "latency_jitter_ms": list(f.latency_jitter_ms) if f.latency_jitter_ms else None,
            "server_error_rate": f.server_error_rate,
            "lock_row_rate": f.lock_row_rate,
            "seed": f.seed,
        }


class RequestLog:
    """Counts of API calls by method, route template and status."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, int]] = Counter()

    def add(self, method: str, route: str, status: int) -> None:
        """Count one call."""
        self.counts[(method, route, status)] += 1

    def clear(self) -> None:
        """Forget every count."""
        self.counts.clear()

    @property
    def total(self) -> int:
        """All calls counted."""
        return sum(self.counts.values())

    def as_json(self) -> dict[str, Any]:
        """``{"total": n, "requests": [{"method","route","status","count"}, ...]}``."""
        rows = [
            {"method": m, "route": r, "status": s, "count": c} for (m, r, s), c in sorted(self.counts.items())
        ]
        return {"total": self.total, "requests": rows}

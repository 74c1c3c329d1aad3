"""A small five-field cron parser for link triggers (layer ``flows``; standard library only).

``minute hour day-of-month month day-of-week`` in UTC, each field ``*``, ``n``, ``a-b``, ``a,b``,
``*/k`` or ``a-b/k``; day-of-week 0–6 with 0 (or 7) = Sunday; ``@hourly``, ``@daily``, ``@weekly``,
``@monthly`` shortcuts. As in Vixie cron, when both day fields are restricted a day matches either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["CronSchedule"]

_ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
            "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
            "@annually": "0 0 1 1 *"}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")


def _field(text: str, lo: int, hi: int, name: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"cron {name}: bad step {step_text!r}")
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            x, _, y = rng.partition("-")
            if not (x.isdigit() and y.isdigit()):
                raise ValueError(f"cron {name}: bad range {rng!r}")
            a, b = int(x), int(y)
        elif rng.isdigit():
            a = int(rng)
            b = hi if step else a
        else:
            raise ValueError(f"cron {name}: bad value {rng!r}")
        if not (lo <= a <= hi and lo <= b <= hi and a <= b):
            raise ValueError(f"cron {name}: {rng!r} is outside {lo}-{hi}")
        out.update(range(a, b + 1, step or 1))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed cron expression."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_restricted: bool
    weekday_restricted: bool

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        """Parse ``text``.

        Raises:
            ValueError: with what is wrong.
        """
        expr = _ALIASES.get(text.strip().lower(), text)
        parts = expr.split()
        if len(parts) != 5:
            raise ValueError(f"cron needs 5 fields (minute hour day month weekday), got {text!r}")
        sets = [_field(p, lo, hi, n) for p, (lo, hi), n in zip(parts, _BOUNDS, _NAMES, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] != "*", parts[4] != "*")

    def _day_matches(self, at: datetime) -> bool:
        if at.month not in self.months:
            return False
        dom = at.day in self.days
        dow = (at.weekday() + 1) % 7 in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return dom or dow
        return dom and dow

    def matches(self, at: datetime) -> bool:
        """True when ``at`` (to the minute) is a firing time."""
        return at.minute in self.minutes and at.hour in self.hours and self._day_matches(at)

    def next_after(self, at: datetime) -> datetime:
        """The first firing time strictly after ``at`` (same time zone as ``at``).

        Raises:
            ValueError: no firing time within five years (e.g. 30 February).
        """
        t = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for _ in range(366 * 5 + 1):
            if self._day_matches(t):
                for h in hours:
                    if h < t.hour:
                        continue
                    for m in minutes:
                        if h == t.hour and m < t.minute:
                            continue
                        return t.replace(hour=h, minute=m)
            t = (t + timedelta(days=1)).replace(hour=0, minute=0)
        raise ValueError("the cron expression never fires")

"""SOQL date literals (``TODAY``, ``LAST_N_DAYS:n`` ...) as inclusive date ranges.

Pure functions; standard library only. Ranges follow "Date Formats and Date Literals in WHERE"
(reference §4): weeks start on Sunday (en_US), the fiscal year equals the calendar year (the
org's fiscal year starts in January), ``LAST_N_DAYS:n`` runs from midnight n days ago up to and
including today, ``NEXT_N_DAYS:n`` from tomorrow for n days. The running user's time zone is UTC.
"""

from __future__ import annotations

from datetime import date, timedelta

_FIXED = {
    "YESTERDAY",
    "TODAY",
    "TOMORROW",
    "LAST_WEEK",
    "THIS_WEEK",
    "NEXT_WEEK",
    "LAST_MONTH",
    "THIS_MONTH",
    "NEXT_MONTH",
    "LAST_90_DAYS",
    "NEXT_90_DAYS",
    "THIS_QUARTER",
    "LAST_QUARTER",
    "NEXT_QUARTER",
    "THIS_YEAR",
    "LAST_YEAR",
    "NEXT_YEAR",
    "THIS_FISCAL_QUARTER",
    "LAST_FISCAL_QUARTER",
    "NEXT_FISCAL_QUARTER",
    "THIS_FISCAL_YEAR",
    "LAST_FISCAL_YEAR",
    "NEXT_FISCAL_YEAR",
}
_WITH_N = {
    "LAST_N_DAYS",
    "NEXT_N_DAYS",
    "N_DAYS_AGO",
    "LAST_N_WEEKS",
    "NEXT_N_WEEKS",
    "N_WEEKS_AGO",
    "LAST_N_MONTHS",
    "NEXT_N_MONTHS",
    "N_MONTHS_AGO",
    "LAST_N_QUARTERS",
    "NEXT_N_QUARTERS",
    "N_QUARTERS_AGO",
    "LAST_N_YEARS",
    "NEXT_N_YEARS",
    "N_YEARS_AGO",
    "LAST_N_FISCAL_QUARTERS",
    "NEXT_N_FISCAL_QUARTERS",
    "N_FISCAL_QUARTERS_AGO",
    "LAST_N_FISCAL_YEARS",
    "NEXT_N_FISCAL_YEARS",
    "N_FISCAL_YEARS_AGO",
}


def takes_n(name: str) -> bool | None:
    """``True`` if the literal needs ``:n``, ``False`` if it must not have one, ``None`` if unknown."""
    if name in _WITH_N:
        return True
    if name in _FIXED:
        return False
    return None


def _month_start(d: date, shift: int = 0) -> date:
    index = d.year * 12 + d.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def _quarter_start(d: date, shift: int = 0) -> date:
    first = date(d.year, (d.month - 1) // 3 * 3 + 1, 1)
    return _month_start(first, 3 * shift)


def _week_start(d: date) -> date:
    return d - timedelta(days=(d.weekday() + 1) % 7)  # Sunday


def _before(d: date) -> date:
    return d - timedelta(days=1)


def literal_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """The inclusive ``(first, last)`` day a date literal stands for.

    Args:
        name: the literal in upper case, e.g. ``LAST_N_DAYS``.
        n: its ``:n`` argument, if any.
        today: the current day of the running user.

    Returns:
        The first and last day of the range.

    Raises:
        ValueError: unknown literal.
    """
    name = name.replace("_FISCAL", "")
    k = n or 0
    if name == "TODAY":
        return today, today
    if name == "YESTERDAY":
        return _before(today), _before(today)
    if name == "TOMORROW":
        t = today + timedelta(days=1)
        return t, t
    if name in {"LAST_N_DAYS", "LAST_90_DAYS"}:
        days = 90 if name == "LAST_90_DAYS" else k
        return today - timedelta(days=days), today
    if name in {"NEXT_N_DAYS", "NEXT_90_DAYS"}:
        days = 90 if name == "NEXT_90_DAYS" else k
        return today + timedelta(days=1), today + timedelta(days=days)
    if name == "N_DAYS_AGO":
        d = today - timedelta(days=k)
        return d, d
    week = _week_start(today)
    if name in {"THIS_WEEK", "LAST_WEEK", "NEXT_WEEK", "N_WEEKS_AGO"}:
        shift = {"THIS_WEEK": 0, "LAST_WEEK": -1, "NEXT_WEEK": 1}.get(name, -k)
        start = week + timedelta(days=7 * shift)
        return start, start + timedelta(days=6)
    if name == "LAST_N_WEEKS":
        return week - timedelta(days=7 * k), _before(week)
    if name == "NEXT_N_WEEKS":
        return week + timedelta(days=7), week + timedelta(days=7 * (k + 1) - 1)
    if name in {"THIS_MONTH", "LAST_MONTH", "NEXT_MONTH", "N_MONTHS_AGO"}:
        shift = {"THIS_MONTH": 0, "LAST_MONTH": -1, "NEXT_MONTH": 1}.get(name, -k)
        return _month_start(today, shift), _before(_month_start(today, shift + 1))
    if name == "LAST_N_MONTHS":
        return _month_start(today, -k), _before(_month_start(today))
    if name == "NEXT_N_MONTHS":
        return _month_start(today, 1), _before(_month_start(today, k + 1))
    if name in {"THIS_QUARTER", "LAST_QUARTER", "NEXT_QUARTER", "N_QUARTERS_AGO"}:
        shift = {"THIS_QUARTER": 0, "LAST_QUARTER": -1, "NEXT_QUARTER": 1}.get(name, -k)
        return _quarter_start(today, shift), _before(_quarter_start(today, shift + 1))
    if name == "LAST_N_QUARTERS":
        return _quarter_start(today, -k), _before(_quarter_start(today))
    if name == "NEXT_N_QUARTERS":
        return _quarter_start(today, 1), _before(_quarter_start(today, k + 1))
    if name in {"THIS_YEAR", "LAST_YEAR", "NEXT_YEAR", "N_YEARS_AGO"}:
        shift = {"THIS_YEAR": 0, "LAST_YEAR": -1, "NEXT_YEAR": 1}.get(name, -k)
        return date(today.year + shift, 1, 1), date(today.year + shift, 12, 31)
    if name == "LAST_N_YEARS":
        return date(today.year - k, 1, 1), date(today.year - 1, 12, 31)
    if name == "NEXT_N_YEARS":
        return date(today.year + 1, 1, 1), date(today.year + k, 12, 31)
    raise ValueError(name)

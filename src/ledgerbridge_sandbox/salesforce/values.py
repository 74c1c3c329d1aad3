"""Wire formats of Salesforce values: datetimes, dates and times in and out (reference §10.2).

Out: ``2024-01-01T00:00:00.000+0000`` (always UTC, no colon in the offset), ``2024-01-01``.
In: any ISO-8601 datetime (``Z``, ``+00:00``, ``+0000``, with or without fractions).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?$"
)
_TIME_RE = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?Z?$")


def format_datetime(dt: datetime) -> str:
    """Format a datetime the way Salesforce returns it."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def format_date(d: date) -> str:
    """Format a date as ``YYYY-MM-DD``."""
    return d.isoformat()


def parse_datetime(text: str) -> datetime | None:
    """Parse an ISO-8601 datetime (a bare date means midnight UTC); ``None`` when invalid."""
    m = _DT_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        dt = datetime(int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0), micro)
    except ValueError:
        return None
    if tz in (None, "Z"):
        return dt.replace(tzinfo=UTC)
    sign = 1 if tz[0] == "+" else -1
    digits = tz[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)


def parse_date(text: str) -> date | None:
    """Parse ``YYYY-MM-DD`` (a datetime string is truncated to its date); ``None`` when invalid."""
    if not isinstance(text, str):
        return None
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    dt = parse_datetime(text)
    return dt.date() if dt else None


def parse_time(text: str) -> str | None:
    """Normalise a time of day to ``HH:mm:ss.SSSZ``; ``None`` when invalid."""
    m = _TIME_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    hh, mm, ss, frac = m.groups()
    if int(hh) > 23 or int(mm) > 59 or int(ss or 0) > 59:
        return None
    return f"{hh}:{mm}:{ss or '00'}.{(frac or '0')[:3].ljust(3, '0')}Z"


def canonical_datetime(text: str) -> str | None:
    """Re-format any accepted datetime text to the Salesforce output form."""
    dt = parse_datetime(text)
    return format_datetime(dt) if dt else None


def epoch_ms(dt: datetime) -> int:
    """Milliseconds since the Unix epoch."""
    return int(dt.timestamp() * 1000)

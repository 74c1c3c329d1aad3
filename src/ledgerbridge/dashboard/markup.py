"""Escape-by-default HTML building (layer ``dashboard``; no imports).

Every value put into a page goes through :func:`render` or :func:`esc`, which escape it unless it
is already :class:`Safe` (built by these functions). Record names, payloads and error messages come
from two external systems, so nothing is ever concatenated into HTML raw.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from string import Template
from urllib.parse import urlencode

__all__ = ["Safe", "attrs", "esc", "fmt_json", "join", "money", "query", "render"]


class Safe(str):
    """A string that is already valid, escaped HTML."""

    __slots__ = ()


def esc(value: object) -> Safe:
    """``value`` as HTML text (quotes escaped too, so it is safe in attributes)."""
    if isinstance(value, Safe):
        return value
    if value is None:
        return Safe("")
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M UTC")
    elif isinstance(value, date):
        value = value.isoformat()
    return Safe(html.escape(str(value), quote=True))


def render(template: str, /, **values: object) -> Safe:
    """Fill a ``string.Template`` (``$name``) with escaped values; ``Safe`` values go in as they are."""
    return Safe(Template(template).substitute({k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[Safe], sep: str = "") -> Safe:
    """Concatenate already-safe fragments."""
    return Safe(sep.join(parts))


def attrs(**values: object) -> Safe:
    """HTML attributes: ``False``/``None`` are left out, ``True`` is a bare attribute, ``_`` → ``-``."""
    out = []
    for key, value in values.items():
        name = key.rstrip("_").replace("_", "-")
        if value is None or value is False:
            continue
        out.append(name if value is True else f'{name}="{esc(value)}"')
    return Safe(" ".join(out))


def query(**params: object) -> str:
    """A URL query string from the non-empty parameters (``?a=1&b=2``, or ``""``)."""
    kept = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


def fmt_json(value: object) -> str:
    """A JSON value as indented text (for ``<pre>`` and text areas; escape when rendering)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def money(value: Decimal | float | int) -> str:
    """``1234567.5`` → ``1,234,567.50``."""
    return f"{Decimal(str(value)):,.2f}"

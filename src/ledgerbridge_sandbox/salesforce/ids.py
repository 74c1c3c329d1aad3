"""Salesforce record ids: key prefixes, the 15/18-character forms and the case-safe checksum.

The checksum rule (reference §10.1, verified against published vectors): split the 15-char id
into three 5-char chunks; for each, set bit *i* when the chunk's *i*-th char is an upper-case
letter; map the 5-bit number through ``A-Z0-5``.
"""

from __future__ import annotations

import re

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
# Two characters after the key prefix stand for the pod/instance, then a reserved "0".
_POD = "Hp0"


def checksum(id15: str) -> str:
    """Return the 3-character case-safe suffix of a 15-character id."""
    out = []
    for chunk in range(3):
        bits = 0
        for pos, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << pos
        out.append(_SUFFIX[bits])
    return "".join(out)


def to18(id15: str) -> str:
    """Return the 18-character form of a 15-character id."""
    return id15 + checksum(id15)


def normalize(value: str) -> str | None:
    """Return the canonical 18-character id for a 15- or 18-character id, else ``None``.

    An 18-character id whose suffix does not match its first 15 characters is rejected, as
    Salesforce does.
    """
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return to18(value)
    head = value[:15]
    return to18(head) if checksum(head) == value[15:].upper() else None


def base62(n: int, width: int) -> str:
    """Encode ``n`` in base 62, left-padded with zeros to ``width`` characters."""
    chars = []
    while n:
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    return "".join(reversed(chars)).rjust(width, "0")


def make_id(prefix: str, sequence: int) -> str:
    """Build an 18-character id from a 3-character key prefix and a sequence number."""
    return to18(prefix + _POD + base62(sequence, 9))


def custom_prefix(index: int) -> str:
    """Key prefix for the ``index``-th custom object (``a00``, ``a01`` ... ``a0z``, ``a10`` ...)."""
    return "a" + base62(index, 2)

"""Named, pure field transforms usable from YAML (``transform: phone``) and in matching (layer ``flows``).

Imports only the standard library. Every function takes a JSON value and returns one; ``None`` and
empty strings come back as ``None`` so "no value" compares equal however a system spells it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

from ledgerbridge.core.records import JsonValue

__all__ = [
    "TRANSFORMS",
    "normalise_domain",
    "normalise_email",
    "normalise_name",
    "normalise_phone",
    "normalise_tax_id",
    "normalise_text",
]

_LEGAL_SUFFIXES = {
    "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company", "gmbh",
    "ag", "sa", "sas", "sarl", "bv", "nv", "plc", "pty", "srl", "spa", "oy", "ab", "as", "kk", "lp", "llp",
}
_DOMAIN_PREFIXES = ("www.", "www2.", "m.")


def _text(value: JsonValue) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def normalise_text(value: JsonValue) -> str | None:
    """Trim, collapse inner whitespace, case-fold (for exact key comparison)."""
    text = _text(value)
    return " ".join(text.split()).casefold() if text else None


def normalise_email(value: JsonValue) -> str | None:
    """``' John.Doe@Example.COM '`` → ``'john.doe@example.com'``; not an address → None."""
    text = _text(value)
    if not text:
        return None
    text = text.lower()
    if text.startswith("mailto:"):
        text = text[7:]
    return text if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else None


def normalise_domain(value: JsonValue) -> str | None:
    """The registrable-looking host of a URL or e-mail: ``https://www.Acme.com/x`` → ``acme.com``."""
    text = _text(value)
    if not text:
        return None
    text = text.lower()
    if "@" in text and "://" not in text:
        host = text.rsplit("@", 1)[1]
    else:
        try:
            host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
        except ValueError:  # e.g. an unbalanced IPv6 bracket
            return None
    host = host.strip(".")
    for prefix in _DOMAIN_PREFIXES:
        if host.startswith(prefix):
            host = host[len(prefix):]
    return host if "." in host else None


def normalise_phone(value: JsonValue, default_country: str = "1") -> str | None:
    """E.164: ``(415) 555-0100`` → ``+14155550100``; ``+44 20 7946 0958`` → ``+442079460958``.

    Numbers without a country code get ``default_country`` (NANP ``1`` by default) when they have
    ten digits; ``00`` international prefixes become ``+``; extensions (``x123``, ``ext. 9``) are
    dropped. Anything with fewer than 7 digits is not a phone number (None).
    """
    text = _text(value)
    if not text:
        return None
    text = re.split(r"(?i)\s*(?:ext\.?|x|#)\s*\d+\s*$", text)[0]
    plus = text.lstrip().startswith("+")
    digits = re.sub(r"\D", "", text)
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True
    if len(digits) < 7:
        return None
    if plus:
        return f"+{digits}"
    if len(digits) == 10 and default_country == "1":
        return f"+1{digits}"
    if len(digits) == 11 and digits.startswith("1") and default_country == "1":
        return f"+{digits}"
    if digits.startswith("0"):
        digits = digits.lstrip("0")
    return f"+{default_country}{digits}"


def normalise_tax_id(value: JsonValue) -> str | None:
    """Upper-case letters and digits only: ``'de 123.456-789'`` → ``'DE123456789'``."""
    text = _text(value)
    if not text:
        return None
    cleaned = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    return cleaned or None


def normalise_name(value: JsonValue) -> str | None:
    """A company or person name for fuzzy comparison: accents, punctuation and legal suffixes removed.

    ``'Acme Corp., Inc.'`` → ``'acme'``; ``'Müller GmbH'`` → ``'muller'``.
    """
    text = _text(value)
    if not text:
        return None
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ")
    words = re.sub(r"[^\w\s]", " ", text).split()
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(words) or None


def _upper(value: JsonValue) -> JsonValue:
    return value.upper() if isinstance(value, str) else value


def _lower(value: JsonValue) -> JsonValue:
    return value.lower() if isinstance(value, str) else value


def _trim(value: JsonValue) -> JsonValue:
    if isinstance(value, str):
        return value.strip() or None
    return value


def _phone(value: JsonValue) -> JsonValue:
    return normalise_phone(value)


TRANSFORMS: dict[str, Callable[[JsonValue], JsonValue]] = {
    "upper": _upper,
    "lower": _lower,
    "trim": _trim,
    "text": normalise_text,
    "email": normalise_email,
    "domain": normalise_domain,
    "phone": _phone,
    "tax_id": normalise_tax_id,
    "name": normalise_name,
}
"""Transforms by the name used in YAML (``transform:`` on a field, ``normalise:`` on a match key)."""

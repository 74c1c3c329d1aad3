"""Redaction of secrets from log events, URLs and error messages (layer ``core``; pure).

Used by the transport (every log line and exception about a request) and by the logging
configuration (a structlog processor). Keys are matched by name; values by shape (bearer
tokens, OAuth signatures, JWTs, passwords in URLs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar, cast

REDACTED = "***"

_SECRET_KEY = re.compile(
    r"(pass(?!es|ed|ing|age|ive)|secret|token|authorization|signature|assertion|api[_-]?key|private[_-]?key|"
    r"session[_-]?id|cookie|credential)",
    re.IGNORECASE,
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=!\-]+"), rf"\1 {REDACTED}"),
    (re.compile(r"(?i)\b(basic)\s+[A-Za-z0-9+/=]+"), rf"\1 {REDACTED}"),
    (re.compile(r'(?i)(oauth_(?:signature|token|consumer_key|nonce)\s*=\s*)"?[^",&\s]+"?'),
     rf"\1{REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),  # JWTs
    (re.compile(r"(?i)([?&](?:access_token|refresh_token|client_secret|password|code|assertion|"
                r"client_assertion|token|sig|signature)=)[^&#\s]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{20,}"), REDACTED),  # Salesforce session ids
    (re.compile(r'(?i)("?(?:password|client_secret|token_secret|consumer_secret|access_token|'
                r'refresh_token|security_token)"?\s*[:=]\s*)"[^"]*"'), rf'\1"{REDACTED}"'),
)

T = TypeVar("T")


def is_secret_key(key: str) -> bool:
    """True when a mapping key names a secret (``password``, ``client_secret``, ``Authorization``...)."""
    return bool(_SECRET_KEY.search(key))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove secret-shaped substrings and the given literal secrets from text."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact(value: T, secrets: tuple[str, ...] = ()) -> T:
    """Redact a log value recursively: secret keys are masked, strings are scrubbed."""
    return cast(T, _redact(value, secrets))


def _redact(value: object, secrets: tuple[str, ...]) -> object:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, Mapping):
        return {k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v not in (None, "")
                    else _redact(v, secrets)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_redact(v, secrets) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value

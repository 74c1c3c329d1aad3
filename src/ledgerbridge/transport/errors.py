"""The boundary where httpx exceptions become LedgerBridge errors (layer ``transport``; imports core).

Like httpx's ``map_httpcore_exceptions``, one context manager, :func:`map_transport_errors`,
rewrites every ``httpx2`` exception raised while sending into the most specific
:class:`~ledgerbridge.core.errors.ConnectorError`, with a redacted URL and no secrets in the
message. Vendor error tables (``connectors/<x>/errors.py``) handle answered requests; the generic
:func:`kind_for_status` here is their fallback for statuses they do not list.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx2

from ledgerbridge.core.errors import ConfigError, ErrorKind, ProtocolError, TransportError
from ledgerbridge.core.redaction import REDACTED, is_secret_key, redact_text


class ConnectFailed(TransportError):
    """The connection could not be opened (or no pooled one freed up): the request never left.

    Safe to retry even for non-idempotent requests.
    """


class TLSVerificationError(ConnectFailed):
    """The server certificate could not be verified: retrying will not help; fix ``ca_file``."""

    kind = ErrorKind.CONFIG


def redact_url(url: str | httpx2.URL, secrets: tuple[str, ...] = ()) -> str:
    """Return ``url`` without user info and with secret-looking query values masked.

    Args:
        url: The URL to clean.
        secrets: Literal secret values to mask wherever they appear.

    Returns:
        A string safe to log or put in an exception message.
    """
    try:
        parsed = httpx2.URL(str(url))
    except (httpx2.InvalidURL, TypeError, ValueError):
        return redact_text(str(url), secrets)
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    if parsed.query:
        params = [(k, REDACTED if is_secret_key(k) else v) for k, v in parsed.params.multi_items()]
        parsed = parsed.copy_with(params=params)
    return redact_text(str(parsed), secrets)


def _is_tls_verification(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def transport_error_from(exc: httpx2.HTTPError, *, system: str, operation: str,
                         url: str | httpx2.URL | None = None,
                         secrets: tuple[str, ...] = ()) -> Exception:
    """Translate one httpx exception into the LedgerBridge error it stands for.

    Args:
        exc: What httpx raised.
        system: ``salesforce`` or ``netsuite`` (for logs and metrics).
        operation: The connector operation (``query``, ``upsert``...).
        url: The request URL; taken from ``exc.request`` when omitted.
        secrets: Literal secrets to mask in the message.

    Returns:
        A :class:`TransportError` (transient; :class:`ConnectFailed` when the request never
        left), :class:`TLSVerificationError`,
        :class:`ProtocolError` (undecodable response) or :class:`ConfigError` (bad URL/scheme).
    """
    if url is None:
        try:
            url = exc.request.url
        except RuntimeError:  # the exception was raised without a request attached
            url = None
    safe_url = redact_url(url, secrets) if url is not None else None
    detail = redact_text(str(exc) or type(exc).__name__, secrets)
    where = f" {safe_url}" if safe_url else ""
    if isinstance(exc, httpx2.UnsupportedProtocol | httpx2.InvalidURL):
        return ConfigError(f"{system} {operation}: bad URL{where}: {detail}; check the configured host")
    if isinstance(exc, httpx2.DecodingError | httpx2.TooManyRedirects):
        return ProtocolError(f"{system} {operation}: undecodable response from{where}: {detail}",
                             system=system, operation=operation, url=safe_url)
    if _is_tls_verification(exc):
        return TLSVerificationError(
            f"{system} {operation}: TLS certificate of{where} not trusted ({detail}); set ca_file to the "
            "CA bundle of your proxy or sandbox", system=system, operation=operation, url=safe_url)
    # A failure while connecting or waiting for a pooled connection means the request never
    # left; anything later may have reached the server (matters for non-idempotent POSTs).
    cls = (ConnectFailed if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout)
           else TransportError)
    if isinstance(exc, httpx2.TimeoutException):
        return cls(f"{system} {operation}: {type(exc).__name__} calling{where}",
                   system=system, operation=operation, url=safe_url)
    return cls(f"{system} {operation}: {type(exc).__name__} calling{where}: {detail}",
               system=system, operation=operation, url=safe_url)


@contextmanager
def map_transport_errors(*, system: str, operation: str, url: str | httpx2.URL | None = None,
                         secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """Re-raise any ``httpx2.HTTPError`` inside the block as the matching LedgerBridge error.

    Args:
        system: ``salesforce`` or ``netsuite``.
        operation: The connector operation, for messages and metrics.
        url: The request URL (redacted before use).
        secrets: Literal secrets to mask in messages.

    Yields:
        Nothing; wrap the ``send`` call.

    Raises:
        ConnectFailed: The connection could not be opened; the request was not sent.
        TransportError: Timeouts, resets: the request may have reached the server.
        TLSVerificationError: The certificate is not trusted.
        ProtocolError: The response could not be decoded.
        ConfigError: The URL or scheme is invalid.
    """
    try:
        yield
    except httpx2.HTTPError as exc:
        raise transport_error_from(exc, system=system, operation=operation, url=url,
                                   secrets=secrets) from None


# Generic HTTP status -> kind; vendor tables override per error code.
_STATUS_KINDS: dict[int, ErrorKind] = {
    400: ErrorKind.RECORD,
    401: ErrorKind.AUTH,
    403: ErrorKind.ACCESS,
    404: ErrorKind.NOT_FOUND,
    405: ErrorKind.CONFIG,
    408: ErrorKind.TRANSIENT,
    409: ErrorKind.RECORD,
    412: ErrorKind.RECORD,
    415: ErrorKind.CONFIG,
    422: ErrorKind.RECORD,
    425: ErrorKind.TRANSIENT,
    429: ErrorKind.THROTTLED,
}


def kind_for_status(status: int) -> ErrorKind:
    """The generic :class:`ErrorKind` for an HTTP status when no vendor code says more.

    Args:
        status: The HTTP status code of a failed response.

    Returns:
        TRANSIENT for 5xx, 408 and 425; THROTTLED for 429; AUTH, ACCESS, NOT_FOUND for 401, 403,
        404; CONFIG for 405/415; RECORD for the other 4xx; PROTOCOL for anything else.
    """
    if status >= 500:
        return ErrorKind.TRANSIENT
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    if 400 <= status < 500:
        return ErrorKind.RECORD
    return ErrorKind.PROTOCOL


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header (RFC 9110 §10.2.3): delta-seconds or an HTTP date.

    Args:
        value: The header value, or None.
        now: The current time (for the HTTP-date form); defaults to the real UTC time.

    Returns:
        Seconds to wait (never negative), or None when absent or unparseable.
    """
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())

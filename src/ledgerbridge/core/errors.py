"""The one error tree of LedgerBridge (layer ``core``; imports nothing).

```
LedgerBridgeError                                   kind attribute; attrs() for structured logs
├── ConfigError (ValueError)                 bad settings or flow YAML; terminal
│   ├── FlowSpecError                        all validation problems collected, not the first one
│   └── MappingSpecError
├── ConnectorError                           carries system, operation, request_id, url (redacted)
│   ├── TransportError                       transient: timeouts, connection reset, TLS
│   ├── RemoteError                          the vendor answered with a failure
│   │   ├── AuthError                        terminal until re-auth (401, INVALID_SESSION_ID, INVALID_LOGIN)
│   │   ├── AccessDenied (PermissionError)   terminal (403 without a limit code, INSUFFICIENT_ACCESS)
│   │   ├── ThrottledError                   transient, retry_after
│   │   │   ├── ConcurrencyLimited           NetSuite 429 / CONCURRENCY_LIMIT_EXCEEDED
│   │   │   └── RateLimited                  request-rate limits
│   │   ├── QuotaExhausted                   Salesforce daily allocation spent; wait for the window
│   │   ├── NotFound (LookupError)
│   │   ├── AmbiguousKey                     Salesforce 300 on external id, NetSuite duplicate externalId
│   │   ├── ServerError                      transient (5xx, UNABLE_TO_LOCK_ROW, RCRD_HAS_BEEN_CHANGED)
│   │   └── RequestRejected                  terminal for this payload (400 MALFORMED_QUERY, ...)
│   └── ProtocolError                        a response we cannot parse; terminal, file a bug
└── EngineError
    ├── StateStoreError
    ├── WatermarkError                       non-monotonic cursor, clock skew beyond tolerance
    └── ConflictUnresolved                   policy says "review"; record parked, run continues
```

Per-record failures inside a batch are values (``WriteResult.error``), not exceptions.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """How a failure should be handled; drives the retry policy and the dead-letter queue."""

    TRANSIENT = "transient"  # retry with backoff
    THROTTLED = "throttled"  # slow down (governor), then retry
    QUOTA = "quota"  # allocation spent: stop non-urgent work until the window moves
    AUTH = "auth"  # re-authenticate once, then pause the flow
    ACCESS = "access"  # permissions: terminal
    NOT_FOUND = "not_found"
    AMBIGUOUS = "ambiguous"  # more than one record matches a key
    RECORD = "record"  # validation / bad reference / duplicate: this record only, terminal
    PROTOCOL = "protocol"  # unparseable response: terminal
    CONFIG = "config"  # our configuration is wrong: terminal

    @property
    def is_retryable(self) -> bool:
        """True for kinds that a later attempt of the same call may cure."""
        return self in {ErrorKind.TRANSIENT, ErrorKind.THROTTLED}


class LedgerBridgeError(Exception):
    """Root of every error LedgerBridge raises."""

    kind: ErrorKind = ErrorKind.PROTOCOL

    def attrs(self) -> dict[str, object]:
        """Structured fields for logs (never secrets)."""
        return {"error": type(self).__name__, "kind": str(self.kind), "message": str(self)}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.attrs().items() if k not in {"error"})
        return f"{type(self).__name__}({fields})"


class ConfigError(LedgerBridgeError, ValueError):
    """Bad settings or configuration file; terminal."""

    kind = ErrorKind.CONFIG


class FlowSpecError(ConfigError):
    """Configuration validation found one or more problems; ``problems`` lists them all."""

    def __init__(self, problems: list[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        n = len(self.problems)
        super().__init__(f"{head}{n} problem{'s' if n != 1 else ''}:\n" + "\n".join(
            f"  - {p}" for p in self.problems))

    def attrs(self) -> dict[str, object]:
        """Structured fields for logs."""
        return {**super().attrs(), "problems": self.problems}


class MappingSpecError(ConfigError):
    """A field mapping or expression cannot work."""


class ConnectorError(LedgerBridgeError):
    """A call to an external system failed."""

    kind = ErrorKind.TRANSIENT

    def __init__(self, message: str, *, system: str = "", operation: str = "",
                 request_id: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.system = system
        self.operation = operation
        self.request_id = request_id
        self.url = url

    def attrs(self) -> dict[str, object]:
        """Structured fields for logs (the URL is already redacted by the transport)."""
        return {**super().attrs(), "system": self.system, "operation": self.operation,
                "request_id": self.request_id, "url": self.url}


class TransportError(ConnectorError):
    """Timeouts, connection resets, TLS failures: transient."""

    kind = ErrorKind.TRANSIENT


class RemoteError(ConnectorError):
    """The vendor answered with a failure; ``status`` and the vendor's ``code`` are kept."""

    kind = ErrorKind.RECORD

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 retry_after_s: float | None = None, system: str = "", operation: str = "",
                 request_id: str | None = None, url: str | None = None) -> None:
        super().__init__(message, system=system, operation=operation, request_id=request_id, url=url)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s

    def attrs(self) -> dict[str, object]:
        """Structured fields for logs."""
        return {**super().attrs(), "status": self.status, "code": self.code,
                "retry_after_s": self.retry_after_s}


class AuthError(RemoteError):
    """Credentials rejected or session expired: re-authenticate once, then stop."""

    kind = ErrorKind.AUTH


class AccessDenied(RemoteError, PermissionError):
    """The integration user lacks a permission."""

    kind = ErrorKind.ACCESS


class ThrottledError(RemoteError):
    """The system asks us to slow down; ``retry_after_s`` when it says for how long."""

    kind = ErrorKind.THROTTLED


class ConcurrencyLimited(ThrottledError):
    """NetSuite rejected a call because the account's concurrency pool is full."""


class RateLimited(ThrottledError):
    """A request-rate limit was hit."""


class QuotaExhausted(RemoteError):
    """The daily API allocation is spent (or the configured reserve reached)."""

    kind = ErrorKind.QUOTA


class NotFound(RemoteError, LookupError):
    """The record or resource does not exist."""

    kind = ErrorKind.NOT_FOUND


class AmbiguousKey(RemoteError):
    """More than one record matches an external id or key."""

    kind = ErrorKind.AMBIGUOUS


class ServerError(RemoteError):
    """5xx or a lock/concurrent-edit error: transient."""

    kind = ErrorKind.TRANSIENT


class RequestRejected(RemoteError):
    """The request itself is wrong (malformed query, invalid field): terminal for this payload."""

    kind = ErrorKind.RECORD


class ProtocolError(ConnectorError):
    """A response we cannot parse; terminal."""

    kind = ErrorKind.PROTOCOL


class EngineError(LedgerBridgeError):
    """The engine cannot go on with a run."""

    kind = ErrorKind.PROTOCOL


class StateStoreError(EngineError):
    """The state store failed."""

    kind = ErrorKind.TRANSIENT


class WatermarkError(EngineError):
    """A cursor went backwards or clocks disagree beyond tolerance."""


class ConflictUnresolved(EngineError):
    """A conflict waits for a person; the record is parked and the run continues."""

    kind = ErrorKind.RECORD

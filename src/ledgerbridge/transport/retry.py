"""The one retry policy, driven by :class:`~ledgerbridge.core.errors.ErrorKind` (layer ``transport``).

Imports ``ledgerbridge.core`` and the sibling ``transport.metrics`` only.

What happens to a failed call depends on its kind, never on the vendor:

- ``TRANSIENT`` (5xx, timeouts, resets, lock contention): retried here with exponential backoff
  and full jitter (``uniform(0, min(cap, base * 2**n))``), or after the server's ``Retry-After``
  (``RemoteError.retry_after_s``) when it gave one, up to ``max_attempts`` calls in all.
- ``THROTTLED``: handed back to the caller (the governor) with the delay the server asked for,
  because slowing down the whole lane beats one call sleeping on its own. A policy built with
  ``retry_throttled=True`` waits and retries instead, for callers with no governor.
- anything else (auth, access, quota, record, config, protocol): raised at once.

Tests call :func:`set_testing` (the autouse fixture does) so no test ever sleeps; the delays are
still computed and passed to an injected ``sleep`` when one is given, so tests can assert on them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

import structlog

from ledgerbridge.core.errors import ErrorKind, LedgerBridgeError, RemoteError, TransportError
from ledgerbridge.core.redaction import redact
from ledgerbridge.transport.errors import ConnectFailed
from ledgerbridge.transport.metrics import TransportMetrics

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

_log = structlog.get_logger("ledgerbridge.transport.retry")


@dataclass(slots=True)
class _TestMode:
    enabled: bool = False
    max_attempts: int | None = None


_TESTING = _TestMode()


def set_testing(testing: bool, *, max_attempts: int | None = None) -> None:
    """Turn test mode on or off for every :class:`RetryPolicy` in the process.

    In test mode the policy never sleeps on the real clock (an injected ``sleep`` is still
    called, so tests can record delays).

    Args:
        testing: True to stop sleeping.
        max_attempts: When given, caps the attempts of every policy while testing.
    """
    _TESTING.enabled = testing
    _TESTING.max_attempts = max_attempts if testing else None


def is_testing() -> bool:
    """True while :func:`set_testing` has turned test mode on."""
    return _TESTING.enabled


class RetryAction(StrEnum):
    """What the caller should do with a failed attempt."""

    RETRY = "retry"  # wait ``delay_s`` and call again
    HAND_BACK = "hand_back"  # throttled: let the governor slow down, then try again later
    RAISE = "raise"  # give up: terminal kind, or attempts spent


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """The policy's verdict on one failed attempt."""

    action: RetryAction
    delay_s: float = 0.0
    kind: ErrorKind = ErrorKind.PROTOCOL


def kind_of(exc: BaseException) -> ErrorKind:
    """The :class:`ErrorKind` of any exception (PROTOCOL for ones that are not ours)."""
    return exc.kind if isinstance(exc, LedgerBridgeError) else ErrorKind.PROTOCOL


def _retry_after(exc: BaseException) -> float | None:
    return exc.retry_after_s if isinstance(exc, RemoteError) else None


async def _real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries by error kind with capped exponential backoff and full jitter.

    Attributes:
        max_attempts: Calls in all, the first included (1 = never retry).
        base_delay_s: Backoff base; attempt n waits up to ``base * 2**(n-1)``.
        max_delay_s: Cap of one computed backoff.
        max_retry_after_s: Cap of a server-given ``Retry-After`` we are willing to wait inside
            one call; beyond it the error is raised so the caller can reschedule.
        retry_throttled: Wait and retry on THROTTLED instead of handing back.
        sleep: Injected sleep (a ``Clock.sleep``); the real one when omitted.
        rng: Source of jitter (seeded in tests).
        metrics: Where retries are counted; nothing is counted when omitted.
    """

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 300.0
    retry_throttled: bool = False
    sleep: Sleep | None = None
    rng: random.Random = field(default_factory=random.Random)
    metrics: TransportMetrics | None = None

    @property
    def attempts(self) -> int:
        """``max_attempts``, capped by test mode when it sets a cap."""
        cap = _TESTING.max_attempts if _TESTING.enabled else None
        return max(1, min(self.max_attempts, cap) if cap else self.max_attempts)

    def backoff_s(self, attempt: int) -> float:
        """Full-jitter backoff after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** max(0, attempt - 1)))
        return self.rng.uniform(0.0, ceiling)

    def decide(self, exc: BaseException, attempt: int, *, idempotent: bool = True) -> RetryDecision:
        """Judge failed attempt number ``attempt`` (1-based) of a call.

        Args:
            exc: What the attempt raised.
            attempt: How many attempts have been made so far.
            idempotent: False for requests that must not run twice (a create without an
                external id): then only failures that prove the request never arrived, or that
                the server answered without applying it, are retried.

        Returns:
            The action and, for RETRY and HAND_BACK, the delay to respect.
        """
        kind = kind_of(exc)
        retry_after = _retry_after(exc)
        if kind is ErrorKind.THROTTLED:
            delay = retry_after if retry_after is not None else self.backoff_s(attempt)
            if (self.retry_throttled and attempt < self.attempts
                    and delay <= self.max_retry_after_s):
                return RetryDecision(RetryAction.RETRY, delay, kind)
            return RetryDecision(RetryAction.HAND_BACK, delay, kind)
        if kind is not ErrorKind.TRANSIENT or attempt >= self.attempts:
            return RetryDecision(RetryAction.RAISE, 0.0, kind)
        if (not idempotent and isinstance(exc, TransportError)
                and not isinstance(exc, ConnectFailed)):
            return RetryDecision(RetryAction.RAISE, 0.0, kind)
        if retry_after is not None:
            if retry_after > self.max_retry_after_s:
                return RetryDecision(RetryAction.RAISE, 0.0, kind)
            return RetryDecision(RetryAction.RETRY, retry_after, kind)
        return RetryDecision(RetryAction.RETRY, self.backoff_s(attempt), kind)

    async def wait(self, delay_s: float) -> None:
        """Sleep ``delay_s`` with the injected sleep, or for real unless test mode is on."""
        if self.sleep is not None:
            await self.sleep(delay_s)
        elif not _TESTING.enabled:
            await _real_sleep(delay_s)

    async def call(self, fn: Callable[[], Awaitable[T]], *, system: str = "", operation: str = "",
                   idempotent: bool = True) -> T:
        """Run ``fn`` until it succeeds or the policy gives up.

        Args:
            fn: Makes one attempt (a fresh request each time).
            system: For logs and metrics.
            operation: For logs and metrics.
            idempotent: See :meth:`decide`.

        Returns:
            What ``fn`` returned.

        Raises:
            LedgerBridgeError: The last error, when it is terminal, throttled (handed back; its
                ``retry_after_s`` says how long to wait) or attempts are spent.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return await fn()
            except LedgerBridgeError as exc:
                decision = self.decide(exc, attempt, idempotent=idempotent)
                if decision.action is not RetryAction.RETRY:
                    raise
                if self.metrics is not None:
                    self.metrics.record_retry(system, operation, str(decision.kind))
                _log.info("transport.retry", **redact({
                    "system": system, "operation": operation, "attempt": attempt,
                    "kind": str(decision.kind), "delay_s": round(decision.delay_s, 3),
                    "error": type(exc).__name__, "message": str(exc)}))
                await self.wait(decision.delay_s)

"""Prometheus metrics for every call the connectors make (layer ``transport``; imports core only).

One :class:`TransportMetrics` per registry. The module-level :data:`REGISTRY` is what the
dashboard and workers export (``prometheus_client.generate_latest(REGISTRY)`` or
``make_asgi_app(REGISTRY)``); tests inject a fresh ``CollectorRegistry`` so they never share
counters. Labels are low-cardinality on purpose: system, operation, outcome (an ``ErrorKind``
value or ``ok``), never record ids or URLs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ledgerbridge.core.errors import LedgerBridgeError

_by_registry: dict[int, TransportMetrics] = {}
_lock = threading.RLock()

REGISTRY = CollectorRegistry(auto_describe=True)
"""The registry the dashboard exports; connectors use it unless one is injected."""

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def outcome_of(exc: BaseException | None) -> str:
    """The ``outcome`` label for a call that raised ``exc`` (``ok`` when it did not).

    Args:
        exc: The exception, or None for success.

    Returns:
        ``ok``, the error's :class:`ErrorKind` value, or ``error`` for foreign exceptions.
    """
    if exc is None:
        return "ok"
    if isinstance(exc, LedgerBridgeError):
        return str(exc.kind)
    return "error"


@dataclass
class _Timer:
    outcome: str = "ok"
    started: float = field(default_factory=time.perf_counter)


class TransportMetrics:
    """Calls, latency, retries, throttles and the reported API allocation, by system.

    Attributes:
        calls: ``ledgerbridge_http_calls_total{system,operation,outcome}``.
        latency: ``ledgerbridge_http_call_seconds{system,operation}``.
        retries: ``ledgerbridge_http_retries_total{system,operation,kind}``.
        throttles: ``ledgerbridge_http_throttles_total{system,operation}``.
        api_usage: ``ledgerbridge_api_usage{system,bound}`` (bound = used | limit).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Register the metrics on ``registry`` (use :func:`default_metrics` for the module one).

        Args:
            registry: Where to register; a new private registry when omitted.
        """
        self.registry = registry if registry is not None else CollectorRegistry()
        self.calls = Counter("ledgerbridge_http_calls", "HTTP calls to external systems.",
                             ["system", "operation", "outcome"], registry=self.registry)
        self.latency = Histogram("ledgerbridge_http_call_seconds", "Latency of HTTP calls.",
                                 ["system", "operation"], buckets=_LATENCY_BUCKETS,
                                 registry=self.registry)
        self.retries = Counter("ledgerbridge_http_retries", "Retried calls, by error kind.",
                               ["system", "operation", "kind"], registry=self.registry)
        self.throttles = Counter("ledgerbridge_http_throttles", "Calls the system throttled.",
                                 ["system", "operation"], registry=self.registry)
        self.api_usage = Gauge("ledgerbridge_api_usage", "Daily API allocation as last reported.",
                               ["system", "bound"], registry=self.registry)
        with _lock:
            _by_registry[id(self.registry)] = self

    @contextmanager
    def track(self, system: str, operation: str) -> Iterator[_Timer]:
        """Count one call and time it; the outcome comes from the exception, if any.

        Args:
            system: ``salesforce`` or ``netsuite``.
            operation: The connector operation.

        Yields:
            A timer whose ``outcome`` the caller may override (for example ``ok`` on a 404
            that the connector treats as an empty answer).
        """
        timer = _Timer()
        try:
            yield timer
        except BaseException as exc:
            timer.outcome = outcome_of(exc)
            if timer.outcome == "throttled":
                self.throttles.labels(system, operation).inc()
            raise
        finally:
            self.latency.labels(system, operation).observe(time.perf_counter() - timer.started)
            self.calls.labels(system, operation, timer.outcome).inc()

    def record_retry(self, system: str, operation: str, kind: str) -> None:
        """Count one retry of ``operation`` after an error of ``kind``."""
        self.retries.labels(system, operation, kind).inc()

    def record_usage(self, system: str, used: int, limit: int) -> None:
        """Publish the allocation a system reported (Salesforce ``Sforce-Limit-Info``)."""
        self.api_usage.labels(system, "used").set(used)
        self.api_usage.labels(system, "limit").set(limit)


def default_metrics(registry: CollectorRegistry | None = None) -> TransportMetrics:
    """The one :class:`TransportMetrics` registered on ``registry`` (default :data:`REGISTRY`).

    Prometheus refuses to register a metric name twice on one registry, so every connector
    shares the instance returned here.

    Args:
        registry: The registry; :data:`REGISTRY` when omitted.

    Returns:
        The shared metrics object for that registry.
    """
    reg = registry if registry is not None else REGISTRY
    with _lock:
        metrics = _by_registry.get(id(reg))
        if metrics is None or metrics.registry is not reg:
            metrics = TransportMetrics(reg)
        return metrics

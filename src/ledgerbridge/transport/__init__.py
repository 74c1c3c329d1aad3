"""HTTP plumbing shared by the connectors (layer ``transport``; imports ``ledgerbridge.core`` only).

No vendor knowledge lives here. The pieces a connector (or the app layer) composes:

- :func:`build_client` / :class:`HttpSettings` (``http.py``): one pooled ``httpx2.AsyncClient`` per
  connection, with timeouts, gzip, an optional CA bundle and an injectable transport for tests.
- :class:`RetryPolicy` (``retry.py``): retries driven by :class:`~ledgerbridge.core.errors.ErrorKind`,
  with :func:`set_testing` to turn sleeping off in tests.
- :class:`TransportMetrics` / :data:`REGISTRY` (``metrics.py``): Prometheus counters and histograms
  per system, operation and outcome.
- :func:`map_transport_errors` / :func:`redact_url` (``errors.py``): the one boundary where httpx
  exceptions become :class:`~ledgerbridge.core.errors.TransportError`.
- :class:`DailyAllocation` (``budget.py``): a daily API allocation with a reserve for urgent work.
"""

from __future__ import annotations

from ledgerbridge.transport.budget import DailyAllocation, parse_limit_info
from ledgerbridge.transport.errors import (
    ConnectFailed,
    TLSVerificationError,
    kind_for_status,
    map_transport_errors,
    parse_retry_after,
    redact_url,
)
from ledgerbridge.transport.http import HttpSettings, build_client
from ledgerbridge.transport.metrics import REGISTRY, TransportMetrics, default_metrics
from ledgerbridge.transport.retry import (
    RetryAction,
    RetryDecision,
    RetryPolicy,
    is_testing,
    set_testing,
)

__all__ = [
    "REGISTRY",
    "ConnectFailed",
    "DailyAllocation",
    "HttpSettings",
    "RetryAction",
    "RetryDecision",
    "RetryPolicy",
    "TLSVerificationError",
    "TransportMetrics",
    "build_client",
    "default_metrics",
    "is_testing",
    "kind_for_status",
    "map_transport_errors",
    "parse_limit_info",
    "parse_retry_after",
    "redact_url",
    "set_testing",
]

"""Sending SuiteTalk REST requests (layer ``connectors``; imports ``transport`` and ``core`` only).

Every request goes, in this order, through:

1. the transport's :class:`~ledgerbridge.transport.retry.RetryPolicy` (5xx, ``UNEXPECTED_ERROR``,
   ``RCRD_HAS_BEEN_CHANGED``, timeouts: backoff and retry; throttling is handed back);
2. the account's :class:`~ledgerbridge.transport.governor.ConcurrencyGovernor` via
   :func:`~ledgerbridge.transport.governor.call_governed` (one slot per request in flight;
   ``429``/``CONCURRENCY_LIMIT_EXCEEDED`` and misreported throttles cut the limit and are retried
   after a backoff);
3. the injected ``httpx2.AsyncClient`` with the auth flow (TBA signs every attempt anew; OAuth 2.0
   renews the token and resends once on a 401);
4. the error table in ``errors.py`` for any non-2xx answer.

``INVALID_LOGIN`` is retried at most once per call (reference/netsuite-api.md §2.3): as throttling
when other calls were in flight, else at once with a fresh nonce (TBA only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx2

from ledgerbridge.connectors.netsuite import wire
from ledgerbridge.connectors.netsuite.auth import TokenAuth
from ledgerbridge.connectors.netsuite.errors import (
    SYSTEM,
    IdempotencyConflict,
    error_from_response,
    protocol_error,
)
from ledgerbridge.connectors.netsuite.settings import NetSuiteSettings
from ledgerbridge.core.errors import AccessDenied, NotFound, RemoteError, ThrottledError
from ledgerbridge.core.ports import Clock, SystemClock
from ledgerbridge.core.records import Priority
from ledgerbridge.transport import (
    ConnectFailed,
    RetryAction,
    RetryPolicy,
    TransportMetrics,
    map_transport_errors,
    redact_url,
)
from ledgerbridge.transport.governor import ConcurrencyGovernor, ThrottleBackoff, call_governed

# SuiteQL must be sent with ``Prefer: transient`` (reference/netsuite-api.md §1.3, §4.1).
SUITEQL_HEADERS = {"Prefer": "transient"}


class NetSuiteClient:
    """Sends requests to one NetSuite account and turns failures into ``core.errors``.

    Args:
        settings: The connection settings (URLs, retry counts).
        http: The pooled client (its transport may be ASGI or mock in tests).
        auth: The auth flow (:func:`~ledgerbridge.connectors.netsuite.auth.build_auth`).
        governor: The account's concurrency governor, shared by every connector of the process.
        clock: Where backoff sleeps happen.
        retry: Policy for transient failures.
        backoff: Policy for throttled attempts.
        metrics: Call counters and latency histograms; none recorded when omitted.
    """

    def __init__(self, settings: NetSuiteSettings, http: httpx2.AsyncClient, auth: httpx2.Auth,
                 governor: ConcurrencyGovernor, *, clock: Clock | None = None,
                 retry: RetryPolicy | None = None, backoff: ThrottleBackoff | None = None,
                 metrics: TransportMetrics | None = None) -> None:
        self.settings = settings
        self.http = http
        self.auth = auth
        self.governor = governor
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy(max_attempts=settings.max_attempts, sleep=self.clock.sleep)
        self.backoff = backoff or ThrottleBackoff(max_attempts=settings.max_throttled_attempts)
        self.metrics = metrics
        self._retry_invalid_login = isinstance(auth, TokenAuth)
        self.n_requests = 0

    def url(self, path: str) -> str:
        """Absolute URL of a path under ``/services/rest`` (absolute URLs pass through)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.settings.rest_url}{path}"

    async def request(self, method: str, path: str, *, operation: str,
                      priority: Priority = Priority.STATUS, params: Mapping[str, str] | None = None,
                      json_body: object = None, headers: Mapping[str, str] | None = None,
                      content_type: str | None = None, idempotent: bool = True) -> httpx2.Response:
        """Send one logical request (with retries) and return its successful response.

        Args:
            method: HTTP method.
            path: Path under ``/services/rest`` or an absolute URL (``Location`` of a job).
            operation: Name for messages and metrics (``record.get``).
            priority: Governor lane.
            params: Query parameters (part of the TBA signature).
            json_body: JSON body, if any.
            headers: Extra headers.
            content_type: Content type of the body (``application/json`` by default).
            idempotent: False for creates that must not run twice: only a connection that never
                opened is retried (not a 500, which NetSuite may send after saving).

        Returns:
            The 2xx response, body read.

        Raises:
            RemoteError: The NetSuite error for a failed answer (see ``errors.py``).
            TransportError: Network failure after the retries.
        """
        url = self.url(path)
        send_headers = dict(headers or {})
        content: bytes | None = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            send_headers["Content-Type"] = content_type or "application/json"
        # Built once, outside the slot; every attempt re-sends it (the auth flow re-signs it).
        prepared = self.http.build_request(method, url, params=params, content=content, headers=send_headers)
        n_invalid_login = 0

        async def attempt() -> httpx2.Response:
            nonlocal n_invalid_login
            while True:
                response = await self._send(prepared, operation)
                if response.is_success:
                    return response
                # Our own slot is still held: more than one in flight means other calls were too.
                under_load = self.governor.stats().in_flight > 1
                error = error_from_response(
                    response.status_code, response.content, operation=operation,
                    url=redact_url(str(response.request.url)),
                    www_authenticate=response.headers.get("WWW-Authenticate"),
                    under_load=under_load and n_invalid_login == 0)
                if error.code == "IDEMPOTENCY_ERROR":
                    raise IdempotencyConflict(str(error), location=response.headers.get("Location"),
                                              status=error.status, code=error.code, system=SYSTEM,
                                              operation=operation, url=error.url)
                if error.code == "INVALID_LOGIN":
                    n_invalid_login += 1
                    if not isinstance(error, ThrottledError) and n_invalid_login == 1 \
                            and self._retry_invalid_login:
                        continue  # once, re-signed with a fresh nonce (§2.3)
                raise error

        async def governed() -> httpx2.Response:
            return await call_governed(self.governor, priority, attempt, clock=self.clock,
                                       backoff=self.backoff)

        if idempotent:
            return await self.retry.call(governed, system=SYSTEM, operation=operation)
        # A create without an external id must not run twice: a 500 may come after the record was
        # saved (reference/netsuite-api.md §6.2), so only a connection that never opened is retried.
        n_attempts = 0
        while True:
            n_attempts += 1
            try:
                return await governed()
            except ConnectFailed as exc:
                decision = self.retry.decide(exc, n_attempts, idempotent=False)
                if decision.action is not RetryAction.RETRY:
                    raise
                await self.retry.wait(decision.delay_s)

    async def _send(self, request: httpx2.Request, operation: str) -> httpx2.Response:
        self.n_requests += 1
        with map_transport_errors(system=SYSTEM, operation=operation, url=request.url):
            if self.metrics is None:
                return await self.http.send(request, auth=self.auth)
            with self.metrics.track(SYSTEM, operation) as timer:
                response = await self.http.send(request, auth=self.auth)
                if not response.is_success:
                    timer.outcome = "throttled" if response.status_code == 429 else "error"
                    if response.status_code == 429:
                        self.metrics.throttles.labels(SYSTEM, operation).inc()
                return response

    async def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like :meth:`request`, returning the decoded JSON body.

        Raises:
            ProtocolError: When the body is not JSON.
        """
        response = await self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise protocol_error("response is not JSON", operation=str(kwargs.get("operation", "")),
                                 url=redact_url(str(response.request.url))) from None

    async def suiteql(self, query: wire.Query, *, limit: int = wire.SUITEQL_PAGE_LIMIT, offset: int = 0,
                      priority: Priority = Priority.STATUS) -> wire.SuiteQLPage:
        """Run one page of a SuiteQL query.

        Args:
            query: Statement and parameters.
            limit: Rows per page (at most 1000).
            offset: First row (a multiple of ``limit``).
            priority: Governor lane.

        Returns:
            The parsed page.

        Raises:
            ProtocolError: When the answer is not a SuiteQL page.
        """
        body = await self.request_json(
            "POST", wire.SUITEQL_PATH, operation="suiteql", priority=priority,
            params=wire.suiteql_params(limit, offset), json_body=wire.suiteql_body(query.q, query.params),
            headers=SUITEQL_HEADERS)
        try:
            return wire.parse_suiteql_page(body)
        except ValueError as exc:
            raise protocol_error(str(exc), operation="suiteql") from None

    async def governance_limits(self) -> wire.GovernanceLimits | None:
        """Read ``governanceLimits`` (admin only, §3.12); None when not permitted or not offered."""
        try:
            body = await self.request_json("GET", wire.GOVERNANCE_PATH, operation="governance",
                                           priority=Priority.INTERACTIVE)
            return wire.parse_governance_limits(body)
        except (AccessDenied, NotFound):
            return None
        except RemoteError as exc:
            if exc.status in {400, 401, 403, 404, 405}:
                return None
            raise
        except ValueError:
            return None

"""Sending requests to Salesforce (layer ``connectors``; imports core and transport only).

:class:`SalesforceClient` is the only place that touches HTTP for the connector. Per call it:
checks the daily allocation for the call's priority (``transport.budget``), adds the bearer
token (re-authenticating exactly once on a 401, reference/salesforce-api.md §1.3), adds
``Sforce-Call-Options: client=<id>`` to every write (echo suppression, §9.1), maps httpx
exceptions at the boundary (``transport.errors``) and failed responses through the error table
(``errors.py``), reads ``Sforce-Limit-Info`` into the allocation on every response (§2.1), counts
the call in Prometheus, and retries transient failures with the shared policy.
"""

from __future__ import annotations

import gzip
import json as jsonlib
from collections.abc import Mapping
from typing import cast

import httpx2
import structlog

from ledgerbridge.connectors.salesforce.auth import TokenProvider
from ledgerbridge.connectors.salesforce.errors import SYSTEM, error_from_response
from ledgerbridge.connectors.salesforce.settings import SalesforceSettings
from ledgerbridge.connectors.salesforce.wire import TokenResponse
from ledgerbridge.core.errors import ProtocolError, QuotaExhausted
from ledgerbridge.core.records import JsonValue, Priority
from ledgerbridge.core.redaction import redact
from ledgerbridge.transport.budget import DailyAllocation
from ledgerbridge.transport.errors import map_transport_errors, parse_retry_after, redact_url
from ledgerbridge.transport.metrics import TransportMetrics
from ledgerbridge.transport.retry import RetryPolicy

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
GZIP_MIN_BYTES = 32 * 1024
"""Request bodies from this size are sent gzip-compressed (Salesforce decompresses them: API
reference §10.3 "Compression Headers"); Bulk CSV uploads shrink several times."""
LIMIT_HEADER = "Sforce-Limit-Info"
CALL_OPTIONS_HEADER = "Sforce-Call-Options"

_log = structlog.get_logger("ledgerbridge.connectors.salesforce")


class SalesforceClient:
    """Authenticated, metered, retried requests to one org."""

    def __init__(self, settings: SalesforceSettings, http: httpx2.AsyncClient, *, auth: TokenProvider,
                 allocation: DailyAllocation, retry: RetryPolicy, metrics: TransportMetrics) -> None:
        """Wire the pieces together (the connector builds them).

        Args:
            settings: The org's settings.
            http: The shared pooled client.
            auth: Token cache and re-authentication.
            allocation: The daily allocation fed by ``Sforce-Limit-Info``.
            retry: The retry policy.
            metrics: Where calls are counted.
        """
        self.settings = settings
        self.http = http
        self.auth = auth
        self.allocation = allocation
        self.retry = retry
        self.metrics = metrics
        self.n_calls = 0
        self._secrets = settings.secrets()

    def url(self, path: str, token: TokenResponse) -> str:
        """Absolute URL: ``path`` as is when absolute, else below the instance (and API version)."""
        if path.startswith(("https://", "http://")):
            return path
        base = token.instance_url or self.settings.instance_url or ""
        if path.startswith("/services/"):
            return base + path
        return base + self.settings.data_path + path

    async def request(self, method: str, path: str, *, operation: str,
                      priority: Priority = Priority.STATUS, params: Mapping[str, str] | None = None,
                      json: JsonValue = None, content: str | bytes | None = None,
                      headers: Mapping[str, str] | None = None, accept: str = "application/json",
                      idempotent: bool = True) -> httpx2.Response:
        """Send one logical request, retried by the policy; return the successful response.

        Args:
            method: HTTP method.
            path: Absolute URL, ``/services/...`` path, or a path below ``/services/data/vNN.0``.
            operation: Name for logs and metrics (``query``, ``upsert``...).
            priority: Lane of the call, checked against the allocation's reserve.
            params: Query parameters.
            json: JSON body.
            content: Raw body (CSV uploads).
            headers: Extra headers.
            accept: ``Accept`` header.
            idempotent: False for creates, which must not be resent after an ambiguous failure.

        Returns:
            The response (status < 300).

        Raises:
            QuotaExhausted: The reserve or the daily allocation is spent.
            AuthError: Still rejected after one re-authentication.
            RemoteError: Any other failure, as the error table maps it.
            TransportError: Network failures that survived the retries.
        """
        async def attempt() -> httpx2.Response:
            self.allocation.check(priority)
            token = await self.auth.token()
            response = await self._send(token, method, path, operation=operation, params=params,
                                        json=json, content=content, headers=headers, accept=accept,
                                        tolerate_401=True)
            if response.status_code == 401:
                # Salesforce tokens carry no expiry (§1.2): a 401 INVALID_SESSION_ID is the signal.
                # Re-authenticate exactly once; a second 401 is raised as AuthError.
                _log.info("salesforce.auth.refresh", operation=operation)
                token = await self.auth.reauthenticate(token)
                response = await self._send(token, method, path, operation=operation, params=params,
                                            json=json, content=content, headers=headers, accept=accept,
                                            tolerate_401=False)
            return response

        return await self.retry.call(attempt, system=SYSTEM, operation=operation, idempotent=idempotent)

    async def request_json(self, method: str, path: str, *, operation: str,
                           priority: Priority = Priority.STATUS, params: Mapping[str, str] | None = None,
                           json: JsonValue = None, headers: Mapping[str, str] | None = None,
                           idempotent: bool = True) -> JsonValue:
        """:meth:`request` and decode the JSON body (None for 204).

        Raises:
            ProtocolError: The body is not JSON.
        """
        response = await self.request(method, path, operation=operation, priority=priority, params=params,
                                      json=json, headers=headers, idempotent=idempotent)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return cast(JsonValue, jsonlib.loads(response.content))
        except ValueError:
            raise ProtocolError(f"salesforce {operation}: response is not JSON", system=SYSTEM,
                                operation=operation, url=redact_url(response.request.url)) from None

    async def _send(self, token: TokenResponse, method: str, path: str, *, operation: str,
                    params: Mapping[str, str] | None, json: JsonValue, content: str | bytes | None,
                    headers: Mapping[str, str] | None, accept: str, tolerate_401: bool) -> httpx2.Response:
        url = self.url(path, token)
        safe_url = redact_url(url, self._secrets)
        all_headers = {"Authorization": f"Bearer {token.access_token}", "Accept": accept}
        if method in WRITE_METHODS:
            all_headers[CALL_OPTIONS_HEADER] = f"client={self.settings.call_options_client}"
        if headers:
            all_headers.update(headers)
        body = content
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            all_headers.setdefault("Content-Type", "application/json;charset=UTF-8")
        if body is not None and self.settings.compress_requests and len(body) >= GZIP_MIN_BYTES:
            raw = body.encode() if isinstance(body, str) else body
            body = gzip.compress(raw, compresslevel=5)
            all_headers["Content-Encoding"] = "gzip"
        secrets = (*self._secrets, token.access_token)
        self.n_calls += 1
        with self.metrics.track(SYSTEM, operation) as timer, map_transport_errors(
                system=SYSTEM, operation=operation, url=safe_url, secrets=secrets):
            response = await self.http.request(method, url, params=params, headers=all_headers,
                                               content=body)
            await response.aread()
            self._observe_limits(response)
            if response.status_code == 401:
                timer.outcome = "auth"
            if response.status_code >= 300 and not (tolerate_401 and response.status_code == 401):
                error = error_from_response(
                    response.status_code, response.text, operation=operation, url=safe_url,
                    retry_after_s=parse_retry_after(response.headers.get("Retry-After")))
                if isinstance(error, QuotaExhausted):
                    self.allocation.mark_exhausted()
                _log.warning("salesforce.call.failed", **redact(error.attrs(), secrets))
                raise error
        return response

    def _observe_limits(self, response: httpx2.Response) -> None:
        value = response.headers.get(LIMIT_HEADER)
        if self.allocation.update_from_header(value):
            snap = self.allocation.snapshot()
            if snap.calls_used is not None and snap.calls_limit is not None:
                self.metrics.record_usage(SYSTEM, snap.calls_used, snap.calls_limit)

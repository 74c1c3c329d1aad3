"""The client factory: pooled, gzip, injectable transport, CA bundle handling."""

from __future__ import annotations

import gzip
import json

import httpx2
import pytest

from ledgerbridge.core.errors import ConfigError
from ledgerbridge.transport.http import HttpSettings, build_client
from ledgerbridge.transport.metrics import REGISTRY, TransportMetrics, default_metrics


@pytest.mark.anyio
async def test_client_uses_the_injected_transport_and_decodes_gzip() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        body = gzip.compress(json.dumps({"ok": True}).encode())
        return httpx2.Response(200, content=body, headers={"Content-Encoding": "gzip"})

    async with build_client(base_url="https://example.test", transport=httpx2.MockTransport(handler),
                            headers={"X-Extra": "1"}) as client:
        response = await client.get("/x")
    assert response.json() == {"ok": True}
    assert "gzip" in seen[0].headers["Accept-Encoding"]
    assert seen[0].headers["User-Agent"].startswith("ledgerbridge/")
    assert seen[0].headers["X-Extra"] == "1"
    assert str(seen[0].url) == "https://example.test/x"


@pytest.mark.anyio
async def test_timeouts_come_from_settings() -> None:
    client = build_client(HttpSettings(timeout_s=7, connect_timeout_s=2, pool_timeout_s=3))
    assert client.timeout == httpx2.Timeout(7, connect=2, pool=3)
    await client.aclose()


def test_unreadable_ca_bundle_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="CA bundle"):
        build_client(HttpSettings(ca_file=str(tmp_path / "missing.pem")))


@pytest.mark.anyio
async def test_a_ca_bundle_can_be_given(tmp_path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    client = build_client(HttpSettings(ca_file=str(pem)))
    await client.aclose()


def test_default_metrics_are_shared_per_registry() -> None:
    assert default_metrics() is default_metrics(REGISTRY)
    private = TransportMetrics()
    assert default_metrics(private.registry) is not default_metrics()


def test_track_counts_calls_by_outcome_and_throttles() -> None:
    from ledgerbridge.core.errors import ConcurrencyLimited

    metrics = TransportMetrics()
    with metrics.track("netsuite", "get"):
        pass
    with pytest.raises(ConcurrencyLimited), metrics.track("netsuite", "get"):
        raise ConcurrencyLimited("429")
    sample = metrics.registry.get_sample_value
    assert sample("ledgerbridge_http_calls_total", {"system": "netsuite", "operation": "get",
                                                   "outcome": "ok"}) == 1
    assert sample("ledgerbridge_http_calls_total", {"system": "netsuite", "operation": "get",
                                                   "outcome": "throttled"}) == 1
    assert sample("ledgerbridge_http_throttles_total", {"system": "netsuite", "operation": "get"}) == 1
    assert sample("ledgerbridge_http_call_seconds_count", {"system": "netsuite", "operation": "get"}) == 2

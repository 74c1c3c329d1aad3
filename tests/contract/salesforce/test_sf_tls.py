"""The connector over a real loopback socket with TLS: the sandbox's CA via ``ca_file``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ledgerbridge.connectors.salesforce import SalesforceConnector, SalesforceSettings
from ledgerbridge.core.records import Write
from ledgerbridge.transport.errors import TLSVerificationError
from ledgerbridge.transport.metrics import TransportMetrics

testing = pytest.importorskip("ledgerbridge_sandbox.salesforce.testing")
config = pytest.importorskip("ledgerbridge_sandbox.salesforce.config")

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def tls_sandbox() -> Iterator[Any]:
    with testing.SalesforceSandbox(config.SalesforceSandboxConfig(seed="empty"), tls=True) as sandbox:
        yield sandbox


def settings(sandbox: Any, **overrides: Any) -> SalesforceSettings:
    info = sandbox.info
    return SalesforceSettings(instance_url=sandbox.url, auth_mode="client_credentials",
                              client_id=info["client_id"], client_secret=info["client_secret"], **overrides)


async def test_https_with_the_sandbox_ca_bundle(tls_sandbox: Any) -> None:
    assert tls_sandbox.url.startswith("https://")
    async with SalesforceConnector(settings(tls_sandbox, ca_file=tls_sandbox.info["ca_file"]),
                                   metrics=TransportMetrics()) as conn:
        results = await conn.upsert("Account", [Write({"Name": "Over TLS"}, external_id="TLS-1")])
        assert results[0].ok and results[0].created


async def test_an_untrusted_certificate_is_a_config_error_not_retried(tls_sandbox: Any) -> None:
    async with SalesforceConnector(settings(tls_sandbox), metrics=TransportMetrics()) as conn:
        with pytest.raises(TLSVerificationError) as info:
            await conn.describe("Account")
    assert "ca_file" in str(info.value)
    assert conn.auth.n_token_requests == 1

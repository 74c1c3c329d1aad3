"""Fixtures for Salesforce unit tests: no sleeping, and a strict scripted HTTP transport."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from sf_scripted import INSTANCE, Scripted

from ledgerbridge.connectors.salesforce import SalesforceConnector, SalesforceSettings
from ledgerbridge.transport.metrics import TransportMetrics
from ledgerbridge.transport.retry import set_testing


@pytest.fixture(autouse=True)
def _retry_test_mode() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.check()


@pytest.fixture
def settings() -> SalesforceSettings:
    return SalesforceSettings(instance_url=INSTANCE, auth_mode="client_credentials", client_id="cid",
                              client_secret="csecret-value", bulk_threshold=5)


@pytest.fixture
def make_connector(scripted: Scripted, settings: SalesforceSettings):
    made: list[SalesforceConnector] = []

    def make(s: SalesforceSettings | None = None, **kw: object) -> SalesforceConnector:
        kw.setdefault("metrics", TransportMetrics())
        c = SalesforceConnector(s or settings, transport=httpx2.MockTransport(scripted), **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    return make

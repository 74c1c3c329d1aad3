"""Fixtures of the NetSuite connector unit tests (helpers live in ``netsuite_testkit``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from netsuite_testkit import FakeClock

from ledgerbridge.transport.retry import set_testing


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _retry_test_mode() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)

"""Fixtures of the NetSuite contract tests: no real sleeping, a clock that starts now."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from netsuite_sandbox_kit import VirtualClock

from ledgerbridge.transport.retry import set_testing


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(autouse=True)
def _retry_test_mode() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)

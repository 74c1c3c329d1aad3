"""Transport unit tests never sleep: retry test mode is on for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledgerbridge.transport.retry import set_testing


@pytest.fixture(autouse=True)
def _retry_test_mode() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)

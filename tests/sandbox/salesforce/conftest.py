"""Fixtures for the Salesforce sandbox tests: an in-process app (no sockets) and its state.

``api`` talks to ``create_app`` through ``httpx2.ASGITransport`` with a valid session; the
org's clock is a ``ManualClock`` so tests move time instead of sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from salesforce_sandbox_support import Api, make_config, open_api


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """An empty org (integration user, standard price book) at a frozen time."""
    client, a = await open_api(make_config())
    async with client:
        yield a


@pytest.fixture
async def demo() -> AsyncIterator[Api]:
    """The demo org at a frozen time."""
    client, a = await open_api(make_config(seed="demo"))
    async with client:
        yield a

"""Fixtures for the NetSuite sandbox tests: an in-process app on a manual clock, signed with TBA."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from netsuite_sandbox_support import NS, START

from ledgerbridge_sandbox.netsuite import ManualClock, NetSuiteSandboxConfig, create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def make_ns(clock: ManualClock) -> Iterator[Any]:
    made: list[NS] = []

    def factory(seed: str = "empty", scale: int | None = None, **settings: Any) -> NS:
        config = NetSuiteSandboxConfig(clock=clock, **settings)
        ns = NS(create_app(config, seed=seed, scale=scale), clock)
        made.append(ns)
        return ns

    yield factory
    for ns in made:
        ns.http.close()
        ns.sb.store.conn.close()


@pytest.fixture
def ns(make_ns: Any) -> NS:
    """An empty account (lists only)."""
    result: NS = make_ns()
    return result


@pytest.fixture(scope="module")
def demo() -> Iterator[NS]:
    """A demo account shared by a module's read-only tests."""
    clock = ManualClock(START)
    app = create_app(NetSuiteSandboxConfig(clock=clock), seed="demo", scale=120)
    ns = NS(app, clock)
    yield ns
    ns.http.close()
    ns.sb.store.conn.close()

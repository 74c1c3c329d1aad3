"""Fixtures for the dashboard tests: a fake backend, a fixed clock, and in-process HTTP clients."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from dashboard.fakes import FakeBackend, FixedClock
from ledgerbridge.dashboard.app import create_dashboard
from ledgerbridge.dashboard.settings import DashboardSettings

BASE_URL = "http://127.0.0.1:8765"
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf(?:" value|-token" content)="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def backend(clock: FixedClock) -> FakeBackend:
    return FakeBackend(clock)


ClientFactory = Callable[..., AbstractAsyncContextManager[httpx2.AsyncClient]]


@pytest.fixture
def make_client(backend: FakeBackend, clock: FixedClock) -> ClientFactory:
    """``async with make_client(password=...) as client`` — an in-process client of a fresh app."""

    @asynccontextmanager
    async def factory(app: Starlette | None = None, **settings: Any) -> AsyncIterator[httpx2.AsyncClient]:
        app = app or create_dashboard(backend, DashboardSettings(**settings), clock=clock)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL) as client:
            yield client

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx2.AsyncClient]:
    """A client of a dashboard without a password."""
    async with make_client() as c:
        yield c


async def login(client: httpx2.AsyncClient, password: str = PASSWORD, next_: str = "/") -> httpx2.Response:
    """Fill in and send the login form."""
    form = await client.get("/login", params={"next": next_})
    return await client.post("/login", data={"csrf": csrf_of(form.text), "password": password,
                                             "next": next_})


@pytest.fixture
async def authed(make_client: ClientFactory) -> AsyncIterator[httpx2.AsyncClient]:
    """A logged-in client of a dashboard with a password."""
    async with make_client(password=PASSWORD) as c:
        response = await login(c)
        assert response.status_code == 303
        yield c

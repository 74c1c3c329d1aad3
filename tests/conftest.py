"""Test-suite policy shared by every test.

- Services: tests marked ``postgres``, ``redis`` or ``browser`` need PostgreSQL (127.0.0.1:5432),
  Redis (127.0.0.1:6379) or Chromium (/usr/bin/chromium). When one is missing the test is skipped
  with the reason on a developer machine, and FAILS when ``CI=true``: CI must never pass by skipping.
- Environment: ``LEDGERBRIDGE_*`` variables are scrubbed so a developer's settings cannot leak in.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator

import pytest

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
CHROMIUM = "/usr/bin/chromium"
POSTGRES_URL = os.environ.get("LEDGERBRIDGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LEDGERBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def in_ci() -> bool:
    """True when running in CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(addr: tuple[str, int]) -> str | None:
    try:
        with socket.create_connection(addr, timeout=1.0):
            return None
    except OSError as exc:
        return f"{addr[0]}:{addr[1]} not reachable ({exc.strerror or exc})"


def _missing(marker: str) -> str | None:
    if marker == "postgres":
        problem = _reachable(POSTGRES)
        return f"PostgreSQL {problem}" if problem else None
    if marker == "redis":
        problem = _reachable(REDIS)
        return f"Redis {problem}" if problem else None
    if marker == "browser":
        if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
            return f"Chromium not installed at {CHROMIUM} (apt-get install chromium)"
        try:
            import playwright  # noqa: F401
        except ImportError:
            return "the playwright Python package is not installed (pip install -e '.[dev]')"
    return None


_SERVICE_MARKERS = ("postgres", "redis", "browser")
_cache: dict[str, str | None] = {}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (locally) or fail (in CI) tests whose service is absent."""
    for marker in _SERVICE_MARKERS:
        if item.get_closest_marker(marker) is None:
            continue
        if marker not in _cache:
            _cache[marker] = _missing(marker)
        problem = _cache[marker]
        if problem is None:
            continue
        if in_ci():
            pytest.fail(f"CI=true and a required service is missing: {problem}", pytrace=False)
        pytest.skip(f"needs {marker}: {problem}")


@pytest.fixture(autouse=True)
def _scrub_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("LEDGERBRIDGE_") and not key.startswith("LEDGERBRIDGE_TEST_"):
            monkeypatch.delenv(key, raising=False)
    yield


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Each test starts and ends with structlog's defaults (no stream left over from a CLI test)."""
    import structlog

    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def anyio_backend() -> str:
    """Run anyio-marked tests on asyncio only."""
    return "asyncio"


@pytest.fixture
def postgres_url() -> str:
    """URL of the test PostgreSQL database (use with ``@pytest.mark.postgres``)."""
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    """URL of the test Redis server (use with ``@pytest.mark.redis``)."""
    return REDIS_URL

"""Helpers for the NetSuite connector tests: a fake clock, wire fixtures, settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledgerbridge.connectors.netsuite.settings import NetSuiteSettings

WIRE = Path(__file__).resolve().parents[3] / "fixtures" / "netsuite" / "wire"


class FakeClock:
    """A clock whose ``sleep`` returns at once and moves time forward."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def load_wire(name: str) -> Any:
    """A JSON sample from tests/fixtures/netsuite/wire."""
    return json.loads((WIRE / name).read_text())


def tba_settings(**overrides: Any) -> NetSuiteSettings:
    values: dict[str, Any] = {
        "account_id": "123456_SB1", "base_url": "https://ns.test", "auth_mode": "tba",
        "consumer_key": "ck", "consumer_secret": "cs", "token_id": "tk", "token_secret": "ts",
        "read_governance_limits": False,
    }
    values.update(overrides)
    return NetSuiteSettings(**values)

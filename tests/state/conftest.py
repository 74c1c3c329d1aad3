"""Fixtures of the state-store tests: per-test PostgreSQL schemas.

The service policy (tests marked ``postgres`` skip locally, fail under ``CI=true`` when
PostgreSQL is unreachable) and the ``postgres_url`` fixture come from the root ``tests/conftest.py``.
Each PostgreSQL test gets a schema of its own, dropped afterwards, so tests stay isolated and
parallel runs on one server never clash.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest


def drop_schema(url: str, schema: str) -> None:
    """Drop a test schema and everything in it."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A state URL with a fresh schema of its own, dropped after the test."""
    schema = f"lb_test_{uuid.uuid4().hex[:16]}"
    yield f"{postgres_url}?schema={schema}"
    drop_schema(postgres_url, schema)

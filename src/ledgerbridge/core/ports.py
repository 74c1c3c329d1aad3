"""Ports: the protocols the engine needs from the outside world (layer ``core``).

Connectors implement :class:`SystemPort`; the state store implements the store port in
``core.store``; a :class:`Clock` is injected everywhere time matters so tests never sleep.
The port speaks engine vocabulary (record, key, change, watermark), never a vendor's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from ledgerbridge.core.records import (
    Budget,
    Capabilities,
    DeletedRecord,
    ObjectSchema,
    Priority,
    ReadPage,
    Record,
    System,
    Watermark,
    Write,
    WriteResult,
)


@runtime_checkable
class Clock(Protocol):
    """Time, injectable."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait; a test clock returns at once and advances its time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(seconds)


class SystemPort(Protocol):
    """One external system (Salesforce or NetSuite), as the engine sees it.

    All methods are batch-shaped. Per-record failures are values in the returned results,
    aligned with the input; exceptions (from ``core.errors``) mean the call itself failed.
    """

    @property
    def system(self) -> System:
        """Which system this is."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """Batch sizes and feeds this connector supports."""
        ...

    async def describe(self, object: str) -> ObjectSchema:
        """Describe an object (cached by the connector)."""
        ...

    def read_changes(self, object: str, since: Watermark | None, *,
                     fields: Sequence[str] | None = None, where: str | None = None,
                     priority: Priority = Priority.STATUS) -> AsyncIterator[ReadPage]:
        """Records modified at or after ``since`` (None: all), ordered by (modified, id), paged.

        ``where`` is an extra filter in the system's own query language (a link's scope).
        """
        ...

    async def read_deleted(self, object: str, since: Watermark | None, *,
                           priority: Priority = Priority.STATUS) -> list[DeletedRecord]:
        """Records deleted at or after ``since``."""
        ...

    async def read_by_ids(self, object: str, ids: Sequence[str], *,
                          fields: Sequence[str] | None = None,
                          priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        """Current state of the given records; ids that do not exist are left out."""
        ...

    async def find(self, object: str, field: str, values: Sequence[str], *,
                   fields: Sequence[str] | None = None,
                   priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        """Records whose ``field`` equals one of ``values`` (exact match; for keys and matching)."""
        ...

    async def filter_ids(self, object: str, ids: Sequence[str], where: str, *,
                         priority: Priority = Priority.INTERACTIVE) -> list[str]:
        """Those of ``ids`` whose records exist and satisfy ``where``, a condition in the system's own
        query language (a link's scope: SOQL / SuiteQL ``WHERE``), in no particular order.

        One query per batch of ids (as many as the system takes in one ``IN`` list), never one per id:
        pushed changes name records one by one, and this is how the engine keeps out those a link's
        scope does not cover.
        """
        ...

    async def upsert(self, object: str, writes: Sequence[Write], *, key_field: str | None = None,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        """Create, update or upsert (by ``key_field`` = ``Write.external_id``) records."""
        ...

    async def delete(self, object: str, ids: Sequence[str], *,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        """Delete records by id."""
        ...

    async def budget(self) -> Budget:
        """What is left of the allocation and concurrency."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...



@runtime_checkable
class RowQueryPort(Protocol):
    """Optional: a system that runs read-only row queries in its own language (NetSuite: SuiteQL).

    The engine's ``options.enrich`` steps need it; a port without ``query_rows`` cannot run them,
    and a link that asks for one on that side fails its validation with that reason.
    """

    async def query_rows(self, statement: str, params: Sequence[str]) -> list[dict[str, str]]:
        """Every row of ``statement`` (all pages), its ``?`` placeholders bound to ``params``.

        Returns:
            Rows as column name (lower case) -> value as text; NULL columns may be left out.
        """
        ...

"""The SQL implementation of the :class:`~ledgerbridge.core.store.StateStore` port (layer ``state``).

Imports SQLAlchemy and ``ledgerbridge.core`` only. One code path serves SQLite (the default) and
PostgreSQL; the few places where the dialects differ are marked.

How the port's contract is met:

* **Transactions.** :meth:`SqlStateStore.transaction` checks out one connection and binds it to
  the calling task through a context variable; every store call made inside the block (in that task
  or in tasks it creates) uses that connection, so it sees the block's own writes, and a nested
  ``transaction()`` joins it. Tasks that share a transaction must not call the store at the same
  time (one connection runs one statement at a time). A call outside any transaction runs in a
  transaction of its own.
* **No lost updates.** On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (see
  ``db.py``), so a read-modify-write inside ``transaction()`` cannot interleave with another
  writer, in this process or another one; within one process writers also queue on an
  ``asyncio.Lock`` instead of spinning on the busy timeout. On PostgreSQL (READ COMMITTED) the
  point reads made inside a transaction lock the rows they return (``SELECT ... FOR UPDATE``),
  upserts are single ``INSERT ... ON CONFLICT`` statements, and :meth:`SqlStateStore.put_xref`
  takes transaction-scoped advisory locks on both of the pair's keys; the same read-modify-write
  is therefore safe there too, and a row lock is held until the transaction ends.
* **Leases and one-shot markers** are single conditional upserts with ``RETURNING``: exactly one
  of any number of concurrent callers wins, on either database.
* **Errors** from the driver or the database (including "database is locked" after the busy
  timeout) are raised as :class:`~ledgerbridge.core.errors.StateStoreError` (transient).

The price of those guarantees: a transaction on SQLite holds the database's write lock until it
ends, and on PostgreSQL the rows read inside it stay locked until it ends. Keep transactions to
the commit of a batch; a transaction held open across API calls (the engine's dry-run ``plan``
does this on purpose, to roll everything back) makes other writers wait for it, and on SQLite a
writer in another process gives up after the 5 s busy timeout. Two PostgreSQL transactions that
lock the same rows in opposite orders are a deadlock; PostgreSQL aborts one of them, which
surfaces here as a transient ``StateStoreError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from contextvars import ContextVar
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Final, TypeVar

from alembic.util.exc import CommandError
from sqlalchemy import Delete, Insert, Select, Table, and_, delete, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledgerbridge.core.errors import StateStoreError
from ledgerbridge.core.records import JsonValue, System, Watermark
from ledgerbridge.core.store import (
    AuditEvent,
    Conflict,
    ConflictStatus,
    DeadLetter,
    DeadLetterStatus,
    MatchCandidate,
    MatchReview,
    ReviewStatus,
    Run,
    RunStatus,
    Step,
    Xref,
)
from ledgerbridge.state import migrate
from ledgerbridge.state.db import READ_ONLY, StateUrl, create_engine, parse_state_url
from ledgerbridge.state.tables import (
    AUDIT,
    CONFLICTS,
    DEAD_LETTERS,
    LEASES,
    MARKERS,
    REVIEWS,
    RUN_LINKS,
    RUNS,
    WATERMARKS,
    XREFS,
)

__all__ = ["SqlStateStore", "open_state_store"]

_T = TypeVar("_T")

# Ids per IN (...) list: well under SQLite's and asyncpg's bound-parameter limits (32766 / 32767).
_IN_CHUNK: Final = 500


async def open_state_store(url: str | None = None, *, migrate_schema: bool = True,
                           echo: bool = False) -> SqlStateStore:
    """Open (and by default migrate to the newest schema) the state store at ``url``.

    Args:
        url: ``sqlite:///path.db`` (default ``sqlite:///.ledgerbridge/state.db``), ``sqlite://``
            for a private in-memory database, or ``postgresql://user@host/db[?schema=name]``;
            every accepted form is listed in :mod:`ledgerbridge.state.db`.
        migrate_schema: run the Alembic migrations up to head first (safe when several processes
            start at once: they migrate one after the other).
        echo: log every SQL statement (debugging).

    Returns:
        The store; close it with :meth:`SqlStateStore.aclose` (or use it with ``async with``).

    Raises:
        ConfigError: the URL is not one the store accepts.
        StateStoreError: the database cannot be reached or migrated.
    """
    state_url = parse_state_url(url)
    engine = create_engine(state_url, echo=echo)
    try:
        if migrate_schema:
            await migrate.upgrade(engine, state_url)
    except CommandError as exc:
        await engine.dispose()
        raise StateStoreError(f"cannot migrate the state store at {state_url.render()}: {exc} "
                              "(was it written by a newer LedgerBridge?)") from None
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        raise _store_error(exc, f"open {state_url.render()}") from exc
    return SqlStateStore(engine, state_url)


def _store_error(exc: BaseException, operation: str) -> StateStoreError:
    orig = getattr(exc, "orig", None) or exc
    detail = " ".join(str(orig).split())
    if len(detail) > 300:
        detail = detail[:300] + "..."
    return StateStoreError(f"state store {operation} failed: {type(orig).__name__}: {detail}")


async def _guard(operation: str, awaitable: Awaitable[_T]) -> _T:
    try:
        return await awaitable
    except (SQLAlchemyError, OSError) as exc:
        raise _store_error(exc, operation) from exc


class SqlStateStore:
    """The state store on SQLite or PostgreSQL; see the module docstring for the guarantees.

    Build it with :func:`open_state_store`. The store owns its engine; :meth:`aclose` disposes of it.
    """

    def __init__(self, engine: AsyncEngine, state_url: StateUrl) -> None:
        """Wrap an engine built by :func:`ledgerbridge.state.db.create_engine` for ``state_url``."""
        self._engine = engine
        self._url = state_url
        self._is_pg = engine.dialect.name == "postgresql"
        self._tx: ContextVar[AsyncConnection | None] = ContextVar(f"lb_state_tx_{id(self)}", default=None)
        # SQLite has one writer at a time; queue this process's writers here rather than in the
        # busy handler. An in-memory database has a single connection, so readers queue too.
        self._write_lock: asyncio.Lock | None = None if self._is_pg else asyncio.Lock()
        self._read_lock = self._write_lock if state_url.is_memory else None

    @property
    def url(self) -> str:
        """The store's URL with any password hidden."""
        return self._url.render()

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (for migrations and diagnostics)."""
        return self._engine

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    async def __aenter__(self) -> SqlStateStore:
        """Use the store as an async context manager that closes it on exit."""
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Close the store."""
        await self.aclose()

    # -- connections and transactions ------------------------------------------------------------
    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Group the writes made inside ``async with`` into one atomic commit (nested blocks join).

        Returns:
            An async context manager; it commits when the block exits normally and rolls back
            when it raises.
        """
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        if self._tx.get() is not None:
            yield
            return
        async with self._write_lock or nullcontext():
            conn = await _guard("connect", self._engine.connect())
            try:
                await _guard("begin", conn.begin())
                token = self._tx.set(conn)
                try:
                    yield
                except BaseException:
                    # The block's own exception is what the caller needs to see; a rollback that
                    # fails too (connection lost) is discarded with the connection.
                    with suppress(SQLAlchemyError, OSError):
                        await conn.rollback()
                    raise
                else:
                    await _guard("commit", conn.commit())
                finally:
                    self._tx.reset(token)
            finally:
                await conn.close()

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        current = self._tx.get()
        if current is not None:
            yield current
            return
        async with self._transaction():
            conn = self._tx.get()
            assert conn is not None
            yield conn

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        current = self._tx.get()
        if current is not None:
            yield current
            return
        async with self._read_lock or nullcontext():
            conn = await _guard("connect", self._engine.connect())
            try:
                if not self._is_pg:
                    await conn.execution_options(**{READ_ONLY: True})
                yield conn
            finally:
                await conn.close()

    def _locking(self, stmt: Select[_T]) -> Select[_T]:
        """Point reads inside a transaction lock their rows (PostgreSQL; SQLite ignores it)."""
        return stmt.with_for_update() if self._tx.get() is not None and self._is_pg else stmt

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        return postgresql.insert(table) if self._is_pg else sqlite.insert(table)

    @staticmethod
    async def _exec(conn: AsyncConnection, stmt: Any, params: Any = None) -> CursorResult[Any]:
        return await _guard("statement", conn.execute(stmt, params))

    async def _rows(self, stmt: Select[Any]) -> Sequence[Row[Any]]:
        async with self._reading() as conn:
            return (await self._exec(conn, stmt)).all()

    async def _row(self, stmt: Select[Any]) -> Row[Any] | None:
        async with self._reading() as conn:
            return (await self._exec(conn, stmt)).first()

    async def _write(self, *stmts: Insert | Delete) -> None:
        async with self._writing() as conn:
            for stmt in stmts:
                await self._exec(conn, stmt)

    # -- xrefs -----------------------------------------------------------------------------------
    async def get_xref(self, link: str, system: System, id: str) -> Xref | None:
        """The xref of ``link`` whose ``system``-side id is ``id``.

        Args:
            link: the link's name.
            system: which side ``id`` belongs to.
            id: the record id on that side.

        Returns:
            The pair, or None when the record is not linked.
        """
        column = XREFS.c.sf_id if system is System.SALESFORCE else XREFS.c.ns_id
        row = await self._row(self._locking(select(XREFS).where(XREFS.c.link == link, column == id)))
        return _xref(row) if row is not None else None

    async def get_xrefs(self, link: str, system: System, ids: Sequence[str]) -> dict[str, Xref]:
        """Xrefs for many ids of one side, keyed by that side's id (missing ids are left out).

        Args:
            link: the link's name.
            system: which side the ids belong to.
            ids: record ids on that side.

        Returns:
            A mapping from each linked id to its pair.
        """
        column = XREFS.c.sf_id if system is System.SALESFORCE else XREFS.c.ns_id
        found: dict[str, Xref] = {}
        async with self._reading() as conn:
            for chunk in _chunks(dict.fromkeys(ids)):
                stmt = self._locking(select(XREFS).where(XREFS.c.link == link, column.in_(chunk)))
                for row in (await self._exec(conn, stmt)).all():
                    xref = _xref(row)
                    found[xref.id_of(system)] = xref
        return {i: found[i] for i in ids if i in found}

    async def put_xref(self, xref: Xref) -> None:
        """Insert or replace a pair, matching on either ``(link, sf_id)`` or ``(link, ns_id)``.

        Args:
            xref: the pair and its baselines, stored as given.
        """
        async with self._writing() as conn:
            if self._is_pg:
                # Two writers of pairs sharing one key must not both pass the DELETE below and then
                # collide on a unique key; sorted order keeps two such writers from deadlocking.
                for key in sorted({f"xref|{xref.link}|sf|{xref.sf_id}", f"xref|{xref.link}|ns|{xref.ns_id}"}):
                    await self._exec(conn, text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                                     {"k": key})
            await self._exec(conn, delete(XREFS).where(
                XREFS.c.link == xref.link, XREFS.c.ns_id == xref.ns_id, XREFS.c.sf_id != xref.sf_id))
            values = {
                "link": xref.link, "sf_id": xref.sf_id, "ns_id": xref.ns_id,
                "sf_baseline": dict(xref.sf_baseline), "ns_baseline": dict(xref.ns_baseline),
                "created_at": xref.created_at, "updated_at": xref.updated_at,
                "sf_modified_at": xref.sf_modified_at, "ns_modified_at": xref.ns_modified_at,
            }
            stmt = self._insert(XREFS).values(values)
            # Update in place (not delete + insert) so a transaction waiting on this row's lock
            # reads the new version instead of finding the row gone.
            await self._exec(conn, stmt.on_conflict_do_update(
                index_elements=[XREFS.c.link, XREFS.c.sf_id],
                set_={k: stmt.excluded[k] for k in values if k not in ("link", "sf_id")}))

    async def delete_xref(self, link: str, sf_id: str, ns_id: str) -> None:
        """Remove the pair ``(sf_id, ns_id)`` of ``link`` (no error when absent).

        Args:
            link: the link's name.
            sf_id: the Salesforce id of the pair.
            ns_id: the NetSuite id of the pair.
        """
        await self._write(delete(XREFS).where(
            XREFS.c.link == link, XREFS.c.sf_id == sf_id, XREFS.c.ns_id == ns_id))

    async def list_xrefs(self, link: str, *, after_sf_id: str | None = None,
                         limit: int = 1000) -> list[Xref]:
        """Xrefs of a link ordered by ``sf_id`` ascending, starting after ``after_sf_id`` (paging).

        Args:
            link: the link's name.
            after_sf_id: the last ``sf_id`` of the previous page, None for the first page.
            limit: page size.

        Returns:
            At most ``limit`` pairs.
        """
        if limit <= 0:
            return []
        stmt = select(XREFS).where(XREFS.c.link == link)
        if after_sf_id is not None:
            stmt = stmt.where(XREFS.c.sf_id > after_sf_id)
        return [_xref(r) for r in await self._rows(stmt.order_by(XREFS.c.sf_id).limit(limit))]

    async def count_xrefs(self, link: str) -> int:
        """How many pairs a link has.

        Args:
            link: the link's name.

        Returns:
            The number of pairs.
        """
        row = await self._row(select(func.count()).select_from(XREFS).where(XREFS.c.link == link))
        return int(row[0]) if row is not None else 0

    # -- watermarks ------------------------------------------------------------------------------
    async def get_watermark(self, link: str, system: System, feed: str) -> Watermark | None:
        """The committed position of a feed.

        Args:
            link: the link's name.
            system: the system the feed reads.
            feed: ``changes`` or ``deletes``.

        Returns:
            The position, or None before the first commit.
        """
        row = await self._row(self._locking(select(WATERMARKS.c.at, WATERMARKS.c.last_id).where(
            WATERMARKS.c.link == link, WATERMARKS.c.system == system.value, WATERMARKS.c.feed == feed)))
        return Watermark(row.at, row.last_id) if row is not None else None

    async def set_watermark(self, link: str, system: System, feed: str, watermark: Watermark) -> None:
        """Store a feed's position, replacing the previous one (the engine keeps it monotonic).

        Args:
            link: the link's name.
            system: the system the feed reads.
            feed: ``changes`` or ``deletes``.
            watermark: the new position.
        """
        stmt = self._insert(WATERMARKS).values(
            link=link, system=system.value, feed=feed, at=watermark.at, last_id=watermark.last_id)
        await self._write(stmt.on_conflict_do_update(
            index_elements=[WATERMARKS.c.link, WATERMARKS.c.system, WATERMARKS.c.feed],
            set_={"at": stmt.excluded.at, "last_id": stmt.excluded.last_id}))

    # -- runs ------------------------------------------------------------------------------------
    async def put_run(self, run: Run) -> None:
        """Insert or replace a run by id.

        Args:
            run: the run, stored as given.
        """
        values = {
            "id": run.id, "started_at": run.started_at, "kind": run.kind, "finished_at": run.finished_at,
            "status": run.status.value, "links": list(run.links), "counts": dict(run.counts),
            "error": run.error,
        }
        stmt = self._insert(RUNS).values(values)
        upsert = stmt.on_conflict_do_update(index_elements=[RUNS.c.id],
                                            set_={k: stmt.excluded[k] for k in values if k != "id"})
        links = [{"run_id": run.id, "link": link} for link in dict.fromkeys(run.links)]
        async with self._writing() as conn:
            await self._exec(conn, upsert)
            await self._exec(conn, delete(RUN_LINKS).where(RUN_LINKS.c.run_id == run.id))
            if links:
                await self._exec(conn, RUN_LINKS.insert(), links)

    async def get_run(self, run_id: str) -> Run | None:
        """One run.

        Args:
            run_id: the run's id.

        Returns:
            The run, or None.
        """
        row = await self._row(self._locking(select(RUNS).where(RUNS.c.id == run_id)))
        return _run(row) if row is not None else None

    async def list_runs(self, *, link: str | None = None, limit: int = 50) -> list[Run]:
        """Recent runs, newest first (by start time); ``link`` keeps runs that covered that link.

        Args:
            link: only runs that covered this link.
            limit: how many at most.

        Returns:
            The runs.
        """
        if limit <= 0:
            return []
        stmt = select(RUNS)
        if link is not None:
            stmt = stmt.where(RUNS.c.id.in_(select(RUN_LINKS.c.run_id).where(RUN_LINKS.c.link == link)))
        stmt = stmt.order_by(RUNS.c.started_at.desc(), RUNS.c.seq).limit(limit)
        return [_run(r) for r in await self._rows(stmt)]

    # -- audit -----------------------------------------------------------------------------------
    async def add_audit(self, events: Sequence[AuditEvent]) -> None:
        """Append audit events, in order.

        Args:
            events: the events to append.
        """
        if not events:
            return
        rows = [{
            "id": e.id, "at": e.at, "link": e.link, "action": e.action,
            "system": e.system.value if e.system is not None else None,
            "sf_id": e.sf_id, "ns_id": e.ns_id, "run_id": e.run_id, "fields": list(e.fields),
            "before": dict(e.before), "after": dict(e.after), "decision": e.decision,
            "reason": e.reason, "rule": e.rule,
        } for e in events]
        async with self._writing() as conn:
            await self._exec(conn, AUDIT.insert(), rows)

    async def list_audit(self, *, link: str | None = None, record_id: str | None = None,
                         run_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Audit events, newest (last appended) first.

        Args:
            link: only events of this link.
            record_id: only events about this record (either side's id).
            run_id: only events of this run.
            limit: how many at most.

        Returns:
            The events.
        """
        if limit <= 0:
            return []
        stmt = select(AUDIT)
        if link is not None:
            stmt = stmt.where(AUDIT.c.link == link)
        if record_id is not None:
            stmt = stmt.where(or_(AUDIT.c.sf_id == record_id, AUDIT.c.ns_id == record_id))
        if run_id is not None:
            stmt = stmt.where(AUDIT.c.run_id == run_id)
        return [_audit(r) for r in await self._rows(stmt.order_by(AUDIT.c.seq.desc()).limit(limit))]

    # -- dead letters ----------------------------------------------------------------------------
    async def put_dead_letter(self, letter: DeadLetter) -> None:
        """Insert or replace a dead letter by id.

        Args:
            letter: the dead letter, stored as given.
        """
        await self._upsert_by_id(DEAD_LETTERS, {
            "id": letter.id, "link": letter.link, "system": letter.system.value,
            "source_id": letter.source_id, "step": letter.step.value, "error_code": letter.error_code,
            "error_message": letter.error_message, "error_kind": letter.error_kind,
            "target_system": letter.target_system.value if letter.target_system is not None else None,
            "payload": dict(letter.payload), "attempts": letter.attempts, "status": letter.status.value,
            "run_id": letter.run_id, "created_at": letter.created_at, "updated_at": letter.updated_at,
        })

    async def get_dead_letter(self, letter_id: str) -> DeadLetter | None:
        """One dead letter.

        Args:
            letter_id: its id.

        Returns:
            The dead letter, or None.
        """
        row = await self._row(self._locking(select(DEAD_LETTERS).where(DEAD_LETTERS.c.id == letter_id)))
        return _dead_letter(row) if row is not None else None

    async def find_dead_letter(self, link: str, system: System, source_id: str) -> DeadLetter | None:
        """The open dead letter of one source record, if any (the oldest, if there are several).

        Args:
            link: the link's name.
            system: the side the record came from.
            source_id: the record's id on that side.

        Returns:
            The open dead letter, or None.
        """
        t = DEAD_LETTERS
        row = await self._row(self._locking(select(t).where(
            t.c.link == link, t.c.system == system.value, t.c.source_id == source_id,
            t.c.status == DeadLetterStatus.OPEN.value).order_by(t.c.seq).limit(1)))
        return _dead_letter(row) if row is not None else None

    async def list_dead_letters(self, *, link: str | None = None,
                                status: DeadLetterStatus | None = DeadLetterStatus.OPEN,
                                limit: int = 100) -> list[DeadLetter]:
        """Dead letters, most recently updated first (``status=None``: all).

        Args:
            link: only dead letters of this link.
            status: only dead letters in this state.
            limit: how many at most.

        Returns:
            The dead letters.
        """
        t = DEAD_LETTERS
        stmt = _filtered(select(t), (t.c.link, link), (t.c.status, status and status.value))
        return [_dead_letter(r) for r in await self._newest(stmt, t.c.updated_at, t.c.seq, limit)]

    # -- match reviews ---------------------------------------------------------------------------
    async def put_review(self, review: MatchReview) -> None:
        """Insert or replace a match review by id.

        Args:
            review: the review, stored as given.
        """
        await self._upsert_by_id(REVIEWS, {
            "id": review.id, "link": review.link, "system": review.system.value,
            "record_id": review.record_id,
            "candidates": [{"id": c.id, "score": c.score, "rule": c.rule, "label": c.label,
                            "details": dict(c.details)} for c in review.candidates],
            "created_at": review.created_at, "label": review.label, "status": review.status.value,
            "resolved_at": review.resolved_at, "chosen_id": review.chosen_id,
        })

    async def get_review(self, review_id: str) -> MatchReview | None:
        """One review.

        Args:
            review_id: its id.

        Returns:
            The review, or None.
        """
        row = await self._row(self._locking(select(REVIEWS).where(REVIEWS.c.id == review_id)))
        return _review(row) if row is not None else None

    async def find_review(self, link: str, system: System, record_id: str) -> MatchReview | None:
        """The open review of one unlinked record, if any (the oldest, if there are several).

        Args:
            link: the link's name.
            system: the side of the unlinked record.
            record_id: its id on that side.

        Returns:
            The open review, or None.
        """
        t = REVIEWS
        row = await self._row(self._locking(select(t).where(
            t.c.link == link, t.c.system == system.value, t.c.record_id == record_id,
            t.c.status == ReviewStatus.OPEN.value).order_by(t.c.seq).limit(1)))
        return _review(row) if row is not None else None

    async def list_reviews(self, *, link: str | None = None,
                           status: ReviewStatus | None = ReviewStatus.OPEN,
                           limit: int = 100) -> list[MatchReview]:
        """Reviews, newest first (``status=None``: all).

        Args:
            link: only reviews of this link.
            status: only reviews in this state.
            limit: how many at most.

        Returns:
            The reviews.
        """
        t = REVIEWS
        stmt = _filtered(select(t), (t.c.link, link), (t.c.status, status and status.value))
        return [_review(r) for r in await self._newest(stmt, t.c.created_at, t.c.seq, limit)]

    # -- conflicts -------------------------------------------------------------------------------
    async def put_conflict(self, conflict: Conflict) -> None:
        """Insert or replace a conflict by id.

        Args:
            conflict: the conflict, stored as given.
        """
        await self._upsert_by_id(CONFLICTS, {
            "id": conflict.id, "link": conflict.link, "sf_id": conflict.sf_id, "ns_id": conflict.ns_id,
            "field": conflict.field, "created_at": conflict.created_at, "base_sf": conflict.base_sf,
            "base_ns": conflict.base_ns, "sf_value": conflict.sf_value, "ns_value": conflict.ns_value,
            "status": conflict.status.value, "resolution": conflict.resolution,
            "resolved_value": conflict.resolved_value, "resolved_at": conflict.resolved_at,
        })

    async def get_conflict(self, conflict_id: str) -> Conflict | None:
        """One conflict.

        Args:
            conflict_id: its id.

        Returns:
            The conflict, or None.
        """
        row = await self._row(self._locking(select(CONFLICTS).where(CONFLICTS.c.id == conflict_id)))
        return _conflict(row) if row is not None else None

    async def list_conflicts(self, *, link: str | None = None, sf_id: str | None = None,
                             ns_id: str | None = None,
                             status: ConflictStatus | None = ConflictStatus.OPEN,
                             limit: int = 100) -> list[Conflict]:
        """Conflicts, newest first, optionally of one record pair (``status=None``: all).

        Args:
            link: only conflicts of this link.
            sf_id: only conflicts of this Salesforce record.
            ns_id: only conflicts of this NetSuite record.
            status: only conflicts in this state.
            limit: how many at most.

        Returns:
            The conflicts.
        """
        t = CONFLICTS
        stmt = _filtered(select(t), (t.c.link, link), (t.c.sf_id, sf_id), (t.c.ns_id, ns_id),
                         (t.c.status, status and status.value))
        return [_conflict(r) for r in await self._newest(stmt, t.c.created_at, t.c.seq, limit)]

    # -- one-shot steps and scale-out ------------------------------------------------------------
    async def mark_once(self, key: str) -> bool:
        """Record that a one-shot step ran.

        Inside a transaction the mark is undone if the transaction rolls back, and a concurrent
        caller with the same key waits for it (PostgreSQL) or for the write lock (SQLite).

        Args:
            key: names the step and its subject (``welcome-invoice:<customer id>``).

        Returns:
            True the first time for ``key``, False afterwards.
        """
        stmt = self._insert(MARKERS).values(key=key).on_conflict_do_nothing().returning(MARKERS.c.key)
        async with self._writing() as conn:
            return (await self._exec(conn, stmt)).first() is not None

    async def try_lock_record(self, key: str, owner: str, *, now: datetime, ttl_s: float) -> bool:
        """Take or renew a lease on ``key`` for ``owner`` until ``now + ttl_s``.

        Args:
            key: the record (or other resource) to lease.
            owner: who asks (a worker id).
            now: the caller's clock reading; a lease that ends at or before it has expired.
            ttl_s: lease length in seconds.

        Returns:
            True when ``owner`` now holds the lease; False if another owner holds an unexpired one.
        """
        stmt = self._insert(LEASES).values(key=key, owner=owner, expires_at=now + timedelta(seconds=ttl_s))
        stmt_upsert = stmt.on_conflict_do_update(
            index_elements=[LEASES.c.key],
            set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
            where=or_(LEASES.c.owner == stmt.excluded.owner, LEASES.c.expires_at <= now),
        ).returning(LEASES.c.key)
        async with self._writing() as conn:
            return (await self._exec(conn, stmt_upsert)).first() is not None

    async def unlock_record(self, key: str, owner: str) -> None:
        """Release ``owner``'s lease on ``key`` (no error when not held).

        Args:
            key: the leased record.
            owner: who releases it; another owner's lease is left alone.
        """
        await self._write(delete(LEASES).where(LEASES.c.key == key, LEASES.c.owner == owner))

    # -- helpers ---------------------------------------------------------------------------------
    async def _upsert_by_id(self, table: Table, values: dict[str, Any]) -> None:
        stmt = self._insert(table).values(values)
        await self._write(stmt.on_conflict_do_update(
            index_elements=[table.c.id], set_={k: stmt.excluded[k] for k in values if k != "id"}))

    async def _newest(self, stmt: Select[Any], at: Any, seq: Any, limit: int) -> Sequence[Row[Any]]:
        # Ties on the timestamp list in insertion order, as the in-memory store's stable sort does.
        if limit <= 0:
            return []
        return await self._rows(stmt.order_by(at.desc(), seq).limit(limit))


def _filtered(stmt: Select[Any], *conditions: tuple[Any, object]) -> Select[Any]:
    clauses = [column == value for column, value in conditions if value is not None]
    return stmt.where(and_(*clauses)) if clauses else stmt


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    batch: list[str] = []
    for i in ids:
        batch.append(i)
        if len(batch) == _IN_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


# -- rows to values --------------------------------------------------------------------------------
def _json_map(value: object) -> dict[str, JsonValue]:
    return dict(value) if isinstance(value, Mapping) else {}


def _xref(row: Row[Any]) -> Xref:
    return Xref(
        link=row.link, sf_id=row.sf_id, ns_id=row.ns_id,
        sf_baseline=_json_map(row.sf_baseline), ns_baseline=_json_map(row.ns_baseline),
        created_at=row.created_at, updated_at=row.updated_at,
        sf_modified_at=row.sf_modified_at, ns_modified_at=row.ns_modified_at,
    )


def _run(row: Row[Any]) -> Run:
    return Run(
        id=row.id, started_at=row.started_at, links=tuple(row.links), kind=row.kind,
        finished_at=row.finished_at, status=RunStatus(row.status), counts=dict(row.counts),
        error=row.error,
    )


def _audit(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        id=row.id, at=row.at, link=row.link, action=row.action,
        system=System(row.system) if row.system is not None else None,
        sf_id=row.sf_id, ns_id=row.ns_id, run_id=row.run_id, fields=tuple(row.fields),
        before=_json_map(row.before), after=_json_map(row.after), decision=row.decision,
        reason=row.reason, rule=row.rule,
    )


def _dead_letter(row: Row[Any]) -> DeadLetter:
    return DeadLetter(
        id=row.id, link=row.link, system=System(row.system), source_id=row.source_id,
        step=Step(row.step), error_code=row.error_code, error_message=row.error_message,
        created_at=row.created_at, updated_at=row.updated_at, error_kind=row.error_kind,
        target_system=System(row.target_system) if row.target_system is not None else None,
        payload=_json_map(row.payload), attempts=row.attempts, status=DeadLetterStatus(row.status),
        run_id=row.run_id,
    )


def _review(row: Row[Any]) -> MatchReview:
    return MatchReview(
        id=row.id, link=row.link, system=System(row.system), record_id=row.record_id,
        candidates=tuple(_candidate(c) for c in row.candidates), created_at=row.created_at,
        label=row.label, status=ReviewStatus(row.status), resolved_at=row.resolved_at,
        chosen_id=row.chosen_id,
    )


def _candidate(value: Mapping[str, Any]) -> MatchCandidate:
    return MatchCandidate(id=value["id"], score=value["score"], rule=value.get("rule", ""),
                          label=value.get("label", ""), details=_json_map(value.get("details")))


def _conflict(row: Row[Any]) -> Conflict:
    return Conflict(
        id=row.id, link=row.link, sf_id=row.sf_id, ns_id=row.ns_id, field=row.field,
        created_at=row.created_at, base_sf=row.base_sf, base_ns=row.base_ns, sf_value=row.sf_value,
        ns_value=row.ns_value, status=ConflictStatus(row.status), resolution=row.resolution,
        resolved_value=row.resolved_value, resolved_at=row.resolved_at,
    )

"""Engine creation for the state store: URL forms, SQLite pragmas, write locking (layer ``state``).

Imports only SQLAlchemy and ``ledgerbridge.core``.

Accepted URL forms (:func:`parse_state_url`):

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` and the explicit
  ``sqlite+aiosqlite:///...`` spelling; the parent directory is created on first use.
- ``sqlite://``, ``sqlite:///:memory:``: a private in-memory database (one connection, for tests).
- ``postgresql://...`` and ``postgres://...`` (normalised to ``postgresql+asyncpg://``), or
  ``postgresql+asyncpg://...`` / ``postgresql+psycopg://...`` as given. A ``schema=NAME`` query
  parameter puts every table (and Alembic's version table) in that schema, created when missing.
- A bare file path with no ``://`` (``./state.db``) is read as a SQLite file.

SQLite is opened in WAL mode with ``busy_timeout=5000``, ``synchronous=NORMAL`` and
``foreign_keys=ON`` on every connection. pysqlite's implicit BEGIN is turned off and every write
transaction starts with ``BEGIN IMMEDIATE``: the default driver behaviour runs the SELECT of a
read-modify-write outside the transaction and silently loses updates between processes (measured
181/300 increments kept, see shared/reference/python-stack.md §9). Read-only transactions
(:data:`READ_ONLY` execution option) use a deferred ``BEGIN`` so readers never take the write lock.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from ledgerbridge.core.errors import ConfigError

DEFAULT_STATE_PATH: Final = Path(".ledgerbridge") / "state.db"
"""Where the state lives when nothing is configured, relative to the working directory."""

DEFAULT_STATE_URL: Final = f"sqlite:///{DEFAULT_STATE_PATH.as_posix()}"
"""The default state URL: a SQLite file under ``./.ledgerbridge/``."""

READ_ONLY: Final = "ledgerbridge_read_only"
"""Connection execution option: ``True`` starts a deferred (non-locking) transaction on SQLite."""

SQLITE_BUSY_TIMEOUT_MS: Final = 5000

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PG_DRIVERS: Final = {"asyncpg", "psycopg"}


@dataclass(frozen=True, slots=True)
class StateUrl:
    """A parsed, normalised state-store URL."""

    url: URL
    schema: str | None = None

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()

    @property
    def is_memory(self) -> bool:
        """True for a private in-memory SQLite database."""
        return self.dialect == "sqlite" and self.url.database in (None, "", ":memory:")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL, else None."""
        if self.dialect != "sqlite" or self.is_memory or self.url.database is None:
            return None
        return Path(self.url.database)

    def render(self) -> str:
        """The URL as text with the password hidden, for messages and logs."""
        text = self.url.render_as_string(hide_password=True)
        return f"{text} (schema {self.schema})" if self.schema else text


def parse_state_url(url: str | None = None) -> StateUrl:
    """Normalise a state URL to its async driver form.

    Args:
        url: any form listed in the module docstring; None means :data:`DEFAULT_STATE_URL`.

    Returns:
        The normalised URL and the PostgreSQL schema, if one was asked for.

    Raises:
        ConfigError: the URL cannot be parsed, names another database, or a schema name is unsafe.
    """
    text = (url or DEFAULT_STATE_URL).strip()
    if "://" not in text:
        text = f"sqlite:///{text}"
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise ConfigError(f"state URL is not a database URL: {exc}") from None
    # Split the name by hand: get_driver_name() would load the dialect, and "postgres" has none.
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite", "aiosqlite"):
            raise ConfigError(f"state URL driver sqlite+{driver} is not supported; use sqlite:///path")
        if parsed.query:
            raise ConfigError("state URL: SQLite URLs take no query parameters")
        return StateUrl(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in ("postgresql", "postgres"):
        if driver in ("", "psycopg2"):
            driver = "asyncpg"
        elif driver not in _PG_DRIVERS:
            raise ConfigError(f"state URL driver {parsed.drivername} is not supported; "
                              "use postgresql:// (asyncpg) or postgresql+psycopg://")
        schema = parsed.query.get("schema")
        if isinstance(schema, tuple):
            raise ConfigError("state URL: give schema= once")
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ConfigError(f"state URL: schema {schema!r} must be a plain SQL identifier")
        normalised = parsed.set(drivername=f"postgresql+{driver}").difference_update_query(["schema"])
        return StateUrl(normalised, schema)
    raise ConfigError(f"state URL must be sqlite:///path or postgresql://...; got {backend}://")


def create_engine(state_url: StateUrl, *, echo: bool = False) -> AsyncEngine:
    """Build the async engine for a state URL, with the dialect's connection settings applied.

    The parent directory of a SQLite file is created here.

    Args:
        state_url: a URL from :func:`parse_state_url`.
        echo: log every statement (debugging).

    Returns:
        An :class:`AsyncEngine`; the caller disposes of it.
    """
    kwargs: dict[str, Any] = {"echo": echo}
    if state_url.dialect == "sqlite":
        if state_url.is_memory:
            # One shared connection, or every checkout would see its own empty database.
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            path = state_url.sqlite_path
            assert path is not None
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(state_url.url, **kwargs)
        _install_sqlite_listeners(engine)
        return engine
    if state_url.schema:
        if state_url.url.get_driver_name() == "asyncpg":
            kwargs["connect_args"] = {"server_settings": {"search_path": state_url.schema}}
        else:
            kwargs["connect_args"] = {"options": f"-c search_path={state_url.schema}"}
    kwargs["pool_pre_ping"] = True
    return create_async_engine(state_url.url, **kwargs)


def _set_wal(cursor: Any) -> None:
    """Switch a connection to WAL. On a new database file several connections opening at once race
    for the exclusive lock this needs, and SQLite may answer "locked" at once rather than wait (a
    busy handler is not called where waiting could deadlock), so the switch is retried briefly."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _install_sqlite_listeners(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite; the "begin" listener issues BEGIN itself.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            # The busy timeout first, so that the switch to WAL waits for other connections.
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            _set_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

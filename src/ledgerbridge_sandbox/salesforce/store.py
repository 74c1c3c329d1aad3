"""SQLite storage of the Salesforce sandbox: records as JSON, key indexes, sessions, metadata.

Persistence layer; imports only the standard library. One connection, used synchronously from
the server's event loop thread (handlers never hold a transaction across an ``await``). A file
path makes the org survive restarts; ``:memory:`` keeps it in the process.

Records of a type are decoded once into an in-memory cache (``type -> id -> dict``) that is
kept in step with every write, so SOQL scans do not re-parse JSON. Transactions nest as
SQLite savepoints; rolling one back also drops the cache of every type it touched, so the cache
can never show uncommitted data.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Record = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    modstamp TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_type ON records(type, is_deleted);
CREATE INDEX IF NOT EXISTS records_by_modstamp ON records(type, modstamp);
CREATE TABLE IF NOT EXISTS record_keys (
    type TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS record_keys_lookup ON record_keys(type, field, value);
CREATE INDEX IF NOT EXISTS record_keys_by_id ON record_keys(id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL,
    issued_at REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS change_events (
    replay_id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    commit_ms INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS change_events_by_time ON change_events(commit_ms);
"""


class Rollback(Exception):
    """Raise inside ``Store.transaction()`` to undo that (nested) transaction quietly."""


@dataclass
class _Level:
    touched: set[str] = field(default_factory=set)
    hooks: list[Callable[[], None]] = field(default_factory=list)


class Store:
    """The org's SQLite database plus a decoded-record cache.

    Args:
        path: a database file, or ``":memory:"``.
    """

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        if path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._cache: dict[str, dict[str, Record]] = {}
        self._levels: list[_Level] = []
        self._sequence = int(self.get_meta("sequence") or 0)
        self.transaction_serial = 0

    # -- transactions -------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return bool(self._levels)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Open a transaction (a savepoint when nested); commit on exit, undo on exception.

        Raising ``Rollback`` inside undoes this level and is swallowed.

        Yields:
            Nothing.
        """
        depth = len(self._levels)
        if depth == 0:
            self.db.execute("BEGIN")
            self.transaction_serial += 1
        else:
            self.db.execute(f"SAVEPOINT sp{depth}")
        self._levels.append(_Level())
        try:
            yield
        except Rollback:
            self._undo(depth)
        except BaseException:
            self._undo(depth)
            raise
        else:
            level = self._levels.pop()
            if depth == 0:
                self.db.execute("COMMIT")
                for hook in level.hooks:
                    hook()
            else:
                self.db.execute(f"RELEASE SAVEPOINT sp{depth}")
                parent = self._levels[-1]
                parent.touched |= level.touched
                parent.hooks.extend(level.hooks)

    def _undo(self, depth: int) -> None:
        level = self._levels.pop()
        if depth == 0:
            self.db.execute("ROLLBACK")
        else:
            self.db.execute(f"ROLLBACK TO SAVEPOINT sp{depth}")
            self.db.execute(f"RELEASE SAVEPOINT sp{depth}")
        for type_name in level.touched:
            self._cache.pop(type_name, None)
        if depth == 0:
            self._sequence = int(self.get_meta("sequence") or self._sequence)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the outermost transaction commits (dropped if it rolls back)."""
        if self._levels:
            self._levels[-1].hooks.append(hook)
        else:
            hook()

    def _touch(self, type_name: str) -> None:
        if self._levels:
            self._levels[-1].touched.add(type_name)

    # -- ids ----------------------------------------------------------------------------

    def next_sequence(self, n: int = 1) -> int:
        """Reserve ``n`` consecutive sequence numbers for new ids; returns the first."""
        first = self._sequence + 1
        self._sequence += n
        self.set_meta("sequence", str(self._sequence))
        return first

    # -- records ------------------------------------------------------------------------

    def records(self, type_name: str) -> dict[str, Record]:
        """All records of a type, deleted ones included (``id -> record``; do not mutate)."""
        cached = self._cache.get(type_name)
        if cached is None:
            cached = {
                row[0]: json.loads(row[1])
                for row in self.db.execute(
                    "SELECT id, data FROM records WHERE type = ? ORDER BY rowid", (type_name,)
                )
            }
            self._cache[type_name] = cached
        return cached

    def get(self, type_name: str, record_id: str) -> Record | None:
        """One record (deleted or not) or ``None``."""
        return self.records(type_name).get(record_id)

    def put(self, type_name: str, record: Record, keys: Iterable[tuple[str, str]] = ()) -> None:
        """Insert or replace a record and its key-index entries.

        Args:
            type_name: the sObject type.
            record: the full record (must hold ``Id``, ``IsDeleted`` and ``SystemModstamp``).
            keys: ``(field, normalised value)`` pairs to index for lookups (empty when deleted).
        """
        rid = record["Id"]
        cache = self.records(type_name)
        self.db.execute(
            "INSERT OR REPLACE INTO records (id, type, is_deleted, modstamp, data) VALUES (?, ?, ?, ?, ?)",
            (
                rid,
                type_name,
                1 if record.get("IsDeleted") else 0,
                record["SystemModstamp"],
                json.dumps(record, separators=(",", ":")),
            ),
        )
        self.db.execute("DELETE FROM record_keys WHERE id = ?", (rid,))
        rows = [(type_name, f, v, rid) for f, v in keys]
        if rows:
            self.db.executemany("INSERT INTO record_keys (type, field, value, id) VALUES (?, ?, ?, ?)", rows)
        cache[rid] = record
        self._touch(type_name)

    def remove(self, type_name: str, record_id: str) -> None:
        """Erase a record for good (hard delete)."""
        self.records(type_name).pop(record_id, None)
        self.db.execute("DELETE FROM records WHERE id = ?", (record_id,))
        self.db.execute("DELETE FROM record_keys WHERE id = ?", (record_id,))
        self._touch(type_name)

    def bulk_insert(self, type_name: str, records: list[Record], keys: list[tuple[str, str, str]]) -> None:
        """Insert many new records at once (seeding); ``keys`` are ``(id, field, value)``."""
        cache = self.records(type_name)
        self.db.executemany(
            "INSERT INTO records (id, type, is_deleted, modstamp, data) VALUES (?, ?, 0, ?, ?)",
            [
                (r["Id"], type_name, r["SystemModstamp"], json.dumps(r, separators=(",", ":")))
                for r in records
            ],
        )
        self.db.executemany(
            "INSERT INTO record_keys (type, field, value, id) VALUES (?, ?, ?, ?)",
            [(type_name, f, v, rid) for rid, f, v in keys],
        )
        for r in records:
            cache[r["Id"]] = r
        self._touch(type_name)

    def find_key(self, type_name: str, field_name: str, value: str) -> list[str]:
        """Ids of live records of a type whose indexed ``field_name`` equals ``value``."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM record_keys WHERE type = ? AND field = ? AND value = ?",
                (type_name, field_name, value),
            )
        ]

    def count(self, type_name: str) -> int:
        """Number of live records of a type."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM records WHERE type = ? AND is_deleted = 0", (type_name,)
        ).fetchone()
        return int(row[0])

    # -- metadata -----------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A stored setting, or ``None``."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- whole database -----------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every record, key, change event and setting (sessions stay valid).

        Replay ids keep counting up across a wipe, so a subscriber never sees one reused.
        """
        self.db.executescript(
            "DELETE FROM records; DELETE FROM record_keys; DELETE FROM meta;DELETE FROM change_events;"
        )
        self._cache.clear()
        self._sequence = 0

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

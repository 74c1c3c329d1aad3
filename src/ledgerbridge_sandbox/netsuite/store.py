"""SQLite state of one sandbox account: records as JSON, id sequences, and the SuiteQL tables.

Layer: persistence; imports ``tables`` only.

``records`` holds one row per record: family, internal id, record type, external id, refName,
last-modified stamp and the record body as JSON (canonical REST field names). Internal ids are
unique per family. Writes also replace the rows the record owns in the ``sq_*`` SuiteQL tables, so
a query never sees a record half-written. The file may be ``:memory:``.

One connection, used under one lock: the sandbox runs its handlers on one event loop, and the
lock makes the test helpers' direct calls from another thread safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ledgerbridge_sandbox.netsuite.tables import OWNED_TABLES, TRANSACTION_STATUS_ROWS, Projector, Table

_TYPE_SQL = {
    "int": "INTEGER",
    "float": "REAL",
    "text": "TEXT",
    "bool": "TEXT",
    "date": "REAL",
    "datetime": "REAL",
}
_INDEXED = {
    "customer": ("lastmodifieddate", "entityid", "email", "externalid"),
    "contact": ("company", "lastmodifieddate", "email"),
    "transaction": ("entity", "type", "lastmodifieddate", "tranid"),
    "transactionline": ("transaction", "item", "createdfrom"),
    "item": ("itemid", "lastmodifieddate"),
    "pricing": ("item",),
    "customersubsidiaryrelationship": ("entity",),
    "deletedrecord": ("deleteddate",),
}


_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False, ensure_ascii=False)
_INSERT_RECORD = (
    "INSERT OR REPLACE INTO records (family, id, type, external_id, ref_name, last_modified, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored."""

    type: str
    id: int
    data: dict[str, Any]
    ref_name: str


class Store:
    """The SQLite database of one account."""

    def __init__(self, path: str, tables: Mapping[str, Table]) -> None:
        """Open (and create when needed) the database.

        Args:
            path: file path or ``:memory:``.
            tables: the SuiteQL tables to keep.
        """
        self.path = path
        self.tables = dict(tables)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA case_sensitive_like = ON")
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        self._depth = 0
        self._create()

    # schema -----------------------------------------------------------------------------------

    def _create(self) -> None:
        c = self.conn
        c.execute("""CREATE TABLE IF NOT EXISTS records (
            family TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, external_id TEXT,
            ref_name TEXT, last_modified TEXT, data TEXT NOT NULL, PRIMARY KEY (family, id))""")
        c.execute("CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        c.execute("""CREATE TABLE IF NOT EXISTS apply_links (
            source_id INTEGER NOT NULL, doc_id INTEGER NOT NULL, amount REAL NOT NULL)""")
        for table in self.tables.values():
            cols = ", ".join(f'"{col.name}" {_TYPE_SQL[col.type]}' for col in table.columns.values())
            c.execute(f"CREATE TABLE IF NOT EXISTS {table.sql_name} (_owner INTEGER, {cols})")
            existing = {row[1] for row in c.execute(f"PRAGMA table_info({table.sql_name})")}
            for col in table.columns.values():
                if col.name not in existing:
                    c.execute(f'ALTER TABLE {table.sql_name} ADD COLUMN "{col.name}" {_TYPE_SQL[col.type]}')
        self.create_indexes()
        if "transactionstatus" in self.tables:
            c.execute("DELETE FROM sq_transactionstatus")
            c.executemany(
                "INSERT INTO sq_transactionstatus (_owner, id, trantype, name, fullname) "
                "VALUES (0, ?, ?, ?, ?)",
                [
                    (letter, code, label, f"{code}:{letter}")
                    for letter, code, label in TRANSACTION_STATUS_ROWS
                ],
            )

    def _index_statements(self) -> list[tuple[str, str]]:
        out = [
            ("records_eid", "CREATE UNIQUE INDEX IF NOT EXISTS records_eid ON records(type, external_id)"),
            ("records_type", "CREATE INDEX IF NOT EXISTS records_type ON records(type, id)"),
            ("records_lm", "CREATE INDEX IF NOT EXISTS records_lm ON records(type, last_modified)"),
            ("apply_doc", "CREATE INDEX IF NOT EXISTS apply_doc ON apply_links(doc_id)"),
            ("apply_src", "CREATE INDEX IF NOT EXISTS apply_src ON apply_links(source_id)"),
        ]
        for table in self.tables.values():
            t = table.sql_name
            out.append((f"{t}_owner", f"CREATE INDEX IF NOT EXISTS {t}_owner ON {t}(_owner)"))
            for col_name in dict.fromkeys([next(iter(table.columns)), *_INDEXED.get(table.name, ())]):
                out.append(
                    (f"{t}_{col_name}", f'CREATE INDEX IF NOT EXISTS {t}_{col_name} ON {t}("{col_name}")')
                )
        return out

    def create_indexes(self) -> None:
        """Create every index (after a bulk load)."""
        with self.lock:
            for _, sql in self._index_statements():
                self.conn.execute(sql)

    def drop_indexes(self) -> None:
        """Drop the indexes (before a bulk load into an empty account, which is faster without them)."""
        with self.lock:
            for name, _ in self._index_statements():
                self.conn.execute(f"DROP INDEX IF EXISTS {name}")

    def wipe(self) -> None:
        """Delete every record, sequence and SuiteQL row (reset to an empty account)."""
        with self.lock, self.transaction():
            for name in ("records", "sequences", "meta", "apply_links"):
                self.conn.execute(f"DELETE FROM {name}")
            for table in self.tables.values():
                if table.name != "transactionstatus":
                    self.conn.execute(f"DELETE FROM {table.sql_name}")

    # transactions -----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block atomically; nested blocks join the outer one."""
        with self.lock:
            if self._depth == 0:
                self.conn.execute("BEGIN")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if self._depth == 0:
                    self.conn.execute("COMMIT")

    # sequences --------------------------------------------------------------------------------

    def next_value(self, name: str, start: int = 1) -> int:
        """Take the next number of a named sequence.

        Args:
            name: sequence name (an id family, ``tranid:SO``, ...).
            start: first value handed out.

        Returns:
            The number.
        """
        with self.lock:
            row = self.conn.execute("SELECT value FROM sequences WHERE name = ?", (name,)).fetchone()
            value = start if row is None else max(int(row[0]) + 1, start)
            self.conn.execute("INSERT OR REPLACE INTO sequences (name, value) VALUES (?, ?)", (name, value))
            return value

    def bump_sequence(self, name: str, at_least: int) -> None:
        """Make sure the next value of a sequence is above ``at_least``."""
        with self.lock:
            row = self.conn.execute("SELECT value FROM sequences WHERE name = ?", (name,)).fetchone()
            if row is None or int(row[0]) < at_least:
                self.conn.execute(
                    "INSERT OR REPLACE INTO sequences (name, value) VALUES (?, ?)", (name, at_least)
                )

    def get_meta(self, key: str) -> str | None:
        """Read a metadata value."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Write a metadata value."""
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # records ----------------------------------------------------------------------------------

    def get(self, family: str, rid: int) -> StoredRecord | None:
        """Load a record by family and internal id."""
        with self.lock:
            row = self.conn.execute(
                "SELECT type, data, ref_name FROM records WHERE family = ? AND id = ?", (family, rid)
            ).fetchone()
        if row is None:
            return None
        return StoredRecord(row[0], rid, json.loads(row[1]), row[2] or "")

    def ref_info(self, family: str, rid: int) -> tuple[str, str] | None:
        """``(type, refName)`` of a record, or None."""
        with self.lock:
            row = self.conn.execute(
                "SELECT type, ref_name FROM records WHERE family = ? AND id = ?", (family, rid)
            ).fetchone()
        return None if row is None else (row[0], row[1] or "")

    def id_by_external_id(self, rtype: str, external_id: str) -> int | None:
        """Internal id of the record of a type with an external id, or None."""
        with self.lock:
            row = self.conn.execute(
                "SELECT id FROM records WHERE type = ? AND external_id = ?", (rtype, external_id)
            ).fetchone()
        return None if row is None else int(row[0])

    def list_ids(self, rtype: str, limit: int, offset: int) -> tuple[list[int], int]:
        """A page of ids of a record type in id order, and the total count."""
        with self.lock:
            total = int(
                self.conn.execute("SELECT COUNT(*) FROM records WHERE type = ?", (rtype,)).fetchone()[0]
            )
            ids = [
                int(r[0])
                for r in self.conn.execute(
                    "SELECT id FROM records WHERE type = ? ORDER BY id LIMIT ? OFFSET ?",
                    (rtype, limit, offset),
                )
            ]
        return ids, total

    def iter_type(self, rtype: str) -> list[StoredRecord]:
        """Every record of a type, in id order."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT id, data, ref_name FROM records WHERE type = ? ORDER BY id", (rtype,)
            ).fetchall()
        return [StoredRecord(rtype, int(r[0]), json.loads(r[1]), r[2] or "") for r in rows]

    def count(self, rtype: str) -> int:
        """Number of records of a type."""
        with self.lock:
            return int(
                self.conn.execute("SELECT COUNT(*) FROM records WHERE type = ?", (rtype,)).fetchone()[0]
            )

    def put(
        self, family: str, rtype: str, rid: int, data: Mapping[str, Any], ref_name: str, projector: Projector
    ) -> None:
        """Insert or replace a record and its SuiteQL rows.

        Args:
            family: id family.
            rtype: record type.
            rid: internal id.
            data: record body (canonical names).
            ref_name: display name for references.
            projector: builds the SuiteQL rows.
        """
        blob = _ENCODER.encode(data)
        rows = projector.project(rtype, rid, data)
        with self.lock, self.transaction():
            self.conn.execute(
                _INSERT_RECORD,
                (family, rid, rtype, data.get("externalId"), ref_name, data.get("lastModifiedDate"), blob),
            )
            self._replace_rows(rtype, rid, rows)

    def put_many(self, items: list[tuple[str, str, int, dict[str, Any], str]], projector: Projector) -> None:
        """Insert many new records at once (seeding): ``(family, type, id, data, refName)`` each."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        record_rows = []
        for family, rtype, rid, data, ref_name in items:
            record_rows.append(
                (
                    family,
                    rid,
                    rtype,
                    data.get("externalId"),
                    ref_name,
                    data.get("lastModifiedDate"),
                    _ENCODER.encode(data),
                )
            )
            for table, rows in projector.project(rtype, rid, data).items():
                for row in rows:
                    row["_owner"] = rid
                by_table.setdefault(table, []).extend(rows)
        with self.lock, self.transaction():
            self.conn.executemany(
                _INSERT_RECORD,
                record_rows,
            )
            for table, rows in by_table.items():
                self._insert_rows(table, rows)

    def reproject(self, rtype: str, rid: int, data: Mapping[str, Any], projector: Projector) -> None:
        """Rewrite only the SuiteQL rows of a record (for time-dependent columns)."""
        with self.lock, self.transaction():
            self._replace_rows(rtype, rid, projector.project(rtype, rid, data))

    def _replace_rows(self, rtype: str, rid: int, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        for table in OWNED_TABLES.get(rtype, ()):
            self.conn.execute(f"DELETE FROM sq_{table} WHERE _owner = ?", (rid,))
        for table, table_rows in rows.items():
            for row in table_rows:
                row["_owner"] = rid
            self._insert_rows(table, table_rows)

    def _insert_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        known = self.tables[table].columns
        present: set[str] = set()
        for r in rows:
            present.update(r)
        cols = ["_owner", *[c for c in known if c in present]]
        sql = (
            f"INSERT INTO sq_{table} ({', '.join(repr_col(c) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})"
        )
        self.conn.executemany(sql, [tuple(map(r.get, cols)) for r in rows])

    def delete(self, family: str, rtype: str, rid: int) -> None:
        """Delete a record and its SuiteQL rows."""
        with self.lock, self.transaction():
            self.conn.execute("DELETE FROM records WHERE family = ? AND id = ?", (family, rid))
            for table in OWNED_TABLES.get(rtype, ()):
                self.conn.execute(f"DELETE FROM sq_{table} WHERE _owner = ?", (rid,))
            self.conn.execute("DELETE FROM apply_links WHERE source_id = ?", (rid,))

    def add_deleted(self, row: Mapping[str, Any]) -> None:
        """Append a ``deletedrecord`` row."""
        with self.lock:
            self._insert_rows("deletedrecord", [dict(row, _owner=0)])

    # apply links (payments / credit memos -> invoices) -------------------------------------

    def set_apply_links(self, source_id: int, links: list[tuple[int, float]]) -> None:
        """Replace the invoice applications of a payment or credit memo."""
        with self.lock, self.transaction():
            self.conn.execute("DELETE FROM apply_links WHERE source_id = ?", (source_id,))
            self.conn.executemany(
                "INSERT INTO apply_links (source_id, doc_id, amount) VALUES (?, ?, ?)",
                [(source_id, doc, amt) for doc, amt in links],
            )

    def applied_to(self, doc_id: int, *, excluding: int | None = None) -> float:
        """Total applied to an invoice by payments and credit memos (optionally minus one source)."""
        with self.lock:
            if excluding is None:
                row = self.conn.execute(
                    "SELECT SUM(amount) FROM apply_links WHERE doc_id = ?", (doc_id,)
                ).fetchone()
            else:
                row = self.conn.execute(
                    "SELECT SUM(amount) FROM apply_links WHERE doc_id = ? AND source_id != ?",
                    (doc_id, excluding),
                ).fetchone()
        return float(row[0] or 0.0)

    def sources_applied_to(self, doc_id: int) -> list[int]:
        """Payments and credit memos applied to an invoice."""
        with self.lock:
            return [
                int(r[0])
                for r in self.conn.execute(
                    "SELECT DISTINCT source_id FROM apply_links WHERE doc_id = ?", (doc_id,)
                )
            ]

    # queries ----------------------------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read query."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()


def repr_col(name: str) -> str:
    """Quote a column name for SQLite."""
    return '"' + name.replace('"', '""') + '"'

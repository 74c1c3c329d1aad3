"""Change Data Capture log of the Salesforce sandbox (reference §9.1).

Domain layer; imports the store and the clock. Every committed create, update, delete and
undelete appends one change event with a ``ChangeEventHeader`` and a monotonically increasing
replay id. Events are kept for a retention window (72 hours by default, measured on the
sandbox clock) and then purged, like the real event bus.

The interface a push server (e.g. a future gRPC Pub/Sub emulation) needs is small:
``read_after(replay_id, limit, entity)`` for catch-up and replay, ``latest_replay_id()`` for the
LATEST preset, ``earliest_replay_id()`` for EARLIEST, and ``await wait(after, timeout)`` to sleep
until something newer is committed. Payload values keep the REST formats (datetimes as
``2024-01-01T00:00:00.000+0000`` strings); a binary encoder converts them as it needs.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

from ledgerbridge_sandbox.salesforce.clock import Clock
from ledgerbridge_sandbox.salesforce.store import Store
from ledgerbridge_sandbox.salesforce.values import epoch_ms

DEFAULT_RETENTION_S = 72 * 3600  # CDC retention in the event bus: 72 hours (reference §9.1)


@dataclass(frozen=True)
class ChangeEvent:
    """One committed change event."""

    replay_id: int
    entity: str
    commit_ms: int
    payload: dict[str, Any]

    @property
    def channel(self) -> str:
        """The CometD channel, e.g. ``/data/AccountChangeEvent`` or ``/data/Foo__ChangeEvent``."""
        name = (
            self.entity[:-3] + "__ChangeEvent" if self.entity.endswith("__c") else self.entity + "ChangeEvent"
        )
        return f"/data/{name}"

    @property
    def header(self) -> dict[str, Any]:
        """The ``ChangeEventHeader``."""
        header: dict[str, Any] = self.payload["ChangeEventHeader"]
        return header

    def as_json(self) -> dict[str, Any]:
        """The event as the admin API returns it (CometD-like ``{channel, payload, event}``)."""
        return {
            "channel": self.channel,
            "replayId": self.replay_id,
            "payload": self.payload,
            "event": {"replayId": self.replay_id},
        }


class ChangeLog:
    """Append-only, retention-bounded log of change events stored in SQLite.

    Args:
        store: the org's store (events are written inside its transactions).
        clock: the sandbox clock (commit timestamps and retention).
        retention_s: how long events stay readable.
    """

    def __init__(self, store: Store, clock: Clock, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self.store = store
        self.clock = clock
        self.retention_s = retention_s
        self._tx_serial = -1
        self._tx_key = ""
        self._tx_seq = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._last_purge_ms = 0

    def append(
        self,
        *,
        entity: str,
        record_ids: list[str],
        change_type: str,
        fields: dict[str, Any],
        changed_fields: list[str],
        nulled_fields: list[str],
        commit_user: str,
        origin: str,
    ) -> None:
        """Record one change; call inside the store transaction that makes the change.

        Args:
            entity: the sObject type.
            record_ids: ids sharing this change.
            change_type: CREATE, UPDATE, DELETE or UNDELETE.
            fields: payload field values (compound fields already nested).
            changed_fields: for UPDATE, the changed field names (``BillingAddress.City`` style).
            nulled_fields: fields explicitly set to null.
            commit_user: 18-char id of the user who made the change.
            origin: the ``changeOrigin`` text (empty for changes not made through the API).
        """
        serial = self.store.transaction_serial
        if serial != self._tx_serial:
            self._tx_serial = serial
            self._tx_key = str(uuid.uuid4())
            self._tx_seq = 0
        self._tx_seq += 1
        now_ms = epoch_ms(self.clock.now())
        header = {
            "entityName": entity,
            "recordIds": record_ids,
            "changeType": change_type,
            "changeOrigin": origin,
            "transactionKey": self._tx_key,
            "sequenceNumber": self._tx_seq,
            "commitTimestamp": now_ms,
            "commitNumber": now_ms * 1000 + serial % 1000,
            "commitUser": commit_user,
            "nulledFields": nulled_fields,
            "diffFields": [],
            "changedFields": changed_fields,
        }
        payload = {"ChangeEventHeader": header, **fields}
        self.store.db.execute(
            "INSERT INTO change_events (entity, commit_ms, payload) VALUES (?, ?, ?)",
            (entity, now_ms, json.dumps(payload, separators=(",", ":"))),
        )
        self.store.after_commit(self._notify)
        if now_ms - self._last_purge_ms > 60_000:
            self.purge()

    def purge(self) -> int:
        """Delete events older than the retention window; returns how many went."""
        now_ms = epoch_ms(self.clock.now())
        self._last_purge_ms = now_ms
        cutoff = now_ms - int(self.retention_s * 1000)
        cur = self.store.db.execute("DELETE FROM change_events WHERE commit_ms < ?", (cutoff,))
        return cur.rowcount

    def read_after(self, replay_id: int, limit: int = 100, entity: str | None = None) -> list[ChangeEvent]:
        """Events with a replay id greater than ``replay_id``, oldest first.

        Args:
            replay_id: resume after this id (0 or -1 for the earliest retained).
            limit: most events to return.
            entity: only this sObject type (case-insensitive) when given.

        Returns:
            The events.
        """
        if not self.store.in_transaction:
            self.purge()
        sql = "SELECT replay_id, entity, commit_ms, payload FROM change_events WHERE replay_id > ?"
        params: list[Any] = [replay_id]
        if entity:
            sql += " AND entity = ? COLLATE NOCASE"
            params.append(entity)
        sql += " ORDER BY replay_id LIMIT ?"
        params.append(limit)
        return [
            ChangeEvent(int(r[0]), str(r[1]), int(r[2]), json.loads(r[3]))
            for r in self.store.db.execute(sql, params)
        ]

    def latest_replay_id(self) -> int:
        """The newest replay id ever assigned (0 when none)."""
        row = self.store.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'change_events'").fetchone()
        return int(row[0]) if row else 0

    def earliest_replay_id(self) -> int | None:
        """The oldest retained replay id, or ``None`` when the log is empty."""
        row = self.store.db.execute("SELECT MIN(replay_id) FROM change_events").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    async def wait(self, after: int, timeout: float) -> bool:
        """Sleep until an event newer than ``after`` is committed, or ``timeout`` passes.

        Args:
            after: the replay id the caller has already seen.
            timeout: seconds to wait at most.

        Returns:
            Whether a newer event exists.
        """
        if self.latest_replay_id() > after:
            return True
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
        return self.latest_replay_id() > after

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_resolve, fut)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)

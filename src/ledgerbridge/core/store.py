"""The state-store port: what the engine keeps between runs, and the values it keeps (layer ``core``).

The engine is the only writer; adapters (``ledgerbridge.state`` for SQLAlchemy, the in-memory store in
``ledgerbridge.engine.memory_store``) implement :class:`StateStore`. Everything here is a plain frozen
value so it can be stored as rows and JSON columns without translation.

Contract for adapters (the engine relies on every point):

* **Transactions.** ``async with store.transaction():`` groups writes; they become visible to other
  readers and durable together when the block exits normally, and are all discarded when it raises.
  Reads inside the block see the block's own writes. A nested ``transaction()`` joins the outer one.
  A write outside any transaction commits on its own (autocommit). The engine commits one record's
  xref + audit events + dead-letter/review/conflict changes in one transaction, and moves a
  watermark in its own transaction only after the batch it covers is committed.
* **Xrefs** are unique per ``(link, sf_id)`` and per ``(link, ns_id)``. :meth:`StateStore.put_xref`
  replaces any row that matches either key (a relink after a Salesforce merge changes ``sf_id``).
* **Ids** of dead letters, reviews and conflicts are chosen by the engine (uuid4 hex); the store
  keeps them as given. ``put_*`` methods insert or replace by id.
* **Times** are timezone-aware UTC datetimes supplied by the engine's clock; the store never reads
  the wall clock except for lease expiry in :meth:`StateStore.try_lock_record` (it gets ``now``).
* **JSON values** (baselines, payloads, audit before/after, candidate details) are ``JsonValue``
  trees: store them as JSON, return equal values (dict key order need not be kept).
* Listing methods return newest first unless the docstring says otherwise, and honour ``limit``.

Changes to this module are kept backward compatible (new methods get a default in the in-memory
store and are listed under *History* below).

History:
    v1: initial port.
    v2: ``Xref.deleted_on`` (nullable; store it as a string column, ``None`` for open pairs). A
        closed pair keeps its row so the surviving record is not matched or re-created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ledgerbridge.core.records import JsonValue, System, Watermark

__all__ = [
    "AuditEvent",
    "Conflict",
    "ConflictStatus",
    "DeadLetter",
    "DeadLetterStatus",
    "MatchCandidate",
    "MatchReview",
    "ReviewStatus",
    "Run",
    "RunStatus",
    "StateStore",
    "Step",
    "Xref",
]


class Step(StrEnum):
    """The step of the sync pipeline where a record failed (kept on dead letters)."""

    FETCH = "fetch"
    MAP = "map"
    MATCH = "match"
    REF = "ref"
    MERGE = "merge"
    WRITE = "write"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Xref:
    """One linked pair of records and the baseline of each side.

    A baseline holds the values of the link's mapped fields on that side, in that side's own
    vocabulary, as they stood right after the last sync. Keys are the field mappings' names
    (``FieldMapSpec.key``: the ``name``, else the Salesforce path, else the NetSuite path); a value is
    that side's value at the field's path(s) (an object of path -> value for multi-path fields), or,
    when the field has no path on that side, the value its mapping computes from that side.
    """

    link: str
    sf_id: str
    ns_id: str
    sf_baseline: Mapping[str, JsonValue] = field(default_factory=dict)
    ns_baseline: Mapping[str, JsonValue] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sf_modified_at: datetime | None = None  # modification stamp of the record the baseline came from
    ns_modified_at: datetime | None = None
    deleted_on: System | None = None  # v2: the pair is closed because this side's record was deleted

    @property
    def is_closed(self) -> bool:
        """True when one record of the pair was deleted and the delete policy has been applied; the
        surviving record is then left alone (neither synced nor matched again)."""
        return self.deleted_on is not None

    def id_of(self, system: System) -> str:
        """This pair's id on ``system``."""
        return self.sf_id if system is System.SALESFORCE else self.ns_id

    def baseline_of(self, system: System) -> Mapping[str, JsonValue]:
        """The baseline of ``system``'s side."""
        return self.sf_baseline if system is System.SALESFORCE else self.ns_baseline


class RunStatus(StrEnum):
    """Where a run stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every record synced, skipped or waiting
    FAILED = "failed"  # at least one record dead-lettered, or the run itself failed
    INTERRUPTED = "interrupted"  # stopped (signal, crash) before the end


@dataclass(frozen=True, slots=True)
class Run:
    """One sync pass (or reconcile/heal) over one or more links."""

    id: str
    started_at: datetime
    links: tuple[str, ...] = ()
    kind: str = "sync"  # sync | plan | reconcile | heal | retry
    finished_at: datetime | None = None
    status: RunStatus = RunStatus.RUNNING
    counts: Mapping[str, int] = field(default_factory=dict)  # synced, skipped, waiting, dead_lettered ...
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One decision the engine took about one record pair, with before/after values."""

    id: str
    at: datetime
    link: str
    action: str  # create | update | link | unlink | relink | deactivate | delete | skip | conflict | ...
    system: System | None = None  # the side that was written or decided about
    sf_id: str | None = None
    ns_id: str | None = None
    run_id: str | None = None
    fields: tuple[str, ...] = ()
    before: Mapping[str, JsonValue] = field(default_factory=dict)
    after: Mapping[str, JsonValue] = field(default_factory=dict)
    decision: str = ""  # e.g. salesforce_wins, netsuite_wins, newest, parked, ignored
    reason: str = ""
    rule: str = ""  # the policy or match rule that decided


class DeadLetterStatus(StrEnum):
    """Life cycle of a dead letter."""

    OPEN = "open"
    RESOLVED = "resolved"  # a retry succeeded
    DISCARDED = "discarded"  # a person gave up on it


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be synced, with the system's own error and the failing step."""

    id: str
    link: str
    system: System  # the side the record came from
    source_id: str
    step: Step
    error_code: str
    error_message: str
    created_at: datetime
    updated_at: datetime
    error_kind: str = "record"  # ErrorKind value
    target_system: System | None = None
    payload: Mapping[str, JsonValue] = field(default_factory=dict)  # mapped values, or the source fields
    attempts: int = 1
    status: DeadLetterStatus = DeadLetterStatus.OPEN
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class MatchCandidate:
    """A possible partner of an unlinked record, with its score (0–100) and why."""

    id: str
    score: float
    rule: str = ""  # external_id | key:<name> | fuzzy
    label: str = ""  # a display name
    details: Mapping[str, JsonValue] = field(default_factory=dict)


class ReviewStatus(StrEnum):
    """Life cycle of a match review."""

    OPEN = "open"
    LINKED = "linked"
    CREATED = "created"
    DISMISSED = "dismissed"


@dataclass(frozen=True, slots=True)
class MatchReview:
    """An unlinked record whose best match scored between the review and auto thresholds."""

    id: str
    link: str
    system: System  # side of the unlinked record
    record_id: str
    candidates: tuple[MatchCandidate, ...]
    created_at: datetime
    label: str = ""
    status: ReviewStatus = ReviewStatus.OPEN
    resolved_at: datetime | None = None
    chosen_id: str | None = None


class ConflictStatus(StrEnum):
    """Life cycle of a field conflict."""

    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A field changed differently on both sides whose policy says ``review``."""

    id: str
    link: str
    sf_id: str
    ns_id: str
    field: str  # the field mapping's name
    created_at: datetime
    base_sf: JsonValue = None
    base_ns: JsonValue = None
    sf_value: JsonValue = None
    ns_value: JsonValue = None
    status: ConflictStatus = ConflictStatus.OPEN
    resolution: str | None = None  # salesforce | netsuite | value
    resolved_value: JsonValue = None
    resolved_at: datetime | None = None


@runtime_checkable
class StateStore(Protocol):
    """Durable engine state: xrefs, watermarks, runs, audit, dead letters, reviews, conflicts.

    See the module docstring for the transaction and uniqueness contract.
    """

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Group the writes made inside ``async with`` into one atomic commit."""
        ...

    # -- xrefs -----------------------------------------------------------------------------------
    async def get_xref(self, link: str, system: System, id: str) -> Xref | None:
        """The xref of ``link`` whose ``system``-side id is ``id``."""
        ...

    async def get_xrefs(self, link: str, system: System, ids: Sequence[str]) -> dict[str, Xref]:
        """Xrefs for many ids of one side, keyed by that side's id (missing ids are left out)."""
        ...

    async def put_xref(self, xref: Xref) -> None:
        """Insert or replace (matching on either ``(link, sf_id)`` or ``(link, ns_id)``)."""
        ...

    async def delete_xref(self, link: str, sf_id: str, ns_id: str) -> None:
        """Remove a link between two records (no error when absent)."""
        ...

    async def list_xrefs(self, link: str, *, after_sf_id: str | None = None,
                         limit: int = 1000) -> list[Xref]:
        """Xrefs of a link ordered by ``sf_id`` ascending, starting after ``after_sf_id`` (paging)."""
        ...

    async def count_xrefs(self, link: str) -> int:
        """How many pairs a link has."""
        ...

    # -- watermarks ------------------------------------------------------------------------------
    async def get_watermark(self, link: str, system: System, feed: str) -> Watermark | None:
        """The committed position of a feed (``feed`` is ``changes`` or ``deletes``)."""
        ...

    async def set_watermark(self, link: str, system: System, feed: str, watermark: Watermark) -> None:
        """Move a feed's position (the engine calls this only after the batch is committed)."""
        ...

    # -- runs ------------------------------------------------------------------------------------
    async def put_run(self, run: Run) -> None:
        """Insert or replace a run by id (called at start and at the end)."""
        ...

    async def get_run(self, run_id: str) -> Run | None:
        """One run."""
        ...

    async def list_runs(self, *, link: str | None = None, limit: int = 50) -> list[Run]:
        """Recent runs, newest first; ``link`` keeps runs that covered that link."""
        ...

    # -- audit -----------------------------------------------------------------------------------
    async def add_audit(self, events: Sequence[AuditEvent]) -> None:
        """Append audit events."""
        ...

    async def list_audit(self, *, link: str | None = None, record_id: str | None = None,
                         run_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Audit events, newest first; ``record_id`` matches either side's id."""
        ...

    # -- dead letters ----------------------------------------------------------------------------
    async def put_dead_letter(self, letter: DeadLetter) -> None:
        """Insert or replace a dead letter by id."""
        ...

    async def get_dead_letter(self, letter_id: str) -> DeadLetter | None:
        """One dead letter."""
        ...

    async def find_dead_letter(self, link: str, system: System, source_id: str) -> DeadLetter | None:
        """The open dead letter of one source record, if any."""
        ...

    async def list_dead_letters(self, *, link: str | None = None,
                                status: DeadLetterStatus | None = DeadLetterStatus.OPEN,
                                limit: int = 100) -> list[DeadLetter]:
        """Dead letters, newest first (``status=None``: all)."""
        ...

    # -- match reviews ---------------------------------------------------------------------------
    async def put_review(self, review: MatchReview) -> None:
        """Insert or replace a match review by id."""
        ...

    async def get_review(self, review_id: str) -> MatchReview | None:
        """One review."""
        ...

    async def find_review(self, link: str, system: System, record_id: str) -> MatchReview | None:
        """The open review of one unlinked record, if any."""
        ...

    async def list_reviews(self, *, link: str | None = None,
                           status: ReviewStatus | None = ReviewStatus.OPEN,
                           limit: int = 100) -> list[MatchReview]:
        """Reviews, newest first."""
        ...

    # -- conflicts -------------------------------------------------------------------------------
    async def put_conflict(self, conflict: Conflict) -> None:
        """Insert or replace a conflict by id."""
        ...

    async def get_conflict(self, conflict_id: str) -> Conflict | None:
        """One conflict."""
        ...

    async def list_conflicts(self, *, link: str | None = None, sf_id: str | None = None,
                             ns_id: str | None = None,
                             status: ConflictStatus | None = ConflictStatus.OPEN,
                             limit: int = 100) -> list[Conflict]:
        """Conflicts, newest first, optionally of one record pair."""
        ...

    # -- one-shot steps and scale-out ------------------------------------------------------------
    async def mark_once(self, key: str) -> bool:
        """Record that a one-shot step ran; True the first time for ``key``, False afterwards."""
        ...

    async def try_lock_record(self, key: str, owner: str, *, now: datetime, ttl_s: float) -> bool:
        """Take or renew a lease on ``key`` for ``owner`` until ``now + ttl_s``; False if another
        owner holds an unexpired lease."""
        ...

    async def unlock_record(self, key: str, owner: str) -> None:
        """Release ``owner``'s lease on ``key`` (no error when not held)."""
        ...

"""An in-memory :class:`~ledgerbridge.core.store.StateStore` for tests and dry runs (layer ``engine``).

Imports ``core`` only. Transactions are real: a block that raises leaves the store exactly as it was
(the whole state is copied at ``begin`` and restored on error), which is what the crash-consistency
tests rely on. Not shared between processes.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ledgerbridge.core.records import System, Watermark
from ledgerbridge.core.store import (
    AuditEvent,
    Conflict,
    ConflictStatus,
    DeadLetter,
    DeadLetterStatus,
    MatchReview,
    ReviewStatus,
    Run,
    Xref,
)

__all__ = ["MemoryStateStore"]


@dataclass
class _State:
    xrefs_by_sf: dict[tuple[str, str], Xref] = field(default_factory=dict)
    xrefs_by_ns: dict[tuple[str, str], Xref] = field(default_factory=dict)
    watermarks: dict[tuple[str, System, str], Watermark] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    dead_letters: dict[str, DeadLetter] = field(default_factory=dict)
    reviews: dict[str, MatchReview] = field(default_factory=dict)
    conflicts: dict[str, Conflict] = field(default_factory=dict)
    once: set[str] = field(default_factory=set)
    leases: dict[str, tuple[str, datetime]] = field(default_factory=dict)


class MemoryStateStore:
    """State kept in dictionaries; see the port's docstring for the contract it implements."""

    def __init__(self) -> None:
        self._s = _State()
        self._depth = 0
        self.n_commits = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Group writes; restore the previous state if the block raises."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        saved = _State(
            dict(self._s.xrefs_by_sf), dict(self._s.xrefs_by_ns), dict(self._s.watermarks),
            dict(self._s.runs), list(self._s.audit), dict(self._s.dead_letters), dict(self._s.reviews),
            dict(self._s.conflicts), set(self._s.once), dict(self._s.leases))
        self._depth = 1
        try:
            yield
        except BaseException:
            self._s = saved
            raise
        else:
            self.n_commits += 1
        finally:
            self._depth = 0

    # -- xrefs -----------------------------------------------------------------------------------
    async def get_xref(self, link: str, system: System, id: str) -> Xref | None:
        """The xref whose ``system``-side id is ``id``."""
        table = self._s.xrefs_by_sf if system is System.SALESFORCE else self._s.xrefs_by_ns
        return table.get((link, id))

    async def get_xrefs(self, link: str, system: System, ids: Sequence[str]) -> dict[str, Xref]:
        """Xrefs for many ids of one side."""
        table = self._s.xrefs_by_sf if system is System.SALESFORCE else self._s.xrefs_by_ns
        return {i: x for i in ids if (x := table.get((link, i))) is not None}

    async def put_xref(self, xref: Xref) -> None:
        """Insert or replace by either side's id."""
        for old in (self._s.xrefs_by_sf.get((xref.link, xref.sf_id)),
                    self._s.xrefs_by_ns.get((xref.link, xref.ns_id))):
            if old is not None:
                self._s.xrefs_by_sf.pop((old.link, old.sf_id), None)
                self._s.xrefs_by_ns.pop((old.link, old.ns_id), None)
        stored = replace(xref, sf_baseline=copy.deepcopy(dict(xref.sf_baseline)),
                         ns_baseline=copy.deepcopy(dict(xref.ns_baseline)))
        self._s.xrefs_by_sf[(xref.link, xref.sf_id)] = stored
        self._s.xrefs_by_ns[(xref.link, xref.ns_id)] = stored

    async def delete_xref(self, link: str, sf_id: str, ns_id: str) -> None:
        """Remove a pair."""
        self._s.xrefs_by_sf.pop((link, sf_id), None)
        self._s.xrefs_by_ns.pop((link, ns_id), None)

    async def list_xrefs(self, link: str, *, after_sf_id: str | None = None,
                         limit: int = 1000) -> list[Xref]:
        """Xrefs ordered by ``sf_id``."""
        rows = sorted((x for (lk, sf), x in self._s.xrefs_by_sf.items()
                       if lk == link and (after_sf_id is None or sf > after_sf_id)),
                      key=lambda x: x.sf_id)
        return rows[:limit]

    async def count_xrefs(self, link: str) -> int:
        """Number of pairs of a link."""
        return sum(1 for (lk, _) in self._s.xrefs_by_sf if lk == link)

    # -- watermarks ------------------------------------------------------------------------------
    async def get_watermark(self, link: str, system: System, feed: str) -> Watermark | None:
        """A feed's committed position."""
        return self._s.watermarks.get((link, system, feed))

    async def set_watermark(self, link: str, system: System, feed: str, watermark: Watermark) -> None:
        """Move a feed's position."""
        self._s.watermarks[(link, system, feed)] = watermark

    # -- runs ------------------------------------------------------------------------------------
    async def put_run(self, run: Run) -> None:
        """Insert or replace a run."""
        self._s.runs[run.id] = run

    async def get_run(self, run_id: str) -> Run | None:
        """One run."""
        return self._s.runs.get(run_id)

    async def list_runs(self, *, link: str | None = None, limit: int = 50) -> list[Run]:
        """Runs, newest first."""
        rows = [r for r in self._s.runs.values() if link is None or link in r.links]
        rows.sort(key=lambda r: r.started_at, reverse=True)
        return rows[:limit]

    # -- audit -----------------------------------------------------------------------------------
    async def add_audit(self, events: Sequence[AuditEvent]) -> None:
        """Append audit events."""
        self._s.audit.extend(events)

    async def list_audit(self, *, link: str | None = None, record_id: str | None = None,
                         run_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Audit events, newest first."""
        out: list[AuditEvent] = []
        for e in reversed(self._s.audit):
            if link is not None and e.link != link:
                continue
            if record_id is not None and record_id not in (e.sf_id, e.ns_id):
                continue
            if run_id is not None and e.run_id != run_id:
                continue
            out.append(e)
            if len(out) >= limit:
                break
        return out

    # -- dead letters ----------------------------------------------------------------------------
    async def put_dead_letter(self, letter: DeadLetter) -> None:
        """Insert or replace a dead letter."""
        self._s.dead_letters[letter.id] = letter

    async def get_dead_letter(self, letter_id: str) -> DeadLetter | None:
        """One dead letter."""
        return self._s.dead_letters.get(letter_id)

    async def find_dead_letter(self, link: str, system: System, source_id: str) -> DeadLetter | None:
        """The open dead letter of one source record."""
        for d in self._s.dead_letters.values():
            if (d.link, d.system, d.source_id) == (link, system, source_id) \
                    and d.status is DeadLetterStatus.OPEN:
                return d
        return None

    async def list_dead_letters(self, *, link: str | None = None,
                                status: DeadLetterStatus | None = DeadLetterStatus.OPEN,
                                limit: int = 100) -> list[DeadLetter]:
        """Dead letters, newest first."""
        rows = [d for d in self._s.dead_letters.values()
                if (link is None or d.link == link) and (status is None or d.status is status)]
        rows.sort(key=lambda d: d.updated_at, reverse=True)
        return rows[:limit]

    # -- reviews ---------------------------------------------------------------------------------
    async def put_review(self, review: MatchReview) -> None:
        """Insert or replace a review."""
        self._s.reviews[review.id] = review

    async def get_review(self, review_id: str) -> MatchReview | None:
        """One review."""
        return self._s.reviews.get(review_id)

    async def find_review(self, link: str, system: System, record_id: str) -> MatchReview | None:
        """The open review of one record."""
        for r in self._s.reviews.values():
            if (r.link, r.system, r.record_id) == (link, system, record_id) \
                    and r.status is ReviewStatus.OPEN:
                return r
        return None

    async def list_reviews(self, *, link: str | None = None,
                           status: ReviewStatus | None = ReviewStatus.OPEN,
                           limit: int = 100) -> list[MatchReview]:
        """Reviews, newest first."""
        rows = [r for r in self._s.reviews.values()
                if (link is None or r.link == link) and (status is None or r.status is status)]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return rows[:limit]

    # -- conflicts -------------------------------------------------------------------------------
    async def put_conflict(self, conflict: Conflict) -> None:
        """Insert or replace a conflict."""
        self._s.conflicts[conflict.id] = conflict

    async def get_conflict(self, conflict_id: str) -> Conflict | None:
        """One conflict."""
        return self._s.conflicts.get(conflict_id)

    async def list_conflicts(self, *, link: str | None = None, sf_id: str | None = None,
                             ns_id: str | None = None,
                             status: ConflictStatus | None = ConflictStatus.OPEN,
                             limit: int = 100) -> list[Conflict]:
        """Conflicts, newest first."""
        rows = [c for c in self._s.conflicts.values()
                if (link is None or c.link == link) and (sf_id is None or c.sf_id == sf_id)
                and (ns_id is None or c.ns_id == ns_id) and (status is None or c.status is status)]
        rows.sort(key=lambda c: c.created_at, reverse=True)
        return rows[:limit]

    # -- one-shot steps and leases ---------------------------------------------------------------
    async def mark_once(self, key: str) -> bool:
        """True the first time ``key`` is marked."""
        if key in self._s.once:
            return False
        self._s.once.add(key)
        return True

    async def try_lock_record(self, key: str, owner: str, *, now: datetime, ttl_s: float) -> bool:
        """Take or renew a lease."""
        held = self._s.leases.get(key)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self._s.leases[key] = (owner, now + timedelta(seconds=ttl_s))
        return True

    async def unlock_record(self, key: str, owner: str) -> None:
        """Release a lease held by ``owner``."""
        held = self._s.leases.get(key)
        if held is not None and held[0] == owner:
            del self._s.leases[key]

    # -- test helpers ----------------------------------------------------------------------------
    @property
    def audit_events(self) -> list[AuditEvent]:
        """Every audit event, oldest first (tests)."""
        return list(self._s.audit)

    def links_with_xrefs(self) -> AbstractSet[str]:
        """Links that have at least one pair (tests)."""
        return {lk for (lk, _) in self._s.xrefs_by_sf}

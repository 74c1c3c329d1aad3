"""Engine-level operations behind the CLI, dashboard and MCP tools (layer ``engine``).

Status, dead letters (list/show/retry with an optionally edited payload/discard), match reviews
(list/link/create/dismiss), conflicts (list/resolve by side or value), reconcile (compare both systems
fully: missing, orphaned, drifted; ``heal`` repairs through the normal pipeline), mapping preview and
the online check of links against described schemas. Every repair goes through
:class:`~ledgerbridge.engine.runner.Engine` so it is matched, merged, audited and idempotent like
any other write.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ledgerbridge.core.errors import EngineError
from ledgerbridge.core.records import JsonValue, ObjectSchema, Record, System, Watermark, Write
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
from ledgerbridge.engine import events
from ledgerbridge.engine.conflicts import merge_pair
from ledgerbridge.engine.runner import CHANGES, DELETES, Engine, Outcome, RecordOutcome, SyncSummary
from ledgerbridge.flows.expressions import ExpressionError
from ledgerbridge.flows.mapping import MapContext, MappingPreview, check_links_against, other
from ledgerbridge.flows.spec import LinkProblem

__all__ = ["DriftedPair", "LinkStatus", "Operations", "ReconcileReport"]


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """Where one link stands."""

    link: str
    n_pairs: int
    watermarks: Mapping[str, str | None]  # "salesforce.changes" -> token
    n_dead_letters: int
    n_reviews: int
    n_conflicts: int
    last_run: Run | None


@dataclass(frozen=True, slots=True)
class DriftedPair:
    """A linked pair whose mapped fields disagree."""

    sf_id: str
    ns_id: str
    fields: tuple[str, ...]


@dataclass
class ReconcileReport:
    """A full comparison of both systems for one link."""

    link: str
    missing: dict[System, list[str]] = field(default_factory=lambda: {s: [] for s in System})  # absent there
    unlinked: dict[System, list[str]] = field(default_factory=lambda: {s: [] for s in System})
    orphaned: list[Xref] = field(default_factory=list)
    drifted: list[DriftedPair] = field(default_factory=list)
    n_pairs: int = 0
    healed: SyncSummary | None = None

    @property
    def is_clean(self) -> bool:
        """True when nothing is missing, orphaned or drifted."""
        return not any(self.missing.values()) and not self.orphaned and not self.drifted


def _outcome(summary: SyncSummary, link: str, system: System, id: str) -> RecordOutcome | None:
    s = summary.links.get(link)
    if s is None:
        return None
    mine = [o for o in s.outcomes if o.system is system and o.id == id]
    return mine[-1] if mine else (s.outcomes[-1] if s.outcomes else None)


class Operations:
    """Operations over an engine's links and state.

    Args:
        engine: the engine (its ports, store, clock and links are used).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store

    def _link(self, name: str) -> None:
        if name not in self.engine.links:
            raise EngineError(f"unknown link {name!r}; known: {', '.join(sorted(self.engine.links))}")

    # -- status ----------------------------------------------------------------------------------
    async def status(self, names: Sequence[str] | None = None) -> list[LinkStatus]:
        """Pairs, feed positions, queue sizes and the last run per link."""
        out = []
        for name in self.engine.order(names):
            marks: dict[str, str | None] = {}
            for s in System:
                for feed in (CHANGES, DELETES):
                    wm = await self.store.get_watermark(name, s, feed)
                    marks[f"{s.value}.{feed}"] = wm.to_token() if wm else None
            runs = await self.store.list_runs(link=name, limit=1)
            out.append(LinkStatus(
                name, await self.store.count_xrefs(name), marks,
                len(await self.store.list_dead_letters(link=name, limit=100_000)),
                len(await self.store.list_reviews(link=name, limit=100_000)),
                len(await self.store.list_conflicts(link=name, limit=100_000)),
                runs[0] if runs else None))
        return out

    async def reset_watermark(self, link: str, system: System, at: Watermark | None) -> None:
        """Move (or clear, with a far-past mark) a link's change-feed position, e.g. for a backfill."""
        self._link(link)
        if at is not None:
            await self.store.set_watermark(link, system, CHANGES, at)

    # -- dead letters ----------------------------------------------------------------------------
    async def dead_letters(self, link: str | None = None, *,
                           status: DeadLetterStatus | None = DeadLetterStatus.OPEN,
                           limit: int = 100) -> list[DeadLetter]:
        """Dead letters, newest first."""
        return await self.store.list_dead_letters(link=link, status=status, limit=limit)

    async def dead_letter(self, letter_id: str) -> DeadLetter:
        """One dead letter.

        Raises:
            EngineError: no such dead letter.
        """
        letter = await self.store.get_dead_letter(letter_id)
        if letter is None:
            raise EngineError(f"no dead letter {letter_id!r}")
        return letter

    async def retry_dead_letter(self, letter_id: str, *,
                                payload: Mapping[str, JsonValue] | None = None) -> RecordOutcome | None:
        """Run the record through the pipeline again (its current state is read first).

        Args:
            letter_id: the dead letter.
            payload: an edited payload: these target-side values are written on top of the mapped ones.

        Returns:
            The record's outcome; on success the dead letter is marked resolved, on failure its
            attempts go up and the new error is kept.
        """
        letter = await self.dead_letter(letter_id)
        if letter.status is not DeadLetterStatus.OPEN:
            raise EngineError(f"dead letter {letter_id} is {letter.status.value}, not open")
        overrides = None
        if payload is not None:
            target = letter.target_system or other(letter.system)
            overrides = {letter.source_id: {target: dict(payload)}}
        summary = await self.engine.sync_records(letter.link, letter.system, [letter.source_id],
                                                 overrides=overrides, kind="retry")
        events.log(events.DEAD_LETTER_RETRIED, link=letter.link, dead_letter_id=letter.id,
                   counts=dict(summary.counts))
        return _outcome(summary, letter.link, letter.system, letter.source_id)

    async def retry_dead_letters(self, link: str | None = None, *, limit: int = 1000) -> SyncSummary:
        """Retry every open dead letter (of one link), grouped so each group costs few calls."""
        letters = await self.dead_letters(link, limit=limit)
        total = SyncSummary(uuid.uuid4().hex, "retry")
        groups: dict[tuple[str, System], list[str]] = {}
        for d in letters:
            groups.setdefault((d.link, d.system), []).append(d.source_id)
        for (name, system), ids in groups.items():
            _absorb(total, await self.engine.sync_records(name, system, ids, kind="retry"))
        return total

    async def discard_dead_letter(self, letter_id: str, *, reason: str = "") -> DeadLetter:
        """Give up on a dead letter (kept for the record, no longer open)."""
        letter = await self.dead_letter(letter_id)
        now = self.engine.clock.now()
        done = replace(letter, status=DeadLetterStatus.DISCARDED, updated_at=now)
        async with self.store.transaction():
            await self.store.put_dead_letter(done)
            await self.store.add_audit([AuditEvent(
                uuid.uuid4().hex, now, letter.link, "discard", letter.system,
                letter.source_id if letter.system is System.SALESFORCE else None,
                letter.source_id if letter.system is System.NETSUITE else None,
                decision="discarded", reason=reason or "discarded by a person", rule="dead_letter")])
        events.log(events.DEAD_LETTER_DISCARDED, link=letter.link, dead_letter_id=letter.id)
        return done

    # -- match reviews ---------------------------------------------------------------------------
    async def reviews(self, link: str | None = None, *, status: ReviewStatus | None = ReviewStatus.OPEN,
                      limit: int = 100) -> list[MatchReview]:
        """Match reviews, newest first."""
        return await self.store.list_reviews(link=link, status=status, limit=limit)

    async def _open_review(self, review_id: str) -> MatchReview:
        review = await self.store.get_review(review_id)
        if review is None:
            raise EngineError(f"no match review {review_id!r}")
        if review.status is not ReviewStatus.OPEN:
            raise EngineError(f"match review {review_id} is already {review.status.value}")
        return review

    async def link_review(self, review_id: str, candidate_id: str) -> RecordOutcome | None:
        """Link the reviewed record to ``candidate_id`` and sync the pair (field policies settle
        differences, as for any newly linked pair).

        Raises:
            EngineError: unknown or closed review, or the candidate is linked to another record.
        """
        review = await self._open_review(review_id)
        target = other(review.system)
        if await self.store.get_xref(review.link, target, candidate_id) is not None:
            raise EngineError(f"{target.value} {candidate_id} is already linked in {review.link}")
        sf_id, ns_id = (review.record_id, candidate_id) if review.system is System.SALESFORCE \
            else (candidate_id, review.record_id)
        now = self.engine.clock.now()
        async with self.store.transaction():
            await self.store.put_xref(Xref(review.link, sf_id, ns_id, created_at=now, updated_at=now))
            await self.store.put_review(replace(review, status=ReviewStatus.LINKED, resolved_at=now,
                                                chosen_id=candidate_id))
            await self.store.add_audit([AuditEvent(uuid.uuid4().hex, now, review.link, "link", None, sf_id,
                                                   ns_id, decision="linked", reason="match review",
                                                   rule="review")])
        events.log(events.REVIEW_DECIDED, link=review.link, review_id=review.id, decision="link",
                   candidate_id=candidate_id)
        summary = await self.engine.sync_records(review.link, review.system, [review.record_id],
                                                 kind="review")
        await self._retry_dependants(review)
        return _outcome(summary, review.link, review.system, review.record_id)

    async def _retry_dependants(self, review: MatchReview) -> None:
        """Retry the open dead letters of records that waited on the reviewed record as their parent
        (contacts and orders of an account in review): now that it is decided, they can sync."""
        marker = f"parent {review.link} {review.system.value} {review.record_id} is not synced"
        groups: dict[tuple[str, System], list[str]] = {}
        for d in await self.store.list_dead_letters(status=DeadLetterStatus.OPEN, limit=100_000):
            if d.error_code == "PARENT_NOT_SYNCED" and marker in d.error_message:
                groups.setdefault((d.link, d.system), []).append(d.source_id)
        for (name, system), ids in sorted(groups.items()):
            summary = await self.engine.sync_records(name, system, ids, kind="retry")
            events.log(events.DEAD_LETTER_RETRIED, link=name, review_id=review.id,
                       counts=dict(summary.counts))

    async def create_from_review(self, review_id: str) -> RecordOutcome | None:
        """Decide that the reviewed record has no partner: create it on the other side."""
        review = await self._open_review(review_id)
        now = self.engine.clock.now()
        await self.store.put_review(replace(review, status=ReviewStatus.CREATED, resolved_at=now))
        events.log(events.REVIEW_DECIDED, link=review.link, review_id=review.id, decision="create")
        summary = await self.engine.sync_records(review.link, review.system, [review.record_id],
                                                 force_create=True, kind="review")
        await self._retry_dependants(review)
        return _outcome(summary, review.link, review.system, review.record_id)

    async def dismiss_review(self, review_id: str) -> MatchReview:
        """Close a review without linking or creating (the record stays unlinked until it changes)."""
        review = await self._open_review(review_id)
        done = replace(review, status=ReviewStatus.DISMISSED, resolved_at=self.engine.clock.now())
        await self.store.put_review(done)
        events.log(events.REVIEW_DECIDED, link=review.link, review_id=review.id, decision="dismiss")
        return done

    # -- conflicts -------------------------------------------------------------------------------
    async def conflicts(self, link: str | None = None, *, status: ConflictStatus | None = ConflictStatus.OPEN,
                        limit: int = 100) -> list[Conflict]:
        """Conflicts, newest first."""
        return await self.store.list_conflicts(link=link, status=status, limit=limit)

    async def resolve_conflict(self, conflict_id: str, *, pick: str | None = None,
                               value: JsonValue = None, use_value: bool = False) -> RecordOutcome | None:
        """Settle a parked conflict by picking a side (``salesforce``/``netsuite``) or a value.

        With a value, it is written on the Salesforce side (the NetSuite side when the field has no
        Salesforce path) and then mapped across like an edit there.

        Raises:
            EngineError: unknown or closed conflict, or neither/both of ``pick`` and a value.
        """
        conflict = await self.store.get_conflict(conflict_id)
        if conflict is None:
            raise EngineError(f"no conflict {conflict_id!r}")
        if conflict.status is not ConflictStatus.OPEN:
            raise EngineError(f"conflict {conflict_id} is already resolved")
        if (pick is None) == (not use_value):
            raise EngineError("resolve a conflict with either pick=salesforce|netsuite or a value")
        rt = self.engine.links[conflict.link]
        cf = rt.mapping.field(conflict.field)
        if cf is None:
            raise EngineError(f"link {conflict.link} has no field {conflict.field!r} any more")
        now = self.engine.clock.now()
        if use_value:
            side = System.SALESFORCE if cf.paths[System.SALESFORCE] else System.NETSUITE
            payload: dict[str, JsonValue] = {}
            cf.put(side, payload, value)
            rid = conflict.sf_id if side is System.SALESFORCE else conflict.ns_id
            results = await self.engine.ports[side].upsert(rt.spec.object_of(side), [Write(payload, id=rid)])
            if results and results[0].error is not None:
                err = results[0].error
                raise EngineError(f"writing the chosen value failed: {err.code}: {err.message}")
            winner, resolution = side, "value"
        else:
            try:
                winner, resolution = System(str(pick)), str(pick)
            except ValueError:
                raise EngineError(f"pick must be salesforce or netsuite, not {pick!r}") from None
        await self.store.put_conflict(replace(conflict, status=ConflictStatus.RESOLVED, resolution=resolution,
                                              resolved_value=value if use_value else None, resolved_at=now))
        await self.store.add_audit([AuditEvent(
            uuid.uuid4().hex, now, conflict.link, "resolve", winner, conflict.sf_id, conflict.ns_id,
            fields=(conflict.field,), before={"salesforce": conflict.sf_value, "netsuite": conflict.ns_value},
            after={"value": value} if use_value else {}, decision=f"{winner.value}_wins",
            reason="resolved by a person", rule=f"review:{resolution}")])
        events.log(events.CONFLICT_RESOLVED, link=conflict.link, conflict_id=conflict.id,
                   resolution=resolution)
        summary = await self.engine.sync_records(conflict.link, System.SALESFORCE, [conflict.sf_id],
                                                 force={conflict.sf_id: {conflict.field: winner}},
                                                 kind="resolve")
        return _outcome(summary, conflict.link, System.SALESFORCE, conflict.sf_id)

    # -- reconcile -------------------------------------------------------------------------------
    async def reconcile(self, link: str, *, heal: bool = False) -> ReconcileReport:
        """Compare both systems fully for one link: records missing on a side, xrefs whose records
        are gone (orphaned), and linked pairs whose mapped fields disagree (drifted).

        Args:
            link: the link.
            heal: repair through the normal pipeline: create or link missing records, apply the
                delete policy to orphans, and write drifted fields by their policy.

        Returns:
            The report (with the heal summary when healing).
        """
        self._link(link)
        rt = self.engine.links[link]
        spec = rt.spec
        report = ReconcileReport(link)
        records: dict[System, dict[str, Record]] = {}
        for s in System:
            records[s] = {}
            async for page in self.engine.ports[s].read_changes(spec.object_of(s), None,
                                                                fields=rt.mapping.read_fields(s),
                                                                where=spec.scope.of(s)):
                for r in await self.engine.enrich(link, s, page.records):
                    if not r.is_deleted:
                        records[s][r.id] = r
        linked: dict[System, set[str]] = {s: set() for s in System}
        after: str | None = None
        pairs: list[Xref] = []
        while True:
            batch = await self.store.list_xrefs(link, after_sf_id=after, limit=1000)
            if not batch:
                break
            pairs += batch
            after = batch[-1].sf_id
        report.n_pairs = len(pairs)
        for x in pairs:
            linked[System.SALESFORCE].add(x.sf_id)
            linked[System.NETSUITE].add(x.ns_id)
        # partners outside the scope filter are still partners: fetch them by id
        for s in System:
            want = [x.id_of(s) for x in pairs if x.id_of(s) not in records[s] and not x.is_closed]
            for chunk_start in range(0, len(want), 500):
                for r in await self.engine.enrich(link, s, await self.engine.ports[s].read_by_ids(
                        spec.object_of(s), want[chunk_start:chunk_start + 500],
                        fields=rt.mapping.read_fields(s))):
                    records[s][r.id] = r
        for x in pairs:
            if x.is_closed:
                continue
            sf, ns = records[System.SALESFORCE].get(x.sf_id), records[System.NETSUITE].get(x.ns_id)
            if sf is None or ns is None:
                report.orphaned.append(x)
                continue
            ctx = MapContext()
            try:
                merge_pair(rt.mapping, sf, ns, sf_baseline=x.sf_baseline, ns_baseline=x.ns_baseline, ctx=ctx)
                for req in list(ctx.missing):
                    rx = await self.store.get_xref(req.link, req.from_system, req.id)
                    if rx is not None:
                        ctx.refs[req] = rx.id_of(other(req.from_system))
                ctx.missing.clear()
                outcome = merge_pair(rt.mapping, sf, ns, sf_baseline=x.sf_baseline,
                                     ns_baseline=x.ns_baseline, ctx=ctx)
            except ExpressionError:
                report.drifted.append(DriftedPair(x.sf_id, x.ns_id, ("<expression error>",)))
                continue
            drift = tuple(d.field for d in outcome.decisions if d.action != "in_sync")
            if drift:
                report.drifted.append(DriftedPair(x.sf_id, x.ns_id, drift))
        for s in System:
            for rid in sorted(set(records[s]) - linked[s]):
                if spec.creates_on(other(s)):
                    report.missing[other(s)].append(rid)
                else:
                    report.unlinked[s].append(rid)
        if heal:
            report.healed = await self._heal(link, report)
        return report

    async def _heal(self, link: str, report: ReconcileReport) -> SyncSummary:
        total = SyncSummary(uuid.uuid4().hex, "heal")

        def add(s: SyncSummary) -> None:
            _absorb(total, s)

        for target, ids in report.missing.items():
            if ids:
                add(await self.engine.sync_records(link, other(target), ids, kind="heal"))
        for x in report.orphaned:
            add(await self.engine.sync_records(link, System.SALESFORCE, [x.sf_id], kind="heal"))
        if report.drifted:
            add(await self.engine.sync_records(link, System.SALESFORCE, [d.sf_id for d in report.drifted],
                                               heal=True, kind="heal"))
        return total

    # -- mapping ---------------------------------------------------------------------------------
    async def preview(self, link: str, system: System, id: str, *,
                      target_id: str | None = None) -> MappingPreview:
        """For one source record: the values the link maps it to, the target's current values and
        the difference. Reads only; references are looked up, never synced.

        Args:
            link: the link.
            system: the source record's side.
            id: the source record's id.
            target_id: compare with this record instead of the linked partner.

        Raises:
            EngineError: the record does not exist.
            ExpressionError: a mapping expression failed for this record.
        """
        self._link(link)
        rt = self.engine.links[link]
        target = other(system)
        found = await self.engine.enrich(link, system, await self.engine.ports[system].read_by_ids(
            rt.spec.object_of(system), [id]))
        if not found:
            raise EngineError(f"{system.value} {rt.spec.object_of(system)} {id} does not exist")
        if target_id is None:
            x = await self.store.get_xref(link, system, id)
            target_id = x.id_of(target) if x else None
        partner = None
        if target_id is not None:
            got = await self.engine.enrich(link, target, await self.engine.ports[target].read_by_ids(
                rt.spec.object_of(target), [target_id]))
            partner = got[0] if got else None
        ctx = MapContext()
        rt.mapping.map_values(target, found[0], ctx)
        for req in list(ctx.missing):
            rx = await self.store.get_xref(req.link, req.from_system, req.id)
            if rx is not None:
                ctx.refs[req] = rx.id_of(other(req.from_system))
        ctx.missing.clear()
        return rt.mapping.preview(system, found[0], partner, ctx)

    def check_links_against(self, schemas: Mapping[tuple[System, str], ObjectSchema]) -> list[LinkProblem]:
        """Online validation: every link against the described objects (see
        :func:`ledgerbridge.flows.mapping.check_links_against`)."""
        return check_links_against(self.engine.specs, schemas)

    async def describe_and_check(self) -> list[LinkProblem]:
        """Describe every linked object through the ports and check the links against them."""
        schemas: dict[tuple[System, str], ObjectSchema] = {}
        for spec in self.engine.specs.values():
            for s in System:
                key = (s, spec.object_of(s))
                if key not in schemas:
                    schemas[key] = await self.engine.ports[s].describe(key[1])
        return self.check_links_against(schemas) + await self.engine.check_enrichments()

    async def audit(self, *, link: str | None = None, record_id: str | None = None,
                    limit: int = 100) -> list[AuditEvent]:
        """Audit events, newest first."""
        return await self.store.list_audit(link=link, record_id=record_id, limit=limit)


def _absorb(total: SyncSummary, s: SyncSummary) -> None:
    for k, v in s.links.items():
        mine = total.links.setdefault(k, v)
        if mine is not v:
            mine.counts.update(v.counts)
            mine.actions.update(v.actions)
            mine.api_calls.update(v.api_calls)
            mine.outcomes += v.outcomes


def counts_of(outcomes: Sequence[RecordOutcome]) -> Counter[str]:
    """Outcome counts of a list of record outcomes."""
    return Counter(o.outcome.value for o in outcomes if isinstance(o.outcome, Outcome))

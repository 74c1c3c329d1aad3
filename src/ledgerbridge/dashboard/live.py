"""The dashboard backend over a live runtime (layer ``dashboard``; imports ``app`` and ``core``).

:class:`RuntimeBackend` implements :class:`~ledgerbridge.dashboard.backend.DashboardBackend` with
the engine's operations and the state store of an :class:`~ledgerbridge.app.wiring.Runtime`, so
the pages show exactly what the CLI shows. Throughput is counted from the run summaries the
scheduler reports (:meth:`RuntimeBackend.record_summary`).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from ledgerbridge.app.forecast import Granularity, forecast_runtime
from ledgerbridge.app.wiring import Runtime
from ledgerbridge.core.errors import LedgerBridgeError
from ledgerbridge.core.records import JsonValue, System
from ledgerbridge.core.store import (
    Conflict,
    ConflictStatus,
    DeadLetter,
    DeadLetterStatus,
    MatchReview,
    ReviewStatus,
)
from ledgerbridge.dashboard.backend import (
    ApiBudgets,
    ConflictChoice,
    Direction,
    Forecast,
    ForecastRow,
    Lineage,
    LinkMapping,
    LinkState,
    LinkSummary,
    MappingRow,
    Outcome,
    Overview,
    Readiness,
    RecordPair,
    RecordRef,
    ReviewDecision,
    ReviewItem,
    ReviewKind,
    SeriesPoint,
)

_DIRECTIONS = {"both": Direction.BOTH, "to_netsuite": Direction.SF_TO_NS, "to_salesforce": Direction.NS_TO_SF}


def _direction(value: object) -> Direction:
    return _DIRECTIONS.get(str(getattr(value, "value", value)), Direction.BOTH)



# Labels of the reviews the engine's guard steps open (ledgerbridge.engine.steps): no candidates,
# the label is "preflight: <reason>" or "frozen: <reason>".
_GUARD_PREFIXES = ("preflight: ", "frozen: ")


def _review_item(review: MatchReview) -> ReviewItem:
    """A stored review as the dashboard shows it: a guard step's review is ``PREFLIGHT`` with its reason."""
    if not review.candidates:
        for prefix in _GUARD_PREFIXES:
            if review.label.startswith(prefix):
                reason = review.label if prefix.startswith("frozen") else review.label[len(prefix):]
                return ReviewItem(ReviewKind.PREFLIGHT, review, reason=reason)
    return ReviewItem(ReviewKind.MATCH, review)

class RuntimeBackend:
    """Dashboard data and actions from a running engine.

    Args:
        runtime: the runtime (connectors, store, engine).
        sf_url: the Salesforce instance URL, for links to records.
        ns_url: the NetSuite UI base URL, for links to records.
    """

    def __init__(self, runtime: Runtime, *, sf_url: str | None = None, ns_url: str | None = None) -> None:
        self.rt = runtime
        self.sf_url = sf_url
        self.ns_url = ns_url
        self._synced: collections.deque[tuple[datetime, int]] = collections.deque(maxlen=10_000)
        self._latencies: collections.deque[tuple[datetime, float]] = collections.deque(maxlen=50_000)
        self._started = runtime.clock.now()

    def record_summary(self, summary: object) -> None:
        """Count a pass's synced records into the throughput series, and the change-to-written
        latency of every record changed since this process started (older records are backfill)."""
        counts = getattr(summary, "counts", {})
        n = int(counts.get("synced", 0)) if isinstance(counts, Mapping) else 0
        self._synced.append((self.rt.clock.now(), n))
        for link in getattr(summary, "links", {}).values():
            for o in getattr(link, "outcomes", ()):
                changed, done = getattr(o, "changed_at", None), getattr(o, "done_at", None)
                if (getattr(getattr(o, "outcome", None), "value", "") == "synced"
                        and isinstance(changed, datetime) and isinstance(done, datetime)
                        and changed >= self._started and done >= changed):
                    self._latencies.append((done, (done - changed).total_seconds()))

    async def ready(self) -> Readiness:
        """Ready when the state store answers."""
        try:
            await self.rt.store.list_runs(limit=1)
        except LedgerBridgeError as exc:
            return Readiness(False, str(exc))
        return Readiness(True, "state store reachable")

    async def overview(self) -> Overview:
        """Per-link health, throughput over the last hour and both API budgets."""
        statuses = await self.rt.ops.status()
        links = []
        for st in statuses:
            spec = self.rt.engine.specs[st.link]
            # A run covers several links, so its status says little about one link: a link is
            # failing when records of its own wait in the dead-letter queue.
            state = LinkState.PAUSED if not spec.enabled else (
                LinkState.FAILING if st.n_dead_letters > 0 else LinkState.RUNNING)
            links.append(LinkSummary(st.link, spec.salesforce, spec.netsuite, _direction(spec.direction),
                                     state, st.last_run, st.n_pairs, st.n_dead_letters, st.link))
        now = self.rt.clock.now()
        per_min: collections.Counter[datetime] = collections.Counter()
        for at, n in self._synced:
            if now - at <= timedelta(hours=1):
                per_min[at.replace(second=0, microsecond=0)] += n
        series = tuple(SeriesPoint(t, float(v)) for t, v in sorted(per_min.items()))
        by_min: dict[datetime, list[float]] = collections.defaultdict(list)
        for at, seconds in self._latencies:
            if now - at <= timedelta(hours=1):
                by_min[at.replace(second=0, microsecond=0)].append(seconds)
        latency = tuple(SeriesPoint(t, _p95(v)) for t, v in sorted(by_min.items()))
        return Overview(
            tuple(links), ApiBudgets(await self.rt.salesforce.budget(), await self.rt.netsuite.budget()),
            throughput=series, latency=latency,
            open_dead_letters=sum(s.n_dead_letters for s in statuses),
            open_reviews=sum(s.n_reviews for s in statuses),
            open_conflicts=sum(s.n_conflicts for s in statuses))

    async def search_records(self, query: str, *, limit: int = 50) -> list[RecordPair]:
        """Pairs by either id exactly, or by a name seen in the audit trail."""
        q = query.strip()
        if not q:
            return []
        hits: list[RecordPair] = []
        for name in self.rt.engine.specs:
            for system in System:
                x = await self.rt.store.get_xref(name, system, q)
                if x is not None:
                    hits.append(RecordPair(name, x.sf_id, x.ns_id, _label(x.sf_baseline, x.ns_baseline)))
        if hits:
            return hits[:limit]
        lowered = q.lower()
        seen: set[tuple[str, str | None, str | None]] = set()
        for ev in await self.rt.store.list_audit(limit=2000):
            label = _label(ev.after, ev.before)
            if lowered in label.lower() and (ev.link, ev.sf_id, ev.ns_id) not in seen:
                seen.add((ev.link, ev.sf_id, ev.ns_id))
                hits.append(RecordPair(ev.link, ev.sf_id, ev.ns_id, label))
        return hits[:limit]

    async def lineage(self, record_id: str, *, link: str | None = None) -> Lineage:
        """Pairs, audit events, dead letters and conflicts mentioning a record."""
        xrefs = []
        for name in self.rt.engine.specs:
            if link and name != link:
                continue
            for system in System:
                x = await self.rt.store.get_xref(name, system, record_id)
                if x is not None:
                    xrefs.append(x)
        events = await self.rt.store.list_audit(record_id=record_id, link=link, limit=200)
        letters = [d for d in await self.rt.store.list_dead_letters(link=link, status=None, limit=1000)
                   if d.source_id == record_id]
        conflicts = [c for c in await self.rt.store.list_conflicts(link=link, status=None, limit=1000)
                     if record_id in (c.sf_id, c.ns_id)]
        if not (xrefs or events or letters or conflicts):
            raise LookupError(f"nothing is known about record {record_id!r}")
        refs = []
        for x in xrefs:
            spec = self.rt.engine.specs[x.link]
            refs.append(RecordRef(System.SALESFORCE, spec.salesforce, x.sf_id,
                                  f"{self.sf_url}/{x.sf_id}" if self.sf_url else None))
            refs.append(RecordRef(System.NETSUITE, spec.netsuite, x.ns_id,
                                  f"{self.ns_url}/{spec.netsuite}/{x.ns_id}" if self.ns_url else None))
        label = _label(*(x.sf_baseline for x in xrefs)) if xrefs else record_id
        return Lineage(record_id, label, tuple(xrefs), tuple(events), tuple(refs), tuple(letters),
                       tuple(conflicts))

    async def list_dead_letters(self, *, link: str | None = None,
                                status: DeadLetterStatus | None = DeadLetterStatus.OPEN,
                                code: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Dead letters filtered by link, status and code."""
        letters = await self.rt.store.list_dead_letters(link=link, status=status, limit=limit * 4)
        return [d for d in letters if code is None or d.error_code == code][:limit]

    async def get_dead_letter(self, letter_id: str) -> DeadLetter:
        """One dead letter."""
        d = await self.rt.store.get_dead_letter(letter_id)
        if d is None:
            raise LookupError(f"no dead letter {letter_id!r}")
        return d

    async def retry_dead_letter(self, letter_id: str,
                                payload: Mapping[str, JsonValue] | None = None) -> Outcome:
        """Sync the record again (with an edited payload when given)."""
        letter = await self.get_dead_letter(letter_id)
        if letter.status is not DeadLetterStatus.OPEN:
            raise ValueError(f"dead letter {letter_id} is {letter.status.value}, not open")
        outcome = await self.rt.ops.retry_dead_letter(letter_id, payload=payload)
        after = await self.get_dead_letter(letter_id)
        ok = after.status is DeadLetterStatus.RESOLVED or (
            outcome is not None and outcome.outcome.value in {"synced", "skipped"})
        message = (f"synced ({outcome.action or outcome.outcome.value})" if ok and outcome
                   else f"{after.error_code}: {after.error_message}")
        return Outcome(letter_id, ok, message, outcome.partner_id if outcome else None)

    async def retry_dead_letters(self, letter_ids: Sequence[str]) -> list[Outcome]:
        """Retry many; failures are outcomes, not exceptions."""
        results = []
        for i in letter_ids:
            try:
                results.append(await self.retry_dead_letter(i))
            except (LookupError, ValueError, LedgerBridgeError) as exc:
                results.append(Outcome(i, False, str(exc)))
        return results

    async def discard_dead_letter(self, letter_id: str, reason: str) -> Outcome:
        """Discard with a reason."""
        letter = await self.get_dead_letter(letter_id)
        if letter.status is not DeadLetterStatus.OPEN:
            raise ValueError(f"dead letter {letter_id} is {letter.status.value}, not open")
        if not reason.strip():
            raise ValueError("give a reason for discarding")
        await self.rt.ops.discard_dead_letter(letter_id, reason=reason)
        return Outcome(letter_id, True, "discarded")

    async def list_reviews(self, *, kind: ReviewKind | None = None, link: str | None = None,
                           status: ReviewStatus | None = ReviewStatus.OPEN,
                           limit: int = 100) -> list[ReviewItem]:
        """Match reviews, and the engine's preflight/freeze reviews (kind ``PREFLIGHT``, with the reason)."""
        reviews = await self.rt.store.list_reviews(link=link, status=status, limit=limit)
        items = [_review_item(r) for r in reviews]
        return [i for i in items if kind is None or i.kind is kind]

    async def get_review(self, review_id: str) -> ReviewItem:
        """One review."""
        r = await self.rt.store.get_review(review_id)
        if r is None:
            raise LookupError(f"no review {review_id!r}")
        return _review_item(r)

    async def resolve_review(self, review_id: str, decision: ReviewDecision,
                             candidate_id: str | None = None) -> Outcome:
        """Link, create or dismiss."""
        item = await self.get_review(review_id)
        if item.review.status is not ReviewStatus.OPEN:
            raise ValueError(f"review {review_id} is {item.review.status.value}, not open")
        try:
            if item.kind is ReviewKind.PREFLIGHT:
                if decision not in (ReviewDecision.RETRY, ReviewDecision.DISMISS):
                    raise ValueError(f"{decision.value} does not apply to a preflight review")
                await self.rt.ops.dismiss_review(review_id)
                if decision is ReviewDecision.DISMISS:
                    return Outcome(review_id, True, "dismissed")
                summary = await self.rt.engine.sync_records(item.review.link, item.review.system,
                                                            [item.review.record_id], kind="review")
                done = [o for s in summary.links.values() for o in s.outcomes
                        if o.id == item.review.record_id]
                o = done[-1] if done else None
            elif decision is ReviewDecision.LINK:
                if not candidate_id:
                    raise ValueError("choose a candidate to link to")
                o = await self.rt.ops.link_review(review_id, candidate_id)
            elif decision is ReviewDecision.CREATE:
                o = await self.rt.ops.create_from_review(review_id)
            elif decision is ReviewDecision.DISMISS:
                await self.rt.ops.dismiss_review(review_id)
                return Outcome(review_id, True, "dismissed")
            else:
                raise ValueError(f"{decision.value} does not apply to a match review")
        except LedgerBridgeError as exc:
            return Outcome(review_id, False, str(exc))
        ok = o is None or o.outcome.value != "dead_lettered"
        return Outcome(review_id, ok, o.reason or o.outcome.value if o else "done",
                       o.partner_id if o else None)

    async def list_conflicts(self, *, link: str | None = None,
                             status: ConflictStatus | None = ConflictStatus.OPEN,
                             limit: int = 100) -> list[Conflict]:
        """Open conflicts."""
        return await self.rt.store.list_conflicts(link=link, status=status, limit=limit)

    async def resolve_conflict(self, conflict_id: str, choice: ConflictChoice,
                               value: JsonValue = None) -> Outcome:
        """Keep one side or write a value."""
        c = await self.rt.store.get_conflict(conflict_id)
        if c is None:
            raise LookupError(f"no conflict {conflict_id!r}")
        if c.status is not ConflictStatus.OPEN:
            raise ValueError(f"conflict {conflict_id} is already resolved")
        try:
            if choice is ConflictChoice.VALUE:
                o = await self.rt.ops.resolve_conflict(conflict_id, value=value, use_value=True)
            else:
                o = await self.rt.ops.resolve_conflict(conflict_id, pick=choice.value)
        except LedgerBridgeError as exc:
            return Outcome(conflict_id, False, str(exc))
        return Outcome(conflict_id, True, f"resolved ({o.outcome.value if o else 'done'})")

    async def list_mappings(self) -> list[LinkMapping]:
        """Each link's mapping rows."""
        out = []
        for name, spec in self.rt.engine.specs.items():
            rows = []
            for f in spec.fields:
                direction = _direction(f.direction or spec.direction)
                policy = spec.policy_for(f)
                policy_text = (f"owner:{policy.owner}" if policy.policy == "owner" else policy.policy) \
                    if direction is Direction.BOTH else ""
                target = f.netsuite if direction is not Direction.NS_TO_SF else f.salesforce
                source = (f.to_netsuite or f.salesforce if direction is not Direction.NS_TO_SF
                          else f.to_salesforce or f.netsuite)
                if f.has_value:
                    source = f"constant {f.value!r}"
                rows.append(MappingRow(str(target or f.name or ""), str(source or ""), direction,
                                       policy_text))
            out.append(LinkMapping(name, spec.salesforce, spec.netsuite, _direction(spec.direction),
                                   tuple(rows), tuple(sorted(spec.refs())), name))
        return out

    async def forecast(self, *, granularity: str = "month") -> Forecast:
        """The cash-flow forecast read live from both systems (13 weeks or 6 months)."""
        if granularity not in {"week", "month"}:
            raise ValueError("granularity must be week or month")
        grain: Granularity = "week" if granularity == "week" else "month"
        report = await forecast_runtime(self.rt, granularity=grain, periods=13 if grain == "week" else 6)
        rows = tuple(ForecastRow(p.start, p.label, p.weighted_pipeline, p.expected_collections)
                     for p in report.periods)
        return Forecast(report.currency, granularity, rows, report.generated_at)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _label(*maps: Mapping[str, JsonValue]) -> str:
    for m in maps:
        for key in ("Name", "companyName", "entityId", "LastName", "itemId", "tranId", "Subject"):
            value = m.get(key)
            if isinstance(value, str) and value:
                return value
    return ""

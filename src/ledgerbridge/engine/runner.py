"""The sync engine: passes over links, the per-record pipeline, deletes and pushed changes (layer ``engine``).

Imports ``core`` (ports, records, store) and ``flows`` (specs, mappings) only.

One pass over a link reads each source side's change feed from ``watermark - overlap`` in pages and,
per page: fetches the partners of linked records (one call), matches unlinked records, maps and merges
each pair against its baselines, writes in batches (creates as upserts by external id, updates by id),
and only then commits xrefs, baselines, audit events, dead letters and conflicts in one transaction,
after which the page's watermark moves. A crash anywhere before the commit leaves the watermark where
it was; the rerun reads the same records again, finds its own earlier creates by external id, and
converges without duplicates.

Every record that enters a pass ends as ``synced``, ``skipped`` (with why), ``waiting`` (match review,
parked conflict, parent waiting) or ``dead_lettered`` (with the system's error code and the failing
step) — see :class:`RecordOutcome`.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ledgerbridge.core.errors import ConfigError, ErrorKind, LedgerBridgeError, RemoteError
from ledgerbridge.core.ports import Clock, RowQueryPort, SystemPort
from ledgerbridge.core.records import (
    Budget,
    Capabilities,
    Change,
    DeletedRecord,
    JsonValue,
    ObjectSchema,
    Priority,
    Record,
    RecordError,
    System,
    Watermark,
    Write,
    WriteResult,
)
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
    StateStore,
    Step,
    Xref,
)
from ledgerbridge.engine import events
from ledgerbridge.engine.conflicts import MergeOutcome, merge_pair
from ledgerbridge.engine.enrich import enrich_records, query_support, unsupported_reason
from ledgerbridge.engine.identity import Matcher, MatchResult
from ledgerbridge.engine.intake import Intake
from ledgerbridge.engine.steps import (
    FROZEN_LABEL,
    PREFLIGHT_LABEL,
    FreezeGuard,
    PreflightInput,
    is_guard_review,
    run_preflight,
)
from ledgerbridge.flows.expressions import ExpressionError, Path, same_value
from ledgerbridge.flows.mapping import LinkMapping, MapContext, RefRequest, other
from ledgerbridge.flows.spec import LinkProblem, LinkSpec, WatchSpec, link_order

__all__ = [
    "Engine",
    "EngineHooks",
    "LinkSummary",
    "Outcome",
    "RecordOutcome",
    "SyncSummary",
]

CHANGES = "changes"
DELETES = "deletes"
WATCH_PREFIX = "watch:"  # + the watched object: one watermark per watch
_PLANNED = "planned:"
# Codes with which a system refuses a create as a duplicate of a record it already holds: NetSuite
# (an entity ID or record taken) and Salesforce (a unique field's value; a duplicate rule's block).
DUPLICATE_CODES = frozenset({"DUP_ENTITY", "DUP_RCRD", "DUPLICATE_VALUE", "DUPLICATES_DETECTED"})
DUPLICATE_LABEL = "duplicate: "  # label prefix of the match review a refused duplicate opens
REVIEW_WAIT = "match review"  # in the reason of every record waiting on a match review
DUPLICATE_REASON = "refused as a duplicate"  # reason prefix of a record (and parent) waiting on it


class Outcome(StrEnum):
    """How a record left a pass."""

    SYNCED = "synced"
    SKIPPED = "skipped"
    WAITING = "waiting"
    DEAD_LETTERED = "dead_lettered"


_RANK = {Outcome.SKIPPED: 0, Outcome.SYNCED: 1, Outcome.WAITING: 2, Outcome.DEAD_LETTERED: 3}


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What happened to one record in a pass."""

    link: str
    system: System
    id: str
    outcome: Outcome
    reason: str = ""
    action: str = ""  # create | update | link | deactivate | delete | unlink | relink | noop
    partner_id: str | None = None
    changed_at: datetime | None = None  # the source record's modification stamp, when known
    done_at: datetime | None = None  # when the engine finished with it (for change-to-written latency)


@dataclass
class LinkSummary:
    """Counts for one link in one pass (or plan)."""

    link: str
    counts: Counter[str] = field(default_factory=Counter)  # synced | skipped | waiting | dead_lettered
    actions: Counter[str] = field(default_factory=Counter)  # "create:netsuite", "update:salesforce", ...
    api_calls: Counter[str] = field(default_factory=Counter)  # "netsuite.upsert", "salesforce.read_changes"
    outcomes: list[RecordOutcome] = field(default_factory=list)
    error: str | None = None


@dataclass
class SyncSummary:
    """The result of one pass (or plan) over one or more links."""

    run_id: str
    kind: str
    links: dict[str, LinkSummary] = field(default_factory=dict)

    @property
    def counts(self) -> Counter[str]:
        """Outcome counts over all links."""
        total: Counter[str] = Counter()
        for s in self.links.values():
            total.update(s.counts)
        return total

    @property
    def actions(self) -> Counter[str]:
        """Planned or performed actions over all links."""
        total: Counter[str] = Counter()
        for s in self.links.values():
            total.update(s.actions)
        return total

    @property
    def api_calls(self) -> Counter[str]:
        """API calls (made, or that a plan would make) over all links."""
        total: Counter[str] = Counter()
        for s in self.links.values():
            total.update(s.api_calls)
        return total

    @property
    def ok(self) -> bool:
        """True when nothing was dead-lettered and no link failed (the CLI's exit code 0)."""
        return not self.counts[Outcome.DEAD_LETTERED] and not any(s.error for s in self.links.values())


ProgressCallback = Callable[[RecordOutcome], None]


@dataclass
class EngineHooks:
    """Test seams. ``after_write`` runs after each write call returns and before the state commit
    (raise from it to simulate a crash between the write and the commit)."""

    after_write: Callable[[str, System, Sequence[WriteResult]], Awaitable[None]] | None = None


class _RefUnresolved(Exception):
    def __init__(self, outcome: Outcome, message: str, *, step: Step = Step.REF,
                 code: str = "PARENT_NOT_SYNCED", req: RefRequest | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.step = step
        self.code = code
        self.req = req  # the reference that failed


_Key = tuple[str, System, str]  # link, side, record id


@dataclass
class _Batch:
    """The records one ``_process`` call works on, while it prepares them. A record of the batch that
    a sibling refers to is synced ahead of the batch (written at once when already prepared, else
    processed on its own) and the batch leaves it out afterwards."""

    link: str
    system: System
    ids: frozenset[str]
    marks: set[_Key]  # the pass's in-progress marks (tells passes apart)
    works: dict[str, _Work] = field(default_factory=dict)  # prepared, by record id
    ahead: set[str] = field(default_factory=set)  # being synced ahead right now
    early: dict[str, RecordOutcome] = field(default_factory=dict)  # synced ahead, by record id
    open: bool = True  # still preparing (nothing of it written yet)


# Per task (side-by-side work has its own): the batches being prepared, outermost first, and the
# chain of records whose references are being resolved (a parent already in it is a true cycle).
_BATCHES: ContextVar[tuple[_Batch, ...]] = ContextVar("ledgerbridge_batches", default=())
_CHAIN: ContextVar[tuple[_Key, ...]] = ContextVar("ledgerbridge_ref_chain", default=())


class _Rollback(Exception):
    pass


class _Port:
    """Counts calls per pass and, in a dry run, simulates writes instead of making them."""

    def __init__(self, port: SystemPort, counter: Counter[str], dry_run: bool) -> None:
        self.port = port
        self.counter = counter
        self.dry_run = dry_run
        self.system = port.system

    @property
    def capabilities(self) -> Capabilities:
        return self.port.capabilities

    @property
    def supports_queries(self) -> bool:
        """True when the wrapped port runs row queries (:class:`RowQueryPort`)."""
        return isinstance(self.port, RowQueryPort)

    async def query_rows(self, statement: str, params: Sequence[str]) -> list[dict[str, str]]:
        """Forward a row query (reads are real in a dry run too)."""
        if not isinstance(self.port, RowQueryPort):
            raise ConfigError(f"{self.system.value} cannot run row queries")
        self._count("query_rows")
        return await self.port.query_rows(statement, params)

    def _count(self, op: str) -> None:
        self.counter[f"{self.system.value}.{op}"] += 1

    def read_changes(self, object: str, since: Watermark | None, *, fields: Sequence[str] | None = None,
                     where: str | None = None, priority: Priority = Priority.STATUS) -> Any:
        async def gen() -> Any:
            async for page in self.port.read_changes(object, since, fields=fields, where=where,
                                                     priority=priority):
                self._count("read_changes")
                yield page
        return gen()

    async def read_deleted(self, object: str, since: Watermark | None, *,
                           priority: Priority = Priority.STATUS) -> list[DeletedRecord]:
        self._count("read_deleted")
        return await self.port.read_deleted(object, since, priority=priority)

    async def read_by_ids(self, object: str, ids: Sequence[str], *, fields: Sequence[str] | None = None,
                          priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        real = [i for i in ids if not i.startswith(_PLANNED)]
        self._count("read_by_ids")
        if not real:
            return []
        return await self.port.read_by_ids(object, real, fields=fields, priority=priority)

    async def find(self, object: str, field: str, values: Sequence[str], *,
                   fields: Sequence[str] | None = None,
                   priority: Priority = Priority.INTERACTIVE) -> list[Record]:
        self._count("find")
        return await self.port.find(object, field, values, fields=fields, priority=priority)

    async def filter_ids(self, object: str, ids: Sequence[str], where: str, *,
                         priority: Priority = Priority.INTERACTIVE) -> list[str]:
        real = [i for i in ids if not i.startswith(_PLANNED)]
        self._count("filter_ids")
        if not real:
            return []
        return await self.port.filter_ids(object, real, where, priority=priority)

    async def describe(self, object: str) -> ObjectSchema:
        return await self.port.describe(object)

    async def upsert(self, object: str, writes: Sequence[Write], *, key_field: str | None = None,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        self._count("upsert")
        if self.dry_run:
            return [WriteResult(i, id=w.id or f"{_PLANNED}{w.external_id or uuid.uuid4().hex[:8]}",
                                created=w.id is None) for i, w in enumerate(writes)]
        return await self.port.upsert(object, writes, key_field=key_field, priority=priority)

    async def delete(self, object: str, ids: Sequence[str], *,
                     priority: Priority = Priority.ORDER) -> list[WriteResult]:
        self._count("delete")
        if self.dry_run:
            return [WriteResult(i, id=x) for i, x in enumerate(ids)]
        return await self.port.delete(object, ids, priority=priority)

    async def budget(self) -> Budget:
        return await self.port.budget()

    async def aclose(self) -> None:
        return None


@dataclass
class _Work:
    """One record's way through the pipeline within a chunk."""

    system: System
    record: Record
    xref: Xref | None = None
    sf: Record | None = None
    ns: Record | None = None
    ctx: MapContext = field(default_factory=MapContext)
    create_on: System | None = None
    create_values: dict[str, JsonValue] = field(default_factory=dict)
    link_rule: str = ""
    merge: MergeOutcome | None = None
    updates: dict[System, dict[str, JsonValue]] = field(default_factory=dict)  # field key -> value
    override: dict[System, dict[str, JsonValue]] = field(default_factory=dict)  # raw payload overrides
    failed: dict[System, RecordError] = field(default_factory=dict)
    failed_step: Step = Step.WRITE
    failed_payload: dict[str, JsonValue] = field(default_factory=dict)
    done: RecordOutcome | None = None
    created: bool = False
    prefer: System | None = None
    force: dict[str, System] = field(default_factory=dict)
    heal: bool = False
    action: str = ""
    pre_audited: bool = False
    frozen: dict[System, dict[str, JsonValue]] = field(default_factory=dict)  # held by freeze_when
    # a create refused as a duplicate: the existing records found on the target (maybe none), and
    # how they were looked up (field, value)
    duplicates: list[MatchCandidate] | None = None
    duplicate_lookup: tuple[str, list[str]] | None = None


class _LinkRuntime:
    def __init__(self, name: str, spec: LinkSpec) -> None:
        self.name = name
        self.spec = spec
        self.mapping = LinkMapping(name, spec)
        o = spec.options
        self.freeze: dict[System, FreezeGuard] = {
            s: FreezeGuard(text, timeout_ms=o.expression_timeout_ms, max_depth=o.expression_max_depth)
            for s in System if o.freeze_when is not None and (text := o.freeze_when.of(s))}

    def sources(self) -> list[System]:
        """Sides whose changes matter: a side is read when some field flows from it, or the link
        creates from it."""
        out = []
        for s in System:
            if self.spec.direction.flows_to(other(s)) or self.mapping.fields_to(other(s)):
                out.append(s)
        return out


class _Pass:
    def __init__(self, engine: Engine, run_id: str, kind: str, dry_run: bool,
                 on_progress: ProgressCallback | None) -> None:
        self.engine = engine
        self.run_id = run_id
        self.kind = kind
        self.dry_run = dry_run
        self.on_progress = on_progress
        self.summary = SyncSummary(run_id, kind)
        self.calls: Counter[str] = Counter()
        self.ports = {s: _Port(p, self.calls, dry_run) for s, p in engine.ports.items()}
        self.matchers: dict[str, Matcher] = {}
        self.in_progress: set[tuple[str, System, str]] = set()
        self.touched: set[tuple[str, System, str]] = set()
        # per link: the records that are candidates of open duplicate reviews, and the review's id
        self.dup_candidates: dict[str, dict[tuple[System, str], str]] = {}

    def fork(self) -> _Pass:
        """The same pass with its own call counter, for work that runs side by side with other work
        of this pass (outcomes, matchers and in-progress marks are shared)."""
        q = _Pass(self.engine, self.run_id, self.kind, self.dry_run, self.on_progress)
        q.summary = self.summary
        q.matchers = self.matchers
        q.in_progress = self.in_progress
        q.touched = self.touched
        q.dup_candidates = self.dup_candidates
        return q

    def link_summary(self, link: str) -> LinkSummary:
        if link not in self.summary.links:
            self.summary.links[link] = LinkSummary(link)
        return self.summary.links[link]

    def matcher(self, rt: _LinkRuntime) -> Matcher:
        if rt.name not in self.matchers:
            self.matchers[rt.name] = Matcher(rt.name, rt.spec, rt.mapping, self.ports,
                                             self.engine.store)
        return self.matchers[rt.name]

    def record(self, o: RecordOutcome) -> None:
        s = self.link_summary(o.link)
        s.counts[o.outcome.value] += 1
        s.outcomes.append(o)
        event = {Outcome.SYNCED: events.RECORD_WRITTEN, Outcome.SKIPPED: events.RECORD_SKIPPED,
                 Outcome.WAITING: events.RECORD_WAITING,
                 Outcome.DEAD_LETTERED: events.RECORD_DEAD_LETTERED}[o.outcome]
        events.log(event, link=o.link, system=o.system.value, id=o.id, reason=o.reason, action=o.action,
                   partner_id=o.partner_id, run_id=self.run_id, dry_run=self.dry_run)
        if self.on_progress is not None:
            self.on_progress(o)


def _deep_merge(base: Mapping[str, JsonValue], patch: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = dict(copy.deepcopy(dict(base)))
    for k, v in patch.items():
        current = out.get(k)
        if isinstance(v, dict) and isinstance(current, dict) and "items" not in v:
            out[k] = _deep_merge(current, v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _holds(current: JsonValue, wanted: JsonValue) -> bool:
    """True when ``current`` already is the inactive flag's value (a missing value never is)."""
    return current is not None and same_value(current, wanted)


async def _together(work: Sequence[Awaitable[None]]) -> None:
    """Run ``work`` side by side; when one fails, the others are cancelled and the error raised."""
    if len(work) == 1:
        await work[0]
        return
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _related_ids(watch: WatchSpec, records: Sequence[Record]) -> list[str]:
    """The ids a watch's ``via`` field names on changed records (a reference's id, or the id)."""
    via = Path(watch.via)
    related: dict[str, None] = {}
    for r in records:
        if r.is_deleted:
            continue
        value = via.get(LinkMapping.input_of(r, watch.system))
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            related[str(value)] = None
    return list(related)


def _takes_push(spec: LinkSpec) -> bool:
    """True when the link runs on pushed changes: a ``push`` trigger, or no triggers at all."""
    return not spec.triggers or any(t.push for t in spec.triggers)


def _plain(path: str | None) -> bool:
    """True for a plain field name (no path, no expression): one a ``find`` can look up."""
    return bool(path) and path is not None and path.replace("_", "").isalnum()


def _scalar(value: JsonValue) -> str | None:
    """A non-empty text, number (not a boolean) as text, else None."""
    if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value):
        return str(value)
    return None


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + size]


class Engine:
    """The sync engine over two systems and a state store.

    Args:
        links: link specs by name.
        salesforce: the Salesforce port.
        netsuite: the NetSuite port.
        store: the state store.
        clock: time source.
        hooks: test seams (fault injection).
        lease_ttl_s: when set, each record is leased in the store while it is worked on, so several
            workers can run passes side by side (scale-out).
        owner: this worker's name for leases.
    """

    def __init__(self, links: Mapping[str, LinkSpec], *, salesforce: SystemPort, netsuite: SystemPort,
                 store: StateStore, clock: Clock, hooks: EngineHooks | None = None,
                 lease_ttl_s: float | None = None, owner: str | None = None) -> None:
        self.specs = dict(links)
        self.links = {name: _LinkRuntime(name, spec) for name, spec in links.items()}
        self.ports: dict[System, SystemPort] = {System.SALESFORCE: salesforce, System.NETSUITE: netsuite}
        self.store = store
        self.clock = clock
        self.hooks = hooks or EngineHooks()
        self.lease_ttl_s = lease_ttl_s
        self.owner = owner or f"engine-{uuid.uuid4().hex[:8]}"
        self.intake = Intake()
        link_order(self.specs)  # raises on a reference cycle

    # -- entry points ----------------------------------------------------------------------------
    def order(self, names: Sequence[str] | None = None) -> list[str]:
        """Link names in dependency order (parents first); all enabled links when ``names`` is None.

        Raises:
            KeyError: an unknown link name.
        """
        if names is not None:
            unknown = [n for n in names if n not in self.links]
            if unknown:
                known = ", ".join(sorted(self.links))
                raise KeyError(f"unknown link(s): {', '.join(unknown)}; known: {known}")
            return link_order(self.specs, list(names))
        return link_order(self.specs, [n for n, s in self.specs.items() if s.enabled])

    async def sync(self, names: Sequence[str] | None = None, *,
                   on_progress: ProgressCallback | None = None) -> SyncSummary:
        """One pass over the named links (all enabled links when None), parents first.

        Args:
            names: link names.
            on_progress: called with each record's outcome.

        Returns:
            Counts per link; ``summary.ok`` is False when something was dead-lettered or a link failed.
        """
        return await self._run(names, kind="sync", dry_run=False, on_progress=on_progress)

    async def plan(self, names: Sequence[str] | None = None) -> SyncSummary:
        """What a pass would do — creates, updates, links, deactivations — and the API calls it would
        cost (writes counted in batches of each system's ``max_write_batch``), writing nothing.

        Reads are real (the plan must see current data); every state change is rolled back.
        """
        return await self._run(names, kind="plan", dry_run=True, on_progress=None)

    async def _run(self, names: Sequence[str] | None, *, kind: str, dry_run: bool,
                   on_progress: ProgressCallback | None) -> SyncSummary:
        order = self.order(names)
        run_id = uuid.uuid4().hex
        p = _Pass(self, run_id, kind, dry_run, on_progress)
        started = self.clock.now()
        events.log(events.RUN_STARTED, run_id=run_id, links=order, kind=kind)
        if dry_run:
            try:
                async with self.store.transaction():
                    await self._links(p, order)
                    raise _Rollback()
            except _Rollback:
                pass
        else:
            await self.store.put_run(Run(run_id, started, tuple(order), kind))
            try:
                await self._links(p, order)
            except BaseException as exc:
                await self._finish_run(p, order, started, RunStatus.INTERRUPTED, repr(exc))
                raise
            failed = not p.summary.ok
            await self._finish_run(p, order, started, RunStatus.FAILED if failed else RunStatus.SUCCEEDED,
                                   None)
        events.log(events.RUN_FINISHED, run_id=run_id, kind=kind, counts=dict(p.summary.counts),
                   actions=dict(p.summary.actions), api_calls=dict(p.summary.api_calls))
        return p.summary

    async def _finish_run(self, p: _Pass, order: list[str], started: Any, status: RunStatus,
                          error: str | None) -> None:
        errors = [f"{s.link}: {s.error}" for s in p.summary.links.values() if s.error]
        try:
            await self.store.put_run(Run(p.run_id, started, tuple(order), p.kind, self.clock.now(), status,
                                         dict(p.summary.counts), error or ("; ".join(errors) or None)))
        except Exception:  # the run record is informative; never mask the real outcome
            pass

    async def _links(self, p: _Pass, order: list[str]) -> None:
        for name in order:
            rt = self.links[name]
            summary = p.link_summary(name)
            before = Counter(p.calls)
            events.log(events.LINK_STARTED, link=name, run_id=p.run_id)
            try:
                await self._link_pass(p, rt)
            except (RemoteError, LedgerBridgeError) as exc:
                summary.error = f"{type(exc).__name__}: {exc}"
                events.log(events.LINK_FAILED, link=name, run_id=p.run_id, **exc.attrs())
                if exc.kind in {ErrorKind.AUTH, ErrorKind.QUOTA}:
                    break
            finally:
                summary.api_calls.update(Counter(p.calls) - before)
            events.log(events.LINK_FINISHED, link=name, run_id=p.run_id, counts=dict(summary.counts))

    async def _link_pass(self, p: _Pass, rt: _LinkRuntime) -> None:
        problems = self.enrich_problems([rt.name])
        if problems:
            raise ConfigError(problems[0].message)
        started = self.clock.now()
        # Deletes and merges first, so a merge winner is relinked before its change is processed.
        for system in rt.sources():
            if rt.spec.options.read_deletes:
                await self._read_deletes(p, rt, system)
            await self._read_feed(p, rt, system)
            for watch in rt.spec.options.watches(system):
                await self._read_watch(p, rt, watch, started)

    def _since(self, rt: _LinkRuntime, wm: Watermark | None) -> Watermark | None:
        if wm is None:
            return None
        return Watermark(wm.at - timedelta(seconds=rt.spec.options.overlap_s), "")

    async def _read_feed(self, p: _Pass, rt: _LinkRuntime, system: System) -> None:
        store = self.store
        wm = await store.get_watermark(rt.name, system, CHANGES)
        port = p.ports[system]
        pages = port.read_changes(rt.spec.object_of(system), self._since(rt, wm),
                                  fields=rt.mapping.read_fields(system), where=rt.spec.scope.of(system))
        async for page in pages:
            events.log(events.PAGE_READ, link=rt.name, system=system.value, n=len(page.records),
                       run_id=p.run_id)
            size = rt.spec.options.batch_size or max(1, min(
                self.ports[s].capabilities.max_write_batch for s in System))
            records = await self._enrich(p, rt, system, list(page.records))  # one query per page
            for chunk in _chunks(records, size):
                # A record that still holds what the last sync left on its side (an echo of our own
                # write, or an edit of unmapped fields) settles without reading its partner: nothing
                # of it can flow, and a change on the partner comes through the partner's own feed.
                await self._process(p, rt, system, list(chunk),
                                    may_settle=frozenset(r.id for r in chunk), enriched=True)
            if page.watermark is not None and (wm is None or page.watermark > wm):
                await store.set_watermark(rt.name, system, CHANGES, page.watermark)
                wm = page.watermark
                events.log(events.WATERMARK_MOVED, link=rt.name, system=system.value,
                           watermark=page.watermark.to_token(), run_id=p.run_id)

    async def _read_watch(self, p: _Pass, rt: _LinkRuntime, watch: WatchSpec, started: datetime) -> None:
        """Records of a watched type changed since the watch's watermark name related records of the
        link (``via``); those are read and run through the pipeline (level-triggered: a related record
        whose values, enrich values included, equal its baseline settles without a write).

        The first time, the watch starts at the beginning of this pass without reading history: the
        link's own feed (or its next full pass) covers what happened before.
        """
        system, store = watch.system, self.store
        feed = f"{WATCH_PREFIX}{watch.object}"
        wm = await store.get_watermark(rt.name, system, feed)
        if wm is None:
            await store.set_watermark(rt.name, system, feed, Watermark(started))
            return
        port = p.ports[system]
        via = Path(watch.via)
        obj = rt.spec.object_of(system)
        size = rt.spec.options.batch_size or max(1, min(
            self.ports[s].capabilities.max_write_batch for s in System))
        async for page in port.read_changes(watch.object, self._since(rt, wm), fields=[via.head]):
            related = _related_ids(watch, page.records)
            events.log(events.PAGE_READ, link=rt.name, system=system.value, n=len(page.records),
                       watch=watch.object, related=len(related), run_id=p.run_id)
            if related:
                found = await port.read_by_ids(obj, list(related), fields=rt.mapping.read_fields(system))
                # the link's scope holds here as in its own feed (one query for the page)
                scoped = await self._in_scope(p, rt, {system: [r.id for r in found if not r.is_deleted]})
                if system in scoped:
                    found = self._keep_in_scope(p, rt, system, found, scoped[system])
                found = await self._enrich(p, rt, system, found)  # one query for the page
                for chunk in _chunks(found, size):
                    await self._process(p, rt, system, list(chunk), may_settle=frozenset(r.id for r in chunk),
                                        enriched=True)
            if page.watermark is not None and page.watermark > wm:
                await store.set_watermark(rt.name, system, feed, page.watermark)
                wm = page.watermark

    async def _read_deletes(self, p: _Pass, rt: _LinkRuntime, system: System) -> None:
        wm = await self.store.get_watermark(rt.name, system, DELETES)
        started = self.clock.now()
        deleted = await p.ports[system].read_deleted(rt.spec.object_of(system), self._since(rt, wm))
        await self._process_deleted(p, rt, system, deleted)
        latest = max((d.deleted_at for d in deleted if d.deleted_at is not None), default=None)
        mark = Watermark(latest) if latest is not None else (wm or Watermark(started))
        if wm is None or mark > wm:
            await self.store.set_watermark(rt.name, system, DELETES, mark)

    # -- the per-record pipeline -----------------------------------------------------------------
    async def _process(self, p: _Pass, rt: _LinkRuntime, system: System, records: list[Record], *,
                       overrides: Mapping[str, dict[System, dict[str, JsonValue]]] | None = None,
                       force: Mapping[str, dict[str, System]] | None = None,
                       heal: bool = False, force_create: bool = False,
                       may_settle: frozenset[str] = frozenset(),
                       enriched: bool = False) -> list[RecordOutcome]:
        """Run records of one side through (enrich →) map → match → merge → write → commit.

        The link's enrich steps run here for the batch (one query per step and 1,000 ids), for
        the records and for the partners read, unless the caller ran them (``enriched``).

        Records in ``may_settle`` (read from a feed, or pushed) whose current values are exactly what
        the last sync left on their side end as skipped without reading their partner: nothing of
        theirs can flow, and a change on the partner arrives through the partner's own feed or push.
        """
        store, target = self.store, other(system)
        records = [r for r in records if not self._busy(p, rt, system, r.id)]
        # A record synced ahead of its own batch (a sibling's parent) is marked and leased by that batch.
        ahead = {r.id for r in records if (rt.name, system, r.id) in p.in_progress}
        if self.lease_ttl_s is not None:
            records = [r for r in records if r.id in ahead or await self._lease(p, rt, system, r)]
        live = [r for r in records if not r.is_deleted]
        gone = [DeletedRecord(r.object, r.id, r.modified_at, r.merged_into) for r in records if r.is_deleted]
        works: list[_Work] = []
        for r in live:
            p.in_progress.add((rt.name, system, r.id))
        batch = _Batch(rt.name, system, frozenset(r.id for r in live), p.in_progress)
        batches = _BATCHES.set((*_BATCHES.get(), batch))
        try:
            if not enriched:
                live = await self._enrich(p, rt, system, live)
            xrefs = await store.get_xrefs(rt.name, system, [r.id for r in live])
            settled: set[str] = set()
            if may_settle and not (overrides or force or heal or force_create):
                for r in live:
                    x = xrefs.get(r.id)
                    if r.id in may_settle and x is not None and await self._settled(rt, system, r, x):
                        settled.add(r.id)
            partner_ids = sorted({x.id_of(target) for i, x in xrefs.items() if i not in settled})
            partners: dict[str, Record] = {}
            if partner_ids:
                for rec in await self._enrich(p, rt, target, await p.ports[target].read_by_ids(
                        rt.spec.object_of(target), partner_ids, fields=rt.mapping.read_fields(target))):
                    partners[rec.id] = rec
            unlinked = [r for r in live if r.id not in xrefs]
            if unlinked and not force_create:
                try:
                    await p.matcher(rt).prefetch(system, unlinked)
                except RemoteError as exc:
                    if exc.kind is not ErrorKind.RECORD:
                        raise
            partner_gone: list[DeletedRecord] = []
            for r in live:
                if r.id in batch.early or r.id in batch.ahead:
                    continue  # synced ahead of the batch, as the parent of a sibling
                w = _Work(system, r, xrefs.get(r.id))
                w.heal = heal
                w.override = dict((overrides or {}).get(r.id, {}))
                w.force = dict((force or {}).get(r.id, {}))
                if w.xref is not None and r.id in settled:
                    w.done = RecordOutcome(rt.name, system, r.id, Outcome.SKIPPED,
                                           "no change since the last sync", "noop", w.xref.id_of(target))
                elif w.xref is not None and w.xref.is_closed:
                    assert w.xref.deleted_on is not None
                    w.done = RecordOutcome(rt.name, system, r.id, Outcome.SKIPPED,
                                           f"pair closed: partner deleted on {w.xref.deleted_on.value}",
                                           "noop", w.xref.id_of(target))
                elif w.xref is not None and w.xref.id_of(target) not in partners:
                    if w.xref.id_of(target).startswith(_PLANNED):
                        w.done = RecordOutcome(rt.name, system, r.id, Outcome.SYNCED, "planned",
                                               "create", w.xref.id_of(target))
                    else:
                        partner_gone.append(DeletedRecord(rt.spec.object_of(target), w.xref.id_of(target)))
                        continue
                else:
                    partner = partners.get(w.xref.id_of(target)) if w.xref else None
                    await self._prepare(p, rt, w, partner, force_create=force_create)
                works.append(w)
                batch.works[r.id] = w
            batch.open = False
            works = [w for w in works if w.record.id not in batch.early]
            await self._execute(p, rt, works)
            await self._commit(p, rt, works)
            self._finish(p, rt, works)
            outcomes = [w.done for w in works if w.done is not None] + list(batch.early.values())
            if gone:
                outcomes += await self._process_deleted(p, rt, system, gone)
            if partner_gone:
                outcomes += await self._process_deleted(p, rt, target, partner_gone)
            return outcomes
        finally:
            _BATCHES.reset(batches)
            for r in live:
                if r.id not in ahead:
                    p.in_progress.discard((rt.name, system, r.id))
            if self.lease_ttl_s is not None and not p.dry_run:
                for r in records:
                    if r.id not in ahead:
                        await store.unlock_record(f"{rt.name}:{system.value}:{r.id}", self.owner)

    def _finish(self, p: _Pass, rt: _LinkRuntime, works: Sequence[_Work]) -> None:
        """Record the outcomes of committed ``works``."""
        finished = self.clock.now()
        for w in works:
            assert w.done is not None
            p.touched.add((rt.name, w.system, w.record.id))
            w.done = replace(w.done, changed_at=w.record.modified_at, done_at=finished)
            p.record(w.done)

    async def _enrich(self, p: _Pass, rt: _LinkRuntime, system: System,
                      records: list[Record]) -> list[Record]:
        """``records`` of ``system`` with the link's enrich steps for that side applied."""
        steps = rt.spec.options.enrichments(system)
        if not steps or not records:
            return records
        return await enrich_records(rt.name, steps, system, p.ports[system], records)

    async def enrich(self, link: str, system: System, records: Sequence[Record]) -> list[Record]:
        """``records`` of ``system`` as the link's pipeline sees them (its enrich steps applied);
        for operations that read records outside a pass (reconcile, preview).

        Raises:
            ConfigError: a step cannot run (no query support, a refused query).
        """
        rt = self.links[link]
        return await enrich_records(link, rt.spec.options.enrichments(system), system, self.ports[system],
                                    records)

    def enrich_problems(self, names: Sequence[str] | None = None) -> list[LinkProblem]:
        """Enrich steps on a side whose port cannot run row queries."""
        problems: list[LinkProblem] = []
        for name in names if names is not None else list(self.links):
            for j, step in enumerate(self.specs[name].options.enrich):
                if query_support(self.ports[step.system]) is None:
                    problems.append(LinkProblem(("links", name, "options", "enrich", j),
                                                unsupported_reason(name, step, step.system)))
        return problems

    async def check_enrichments(self) -> list[LinkProblem]:
        """Online check of every enrich step (the side runs queries, and the query runs once, with
        an id no record has, so the system checks its tables and columns and returns no row) and
        every watch (the watched type exists and has the ``via`` field)."""
        problems = self.enrich_problems()
        failed = {(p.path[1], p.path[4]) for p in problems}
        for name, spec in self.specs.items():
            for j, step in enumerate(spec.options.enrich):
                if (name, j) in failed:
                    continue
                port = query_support(self.ports[step.system])
                assert port is not None
                try:
                    await port.query_rows(step.statement(1), ["-1"])
                except RemoteError as exc:
                    if exc.kind is not ErrorKind.RECORD:
                        raise
                    problems.append(LinkProblem(("links", name, "options", "enrich", j),
                                                f"{step.system.value} refused the query of enrich "
                                                f"{step.name!r}: {exc}"))
            for j, watch in enumerate(spec.options.watch):
                where = ("links", name, "options", "watch", j)
                try:
                    schema = await self.ports[watch.system].describe(watch.object)
                except RemoteError as exc:
                    if exc.kind is not ErrorKind.RECORD and exc.kind is not ErrorKind.NOT_FOUND:
                        raise
                    problems.append(LinkProblem(where, f"{watch.system.value} has no record type "
                                                       f"{watch.object!r} to watch ({exc})"))
                    continue
                head = Path(watch.via).head
                if schema.field(head) is None:
                    problems.append(LinkProblem(where, f"via: {watch.system.value} {watch.object} has no "
                                                       f"field {head!r}"))
        return problems

    async def _settled(self, rt: _LinkRuntime, system: System, r: Record, x: Xref) -> bool:
        """True when ``r`` holds exactly the values the last sync of its pair left on its side,
        and that sync completed: both baselines cover every field (a failed write or a parked
        conflict leaves gaps or older values) and no dead letter is open for the pair."""
        if x.is_closed:
            return False
        ctx = MapContext()
        try:
            views = rt.mapping.views(system, r, ctx)
        except ExpressionError:
            return False
        own = x.sf_baseline if system is System.SALESFORCE else x.ns_baseline
        if ctx.missing or ctx.unresolved or set(views) != set(x.sf_baseline) \
                or set(views) != set(x.ns_baseline):
            return False
        for f in rt.mapping.fields:
            if not f.same(views[f.key], own[f.key]):
                return False
        for side in System:
            letter = await self.store.find_dead_letter(rt.name, side, x.id_of(side))
            if letter is not None and letter.status is DeadLetterStatus.OPEN:
                return False
        return True

    def _busy(self, p: _Pass, rt: _LinkRuntime, system: System, id: str) -> bool:
        """True when other work of this pass has the record in hand (not when this task syncs a
        record of its own batch ahead of the batch)."""
        if (rt.name, system, id) not in p.in_progress:
            return False
        batch = self._batch_of(p, (rt.name, system, id))
        return batch is None or not batch.open or id not in batch.ahead

    def _batch_of(self, p: _Pass, key: _Key) -> _Batch | None:
        """The batch of this task (innermost first) that holds ``key``, if any."""
        link, system, id = key
        for batch in reversed(_BATCHES.get()):
            if batch.marks is p.in_progress and batch.link == link and batch.system is system \
                    and id in batch.ids:
                return batch
        return None

    async def _lease(self, p: _Pass, rt: _LinkRuntime, system: System, r: Record) -> bool:
        assert self.lease_ttl_s is not None
        ok = await self.store.try_lock_record(f"{rt.name}:{system.value}:{r.id}", self.owner,
                                              now=self.clock.now(), ttl_s=self.lease_ttl_s)
        if not ok:
            p.record(RecordOutcome(rt.name, system, r.id, Outcome.WAITING, "leased by another worker"))
        return ok

    async def _prepare(self, p: _Pass, rt: _LinkRuntime, w: _Work, partner: Record | None, *,
                       force_create: bool) -> None:
        """Map, resolve references, match and merge one record (no writes yet)."""
        system, target, r = w.system, other(w.system), w.record
        spec = rt.spec
        if w.xref is None and (rt.name, system, r.id) in p.touched:
            w.xref = await self.store.get_xref(rt.name, system, r.id)
            if w.xref is not None and w.xref.is_closed:
                w.done = RecordOutcome(rt.name, system, r.id, Outcome.SKIPPED, "pair closed", "noop")
                return
            if w.xref is not None:
                found = await self._enrich(p, rt, target, await p.ports[target].read_by_ids(
                    spec.object_of(target), [w.xref.id_of(target)], fields=rt.mapping.read_fields(target)))
                partner = found[0] if found else None
        try:
            if w.xref is None or partner is None:
                review = await self.store.find_review(rt.name, system, r.id)
                if review is not None and not force_create and not is_guard_review(review):
                    why = f"{REVIEW_WAIT} {review.id} is open"
                    if review.label.startswith(DUPLICATE_LABEL):
                        why = f"{DUPLICATE_REASON}: {why} ({review.label[len(DUPLICATE_LABEL):]})"
                    w.done = RecordOutcome(rt.name, system, r.id, Outcome.WAITING, why)
                    return
                if force_create:
                    result = MatchResult("none")
                else:
                    try:
                        result = await p.matcher(rt).match(system, r)
                    except ExpressionError as exc:
                        self._fail(w, Step.MATCH, exc.code, str(exc), dict(r.fields))
                        return
                if result.kind == "review":
                    for cand in result.candidates:
                        mirrored = await self.store.find_review(rt.name, target, cand.id)
                        if mirrored is not None and any(c.id == r.id for c in mirrored.candidates):
                            w.done = RecordOutcome(rt.name, system, r.id, Outcome.WAITING,
                                                   f"candidate in {REVIEW_WAIT} {mirrored.id}")
                            return
                    await self._open_review(p, rt, system, r, result)
                    w.done = RecordOutcome(rt.name, system, r.id, Outcome.WAITING,
                                           f"{REVIEW_WAIT}: {len(result.candidates)} candidate(s), best "
                                           f"{result.score:.0f} by {result.rule}")
                    return
                if result.kind == "linked":
                    assert result.partner is not None
                    [partner] = await self._enrich(p, rt, target, [result.partner])
                    p.matcher(rt).claim(target, partner.id)
                    w.link_rule = result.rule
                    w.action = "link"
                else:
                    if not spec.creates_on(target):
                        w.done = RecordOutcome(rt.name, system, r.id, Outcome.SKIPPED,
                                               f"no match, and the link does not create on {target.value}")
                        return
                    held_by = None if force_create else \
                        (await self._duplicate_candidates(p, rt)).get((system, r.id))
                    if held_by is not None:  # the other side's create was refused as its duplicate
                        w.done = RecordOutcome(rt.name, system, r.id, Outcome.WAITING,
                                               f"candidate in {REVIEW_WAIT} {held_by} ({DUPLICATE_REASON} "
                                               f"of it on {target.value}): not created")
                        return
                    w.create_on = target
                    w.action = "create"
            # map (twice when parents must be synced first)
            if w.create_on is not None:
                checks = spec.options.preflight if target is System.NETSUITE else []
                await self._map_with_refs(p, rt, w, lambda ctx: rt.mapping.map_values(target, r, ctx),
                                          allow_unresolved=any(c.check == "items_linked" for c in checks))
                w.create_values = rt.mapping.map_values(target, r, w.ctx)
                if checks:
                    await self._preflight(p, rt, w)
                return
            assert partner is not None
            w.sf, w.ns = (r, partner) if system is System.SALESFORCE else (partner, r)
            sf, ns = w.sf, w.ns

            def both(ctx: MapContext) -> object:
                rt.mapping.map_values(System.NETSUITE, sf, ctx)
                rt.mapping.map_values(System.SALESFORCE, ns, ctx)
                rt.mapping.views(System.SALESFORCE, sf, ctx)
                return rt.mapping.views(System.NETSUITE, ns, ctx)

            await self._map_with_refs(p, rt, w, both)
            w.merge = merge_pair(rt.mapping, sf, ns,
                                 sf_baseline=w.xref.sf_baseline if w.xref else None,
                                 ns_baseline=w.xref.ns_baseline if w.xref else None,
                                 ctx=w.ctx, force=w.force or None, heal=w.heal)
            w.updates = {s: dict(v) for s, v in w.merge.writes.items() if v}
            for side, guard in rt.freeze.items():
                held = w.updates.get(side)
                if held and guard.frozen(rt.mapping.input_of(sf if side is System.SALESFORCE else ns, side)):
                    w.frozen[side] = w.updates.pop(side)
            if not w.action:
                w.action = "update" if w.updates or w.override else "noop"
        except _RefUnresolved as exc:
            if exc.outcome is Outcome.WAITING:
                w.done = RecordOutcome(rt.name, system, r.id, Outcome.WAITING, str(exc))
            else:
                self._fail(w, exc.step, exc.code, str(exc), dict(r.fields))
        except ExpressionError as exc:
            self._fail(w, Step.MAP, exc.code, str(exc), dict(r.fields))

    def _fail(self, w: _Work, step: Step, code: str, message: str, payload: dict[str, JsonValue],
              kind: ErrorKind = ErrorKind.RECORD, system: System | None = None) -> None:
        w.failed[system or other(w.system)] = RecordError(kind, code, message)
        w.failed_step = step
        w.failed_payload = payload

    async def _map_with_refs(self, p: _Pass, rt: _LinkRuntime, w: _Work,
                             fn: Callable[[MapContext], object], *, allow_unresolved: bool = False) -> None:
        """Evaluate ``fn`` to discover references, resolve them (syncing parents first), and leave
        the resolved ids in ``w.ctx``. A reference through several links that none resolves is left
        in ``w.ctx.unresolved`` when ``allow_unresolved`` (a preflight check reports it); otherwise
        nothing is written for the record (see :meth:`_unresolved`).

        Raises:
            _RefUnresolved: a parent could not be synced, or a reference resolves through no link.
            ExpressionError: a mapping failed.
        """
        chain = _CHAIN.set((*_CHAIN.get(), (rt.name, w.system, w.record.id)))
        try:
            for _ in range(3):
                w.ctx.missing.clear()
                fn(w.ctx)
                if not w.ctx.missing:
                    break
                await self._resolve_refs(p, w.ctx, sorted(w.ctx.missing, key=lambda q: (q.link, q.id)))
            else:
                w.ctx.missing.clear()
                fn(w.ctx)
                if w.ctx.missing:
                    req = sorted(w.ctx.missing, key=lambda q: (q.link, q.id))[0]
                    raise _RefUnresolved(Outcome.DEAD_LETTERED, f"{req.describe()} could not be resolved",
                                         req=req)
        except _RefUnresolved as exc:
            await self._held(rt, w, exc)
            raise
        finally:
            _CHAIN.reset(chain)
        checks = [c for c in rt.spec.options.preflight if c.check == "items_linked"]
        # with ``allow_unresolved`` the create's preflight reports what its items_linked checks cover
        left = [q for q in w.ctx.unresolved if not allow_unresolved or not any(
            not c.links or set(c.links) & set(q.links) for c in checks)]
        if left:
            await self._unresolved(p, rt, w, sorted(left, key=lambda q: (q.links, q.id))[0])
        if checks and not allow_unresolved and not p.dry_run:
            await self._close_items_review(rt, w)

    def _owner(self, w: _Work, system: System) -> Record:
        """The record of ``w``'s pair on ``system`` (the record itself on a create)."""
        pair = w.sf if system is System.SALESFORCE else w.ns
        return pair if pair is not None else w.record

    async def _unresolved(self, p: _Pass, rt: _LinkRuntime, w: _Work, req: RefRequest) -> None:
        """A reference through several links that none resolves (``req``), where no preflight of a
        create reports it (an update, or a link without a covering ``items_linked``): nothing is
        written. When the reference goes to NetSuite and the link has an ``items_linked`` check
        covering it, the record waits in the same preflight review a create gets; otherwise it is a
        map dead letter (kept on the record that holds the reference: its partner, processed in the
        same state, waits on that letter instead of opening a second one).

        Raises:
            _RefUnresolved: always.
        """
        checks = [c for c in rt.spec.options.preflight if c.check == "items_linked"
                  and (not c.links or set(c.links) & set(req.links))]
        owner = self._owner(w, req.from_system)
        if checks and req.from_system is System.SALESFORCE:
            target = System.NETSUITE

            async def read(object: str, ids: Sequence[str]) -> list[Record]:
                return await p.ports[target].read_by_ids(object, ids)

            ctx = MapContext(unresolved={req})
            inp = PreflightInput(rt.mapping.input_of(owner, req.from_system), {}, ctx, read,
                                 lambda link: self.specs[link].object_of(target))
            reason = await run_preflight(checks, inp)
            if reason is not None:
                await self._guard_review(p, rt, req.from_system, owner.id, PREFLIGHT_LABEL + reason)
                p.link_summary(rt.name).actions["preflight"] += 1
                raise _RefUnresolved(Outcome.WAITING, f"preflight: {reason}")
        message = (f"{req.from_system.value} {req.id} is linked through none of {', '.join(req.links)}: "
                   f"nothing written, as the {other(req.from_system).value} record would lose that reference")
        exc = _RefUnresolved(Outcome.DEAD_LETTERED, message, step=Step.MAP, code="REF_UNRESOLVED", req=req)
        await self._held(rt, w, exc)
        raise exc

    async def _held(self, rt: _LinkRuntime, w: _Work, exc: _RefUnresolved) -> None:
        """A reference of the partner's side failed as it did when the partner was dead-lettered:
        this side waits on that letter (its retry reconciles the pair) instead of opening a second.

        Raises:
            _RefUnresolved: waiting, naming the partner and its letter.
        """
        req = exc.req
        if req is None or exc.outcome is not Outcome.DEAD_LETTERED:
            return
        owner = self._owner(w, req.from_system)
        if owner is w.record:
            return
        letter = await self.store.find_dead_letter(rt.name, req.from_system, owner.id)
        if letter is not None and letter.status is DeadLetterStatus.OPEN and letter.error_code == exc.code:
            raise _RefUnresolved(Outcome.WAITING, f"held with {req.from_system.value} "
                                                  f"{rt.spec.object_of(req.from_system)} {owner.id} "
                                                  f"(dead letter {letter.id}): {exc}")

    async def _close_items_review(self, rt: _LinkRuntime, w: _Work) -> None:
        """Close the items_linked review an update left open, now that every reference resolves."""
        owner = self._owner(w, System.SALESFORCE)
        if owner.object != rt.spec.object_of(System.SALESFORCE):
            return
        review = await self.store.find_review(rt.name, System.SALESFORCE, owner.id)
        if review is not None and review.status is ReviewStatus.OPEN and is_guard_review(review) \
                and review.label.startswith(PREFLIGHT_LABEL + "items_linked:"):
            await self.store.put_review(replace(review, status=ReviewStatus.LINKED,
                                                resolved_at=self.clock.now()))

    async def _resolve_refs(self, p: _Pass, ctx: MapContext, requests: Sequence[RefRequest]) -> None:
        for req in requests:
            for name in req.links:
                if name not in self.links:
                    raise _RefUnresolved(Outcome.DEAD_LETTERED, f"ref to unknown link {name!r}")
            x, via = None, req.link
            for name in req.links:
                x, via = await self.store.get_xref(name, req.from_system, req.id), name
                if x is not None:
                    break
            if x is None:
                outcome = None
                for name in req.links:
                    key = (name, req.from_system, req.id)
                    chain = _CHAIN.get()
                    if key in chain:
                        cycle = " -> ".join(f"{k[0]} {k[1].value} {k[2]}"
                                            for k in (*chain[chain.index(key):], key))
                        raise _RefUnresolved(Outcome.DEAD_LETTERED, f"reference cycle: {cycle}")
                    if key in p.in_progress and self._batch_of(p, key) is None:
                        outcome = RecordOutcome(name, req.from_system, req.id, Outcome.WAITING,
                                                "other work of this pass is syncing it")
                        continue
                    outcome = await self._sync_parent(p, name, req)
                    x, via = await self.store.get_xref(name, req.from_system, req.id), name
                    if x is not None:
                        break
                if x is None and req.also:
                    ctx.unresolved.add(req)  # several links: the caller decides (preflight or dead letter)
                    continue
                if x is None:
                    state = outcome.outcome if outcome else Outcome.DEAD_LETTERED
                    why = outcome.reason if outcome else "it does not exist"
                    if state is Outcome.WAITING and REVIEW_WAIT in why:
                        # Nothing re-reads a waiting child once its parent's review is decided: a
                        # dead letter keeps it in sight, and deciding the review retries it.
                        state = Outcome.DEAD_LETTERED
                        why += ("; deciding that review (link or create) retries this letter "
                                "(or retry it by hand)")
                    raise _RefUnresolved(
                        Outcome.WAITING if state is Outcome.WAITING else Outcome.DEAD_LETTERED,
                        f"parent {req.link} {req.from_system.value} {req.id} is not synced: {why}", req=req)
            ctx.refs[req] = x.id_of(other(req.from_system))
            ctx.via[req] = via

    async def _sync_parent(self, p: _Pass, link: str, req: RefRequest) -> RecordOutcome | None:
        """Sync the parent ``req`` names through ``link`` now. A parent in a batch of this task that
        is still being prepared (the child's sibling) is synced ahead of that batch: written at once
        when already prepared, else processed on its own; the batch then leaves it out."""
        rt = self.links[link]
        batch = self._batch_of(p, (link, req.from_system, req.id))
        if batch is not None:
            if req.id in batch.early:
                return batch.early[req.id]
            w = batch.works.get(req.id)
            if w is not None:
                if batch.open:
                    await self._execute(p, rt, [w])
                    await self._commit(p, rt, [w])
                    self._finish(p, rt, [w])
                    assert w.done is not None
                    batch.early[req.id] = w.done
                return w.done
            if not batch.open:
                return None
        lock = f"{link}:{req.from_system.value}:{req.id}"
        if batch is None and self.lease_ttl_s is not None and not await self.store.try_lock_record(
                lock, self.owner, now=self.clock.now(), ttl_s=self.lease_ttl_s):
            return RecordOutcome(link, req.from_system, req.id, Outcome.WAITING, "leased by another worker")
        port = p.ports[req.from_system]
        found = await port.read_by_ids(rt.spec.object_of(req.from_system), [req.id],
                                       fields=rt.mapping.read_fields(req.from_system))
        if not found:
            if batch is None and self.lease_ttl_s is not None and not p.dry_run:
                await self.store.unlock_record(lock, self.owner)
            return None
        if batch is not None:
            batch.ahead.add(req.id)
        try:
            outcomes = await self._process(p, rt, req.from_system, found)
        finally:
            if batch is not None:
                batch.ahead.discard(req.id)
        outcome = next((o for o in outcomes if o.id == req.id), None)
        if batch is not None and outcome is not None:
            batch.early[req.id] = outcome
        return outcome

    async def _preflight(self, p: _Pass, rt: _LinkRuntime, w: _Work) -> None:
        """Run the link's preflight checks on a create; a failure parks the record as a review."""
        target = other(w.system)

        async def read(object: str, ids: Sequence[str]) -> list[Record]:
            return await p.ports[target].read_by_ids(object, ids)

        inp = PreflightInput(rt.mapping.input_of(w.record, w.system),
                             rt.mapping.payload(target, w.create_values), w.ctx, read,
                             lambda link: self.specs[link].object_of(target))
        reason = await run_preflight(rt.spec.options.preflight, inp)
        existing = await self.store.find_review(rt.name, w.system, w.record.id)
        if reason is None:
            if existing is not None and is_guard_review(existing) and not p.dry_run:
                await self.store.put_review(replace(existing, status=ReviewStatus.CREATED,
                                                    resolved_at=self.clock.now()))
            return
        await self._guard_review(p, rt, w.system, w.record.id, PREFLIGHT_LABEL + reason)
        p.link_summary(rt.name).actions["preflight"] += 1
        w.done = RecordOutcome(rt.name, w.system, w.record.id, Outcome.WAITING, f"preflight: {reason}",
                               "create")

    async def _guard_review(self, p: _Pass, rt: _LinkRuntime, system: System, record_id: str,
                            label: str) -> None:
        """Open (or refresh) the preflight/freeze review of one record."""
        existing = await self.store.find_review(rt.name, system, record_id)
        if existing is not None and is_guard_review(existing):
            if existing.label != label:
                await self.store.put_review(replace(existing, label=label))
            return
        review = MatchReview(uuid.uuid4().hex, rt.name, system, record_id, (), self.clock.now(), label)
        await self.store.put_review(review)
        events.log(events.REVIEW_OPENED, link=rt.name, system=system.value, id=record_id,
                   review_id=review.id, best=0.0, rule=label.split(":")[0], run_id=p.run_id)

    async def _open_review(self, p: _Pass, rt: _LinkRuntime, system: System, r: Record,
                           result: MatchResult) -> None:
        label = ""
        fz = rt.spec.match.fuzzy
        if fz is not None and (path := fz.name.of(system)):
            value = r.fields.get(path)
            label = str(value) if value is not None else ""
        review = MatchReview(uuid.uuid4().hex, rt.name, system, r.id, result.candidates, self.clock.now(),
                             label)
        await self.store.put_review(review)
        events.log(events.REVIEW_OPENED, link=rt.name, system=system.value, id=r.id, review_id=review.id,
                   best=result.score, rule=result.rule, run_id=p.run_id)

    # -- writes ----------------------------------------------------------------------------------
    def _decision_events(self, p: _Pass, rt: _LinkRuntime, w: _Work) -> list[AuditEvent]:
        """Audit events for fields where a human edit loses (conflict) or is not propagated."""
        out: list[AuditEvent] = []
        if w.merge is None or w.sf is None or w.ns is None:
            return out
        now = self.clock.now()
        for d in w.merge.decisions:
            if d.conflict or d.action == "ignored":
                out.append(AuditEvent(
                    uuid.uuid4().hex, now, rt.name, "conflict" if d.conflict else "ignored", d.winner,
                    w.sf.id, w.ns.id, p.run_id, fields=(d.field,),
                    before={"salesforce": d.sf_value, "netsuite": d.ns_value},
                    after={"base_salesforce": d.base_sf, "base_netsuite": d.base_ns},
                    decision="parked" if d.action == "parked" else (
                        f"{d.winner.value}_wins" if d.winner else d.action),
                    reason=d.reason or "changed on both sides since the last sync", rule=d.rule))
        return out

    async def _execute(self, p: _Pass, rt: _LinkRuntime, works: list[_Work]) -> None:
        """Creates (idempotent upserts), then follow-up merges of created pairs, then updates."""
        mapping = rt.mapping
        # Decisions that override a human edit are recorded before anything is written, so a crash
        # between the write and the commit cannot lose an edit without an audit entry.
        decided: list[AuditEvent] = []
        for w in works:
            if w.done is None and not w.failed and w.merge is not None and w.updates:
                events_ = self._decision_events(p, rt, w)
                if events_:
                    decided += events_
                    w.pre_audited = True
        if decided:
            async with self.store.transaction():
                await self.store.add_audit(decided)
        for target in System:
            todo = [w for w in works if w.done is None and not w.failed and w.create_on is target]
            if not todo:
                continue
            key_field = rt.spec.external_id_field(target)
            port = p.ports[target]
            if not port.capabilities.upsert_by_external_id:
                key_field = None
            writes = []
            for w in todo:
                payload = _deep_merge(mapping.payload(target, w.create_values), w.override.get(target, {}))
                # An empty mapped value is left out of a create, so the system applies its own default
                # (NetSuite sources terms, currency... from the customer); null would clear it.
                payload = {k: v for k, v in payload.items() if v is not None}
                writes.append(Write(payload, external_id=w.record.id if key_field else None))
            results = await self._write(p, rt, target, writes, key_field)
            created_ids: list[str] = []
            for w, write, res in zip(todo, writes, results, strict=True):
                if res.error is not None or res.id is None:
                    w.failed[target] = res.error or RecordError(ErrorKind.PROTOCOL, "NO_ID",
                                                                "the write returned no id")
                    w.failed_payload = dict(write.fields)
                    continue
                w.created = True
                created_ids.append(res.id)
                fields = dict(write.fields)
                if key_field and write.external_id:
                    fields[key_field] = write.external_id
                new = Record(rt.spec.object_of(target), res.id, fields, modified_at=self.clock.now())
                w.sf, w.ns = (w.record, new) if w.system is System.SALESFORCE else (new, w.record)
                p.matcher(rt).claim(target, res.id)
            made = {made_rec.id: w.record.id for w in todo if w.created
                    and (made_rec := w.ns if target is System.NETSUITE else w.sf) is not None}
            for w in todo:
                error = w.failed.get(target)
                if error is not None and error.code in DUPLICATE_CODES:
                    await self._find_duplicates(p, rt, w, target, error, made)
            # Read back what the system made of our creates (server-assigned values, normalisation)
            # when fields flow back to the source side; in a plan this is counted, not performed.
            if created_ids and mapping.fields_to(other(target)):
                fresh = {rec.id: rec for rec in await self._enrich(p, rt, target, await port.read_by_ids(
                    rt.spec.object_of(target), created_ids, fields=mapping.read_fields(target)))}
                for w in todo:
                    if w.created:
                        created = w.ns if target is System.NETSUITE else w.sf
                        assert created is not None
                        if created.id in fresh:
                            if target is System.NETSUITE:
                                w.ns = fresh[created.id]
                            else:
                                w.sf = fresh[created.id]
            for w in todo:
                if not w.created:
                    continue
                assert w.sf is not None and w.ns is not None
                try:
                    w.merge = merge_pair(mapping, w.sf, w.ns, sf_baseline=None, ns_baseline=None,
                                         ctx=w.ctx, prefer=w.system)
                except ExpressionError as exc:
                    self._fail(w, Step.MAP, exc.code, str(exc), dict(w.record.fields))
                    continue
                edited = w.override.get(target, {})
                if edited:  # an edited payload is a deliberate choice: do not write it back over
                    w.merge.writes[target] = {
                        k: v for k, v in w.merge.writes[target].items()
                        if not set(mapping.payload(target, {k: v})) <= set(edited)}
                w.updates = {s: dict(v) for s, v in w.merge.writes.items() if v}
        for target in System:
            todo = [w for w in works if w.done is None and target not in w.failed
                    and (w.updates.get(target) or w.override.get(target)) and not
                    (w.create_on is target and not w.updates.get(target))]
            if not todo:
                continue
            writes = []
            for w in todo:
                partner = w.ns if target is System.NETSUITE else w.sf
                assert partner is not None
                payload = _deep_merge(mapping.payload(target, w.updates.get(target, {})),
                                      w.override.get(target, {}) if w.create_on is not target else {})
                writes.append(Write(payload, id=partner.id))
            results = await self._write(p, rt, target, writes, None)
            for w, write, res in zip(todo, writes, results, strict=True):
                if res.error is not None:
                    w.failed[target] = res.error
                    w.failed_payload = dict(write.fields)

    async def _duplicate_candidates(self, p: _Pass, rt: _LinkRuntime) -> dict[tuple[System, str], str]:
        """The records that are candidates of the link's open duplicate reviews (read once a pass)."""
        if rt.name not in p.dup_candidates:
            found: dict[tuple[System, str], str] = {}
            for review in await self.store.list_reviews(link=rt.name, status=ReviewStatus.OPEN,
                                                        limit=100_000):
                if review.label.startswith(DUPLICATE_LABEL):
                    for c in review.candidates:
                        found[(other(review.system), c.id)] = review.id
            p.dup_candidates[rt.name] = found
        return p.dup_candidates[rt.name]

    def _duplicate_lookup(self, rt: _LinkRuntime, w: _Work, target: System,
                          error: RecordError) -> tuple[str, list[str]] | None:
        """The field and values to look up the record a refused create duplicates: the field the
        error names, by its value in the create, else by the record's name, else by every value the
        create sent (systems derive such fields from one of them, as NetSuite derives the entity ID
        from the company name); without such a field, the link's fuzzy name field, else a match key."""
        payload = w.failed_payload
        fz = rt.spec.match.fuzzy
        name_field = fz.name.of(target) if fz is not None else None
        name = payload.get(name_field) if name_field and _plain(name_field) else None
        if name in (None, "") and fz is not None and (src := fz.name.of(w.system)) and _plain(src):
            name = w.record.fields.get(src)
        for path in error.fields:
            head = path.split(".")[0].split("[")[0]
            if not _plain(head):
                continue
            if (value := _scalar(payload.get(head))) is not None:
                return head, [value]
            if isinstance(name, str) and name:
                return head, [name]
            sent = [v for v in (_scalar(x) for x in payload.values()) if v is not None and len(v) <= 200]
            if sent:
                return head, list(dict.fromkeys(sent))[:30]
        if name_field and _plain(name_field) and isinstance(name, str) and name:
            return name_field, [name]
        for key in rt.spec.match.keys:
            path = key.salesforce if target is System.SALESFORCE else key.netsuite
            if _plain(path) and (value := _scalar(payload.get(path))) is not None:
                return path, [value]
        return None

    async def _find_duplicates(self, p: _Pass, rt: _LinkRuntime, w: _Work, target: System,
                               error: RecordError, made: Mapping[str, str]) -> None:
        """A create of ``w`` was refused as a duplicate: find the existing record(s) on ``target``
        (one ``find`` call, the values as written and in upper and lower case, as systems compare
        names case-insensitively) and note them, with the record each is linked to, if any (``made``:
        records this batch just created, by the id of the record each was created for)."""
        w.duplicates = []
        lookup = self._duplicate_lookup(rt, w, target, error)
        w.duplicate_lookup = lookup
        if lookup is None:
            return
        field_name, values = lookup
        spellings = [v for x in values for v in (x, x.upper(), x.lower())]
        read = rt.mapping.read_fields(target)
        try:
            found = await p.ports[target].find(rt.spec.object_of(target), field_name,
                                               list(dict.fromkeys(spellings)),
                                               fields=None if read is None else [*read, field_name])
        except RemoteError as exc:
            if exc.kind is not ErrorKind.RECORD:
                raise
            return
        except ConfigError:
            return
        fz = rt.spec.match.fuzzy
        name_field = fz.name.of(target) if fz is not None else None
        source = w.system
        for rec in sorted(found, key=lambda r: r.id)[:10]:
            x = await self.store.get_xref(rt.name, target, rec.id)
            linked = x.id_of(source) if x is not None and not x.is_closed else made.get(rec.id)
            name = rec.fields.get(name_field) if name_field else None
            label = f"{target.value} {rt.spec.object_of(target)} {rec.id}"
            if name not in (None, ""):
                label += f" {name!r}"
            elif (held := _scalar(rec.fields.get(field_name))) is not None:
                label += f" ({field_name} {held!r})"
            if linked is not None:
                label += f", already linked to {source.value} {linked}"
            w.duplicates.append(MatchCandidate(
                rec.id, 100.0, f"duplicate:{error.code}", label=label,
                details={"field": field_name, "values": list(values), "linked_to": linked,
                         "code": error.code}))

    async def _duplicate_review(self, p: _Pass, rt: _LinkRuntime, w: _Work, error: RecordError) -> None:
        """Open the match review of a create the target refused as a duplicate of the records found
        (``w.duplicates``): the record waits for a person to link it to one, or rename and create."""
        assert w.duplicates
        store, r, target = self.store, w.record, other(w.system)
        fz = rt.spec.match.fuzzy
        src_name = fz.name.of(w.system) if fz is not None else None
        name = r.fields.get(src_name) if src_name else None
        who = f"{w.system.value} {rt.spec.object_of(w.system)} {r.id}" + (f" {name!r}" if name else "")
        label = (f"{DUPLICATE_LABEL}{who} would duplicate " + "; ".join(c.label for c in w.duplicates)
                 + f" ({target.value} refused the create: {error.code}: {error.message.rstrip('.')}). Link "
                 f"them, or rename one and create")
        existing = await store.find_review(rt.name, w.system, r.id)
        if existing is not None:
            review = replace(existing, candidates=tuple(w.duplicates), label=label)
        else:
            review = MatchReview(uuid.uuid4().hex, rt.name, w.system, r.id, tuple(w.duplicates),
                                 self.clock.now(), label)
            events.log(events.REVIEW_OPENED, link=rt.name, system=w.system.value, id=r.id,
                       review_id=review.id, best=100.0, rule=f"duplicate:{error.code}", run_id=p.run_id)
        await store.put_review(review)
        held = await self._duplicate_candidates(p, rt)
        for c in review.candidates:
            held[(target, c.id)] = review.id
        letter = await store.find_dead_letter(rt.name, w.system, r.id)
        if letter is not None and letter.status is DeadLetterStatus.OPEN:  # the review takes it over
            await store.put_dead_letter(replace(letter, status=DeadLetterStatus.RESOLVED,
                                                updated_at=self.clock.now()))
        p.link_summary(rt.name).actions["duplicate_review"] += 1
        w.done = RecordOutcome(rt.name, w.system, r.id, Outcome.WAITING,
                               f"{DUPLICATE_REASON}: match review {review.id} is open "
                               f"({label[len(DUPLICATE_LABEL):]})", w.action)

    def _no_duplicate_found(self, rt: _LinkRuntime, w: _Work, error: RecordError) -> str:
        """The dead letter's message for a refused duplicate whose existing record was not found."""
        target = other(w.system)
        obj = rt.spec.object_of(target)
        looked = "the link names no field to look it up by"
        if w.duplicate_lookup is not None:
            field_name, values = w.duplicate_lookup
            looked = f"no {obj} with {field_name} " + " or ".join(repr(v) for v in values[:5]) + " was found"
        back = rt.spec.external_id_field(target) if rt.spec.match.external_id else None
        link = (f"set its {back} to {w.record.id} so that matching links the two, "
                if back else "link the two, ")
        return (f"{error.message} -- {target.value} refused the create as a duplicate of an existing {obj}, "
                f"and {looked}. Find that {obj} in {target.value} and {link}or rename one of them; then "
                f"retry this letter")

    async def _write(self, p: _Pass, rt: _LinkRuntime, target: System, writes: list[Write],
                     key_field: str | None) -> list[WriteResult]:
        port = p.ports[target]
        size = min(rt.spec.options.batch_size or 10**9, port.capabilities.max_write_batch)
        out: list[WriteResult] = []
        for chunk in _chunks(writes, size):
            try:
                results = await port.upsert(rt.spec.object_of(target), chunk, key_field=key_field)
            except RemoteError as exc:
                if exc.kind is not ErrorKind.RECORD:
                    raise
                err = RecordError(exc.kind, exc.code or type(exc).__name__, str(exc))
                results = [WriteResult(i, error=err) for i in range(len(chunk))]
            if self.hooks.after_write is not None and not p.dry_run:
                await self.hooks.after_write(rt.name, target, results)
            by_index = {res.index: res for res in results}
            out.extend(by_index.get(i, WriteResult(i, error=RecordError(
                ErrorKind.PROTOCOL, "NO_RESULT", "the system returned no result for this record")))
                for i in range(len(chunk)))
        return out

    # -- commit ----------------------------------------------------------------------------------
    async def _commit(self, p: _Pass, rt: _LinkRuntime, works: list[_Work]) -> None:
        """Record ids, baselines, audit, conflicts and dead letters for a chunk, atomically."""
        async with self.store.transaction():
            for w in works:
                if w.done is not None:
                    continue
                await self._commit_one(p, rt, w)

    async def _commit_one(self, p: _Pass, rt: _LinkRuntime, w: _Work) -> None:
        store, now, mapping = self.store, self.clock.now(), rt.mapping
        system = w.system
        r = w.record
        audit: list[AuditEvent] = []

        def event(action: str, side: System | None, **kw: Any) -> None:
            audit.append(AuditEvent(uuid.uuid4().hex, now, rt.name, action, side,
                                    w.sf.id if w.sf else (r.id if system is System.SALESFORCE else None),
                                    w.ns.id if w.ns else (r.id if system is System.NETSUITE else None),
                                    p.run_id, **kw))

        # A create failed, nothing to pair, or a pair failed before its merge (mapping, references):
        # nothing was written, and the baselines stay as they were, so the change is still pending.
        if w.sf is None or w.ns is None or (w.failed and w.merge is None and not w.created):
            error = next(iter(w.failed.values()), None)
            if error is not None and w.duplicates:
                await self._duplicate_review(p, rt, w, error)
            elif error is not None and w.duplicates is not None:
                message = self._no_duplicate_found(rt, w, error)
                await self._dead_letter(p, rt, w, replace(error, message=message))
            elif error is not None:
                await self._dead_letter(p, rt, w, error)
            return
        # What each side holds now: its record plus what we wrote successfully.
        after = {System.SALESFORCE: w.sf, System.NETSUITE: w.ns}
        for side, values in w.updates.items():
            if side in w.failed or not values:
                continue
            rec = after[side]
            after[side] = replace(rec, fields=_deep_merge(rec.fields, mapping.payload(side, values)))
        for side, patch in w.override.items():
            if side not in w.failed and patch and w.create_on is not side:
                rec = after[side]
                after[side] = replace(rec, fields=_deep_merge(rec.fields, patch))
        try:
            bs = mapping.views(System.SALESFORCE, after[System.SALESFORCE], w.ctx)
            bn = mapping.views(System.NETSUITE, after[System.NETSUITE], w.ctx)
        except ExpressionError as exc:
            await self._dead_letter(p, rt, w, RecordError(ErrorKind.RECORD, exc.code, str(exc)), Step.MAP)
            return
        old_s = w.xref.sf_baseline if w.xref else {}
        old_n = w.xref.ns_baseline if w.xref else {}
        merge = w.merge or MergeOutcome()
        for d in merge.parked:
            for base, old in ((bs, old_s), (bn, old_n)):
                if d.field in old:
                    base[d.field] = copy.deepcopy(old[d.field])
                else:
                    base.pop(d.field, None)
        for side, held in w.frozen.items():  # still a pending change when the freeze lifts
            base, old = (bs, old_s) if side is System.NETSUITE else (bn, old_n)
            for key in held:
                if key in old:
                    base[key] = copy.deepcopy(old[key])
                else:
                    base.pop(key, None)
        for side in w.failed:  # retry the winner's value next time: forget the winner's baseline
            winner_base = bn if side is System.SALESFORCE else bs
            for key in w.updates.get(side, {}):
                winner_base.pop(key, None)
        xref = Xref(rt.name, w.sf.id, w.ns.id, bs, bn,
                    created_at=w.xref.created_at if w.xref else now, updated_at=now,
                    sf_modified_at=after[System.SALESFORCE].modified_at,
                    ns_modified_at=after[System.NETSUITE].modified_at)
        changed_state = w.xref is None or dict(w.xref.sf_baseline) != bs or dict(w.xref.ns_baseline) != bn
        if changed_state:
            await store.put_xref(xref)
        if w.created:
            assert w.create_on is not None
            created = after[w.create_on]
            event("create", w.create_on, fields=tuple(sorted(mapping.payload(w.create_on, w.create_values))),
                  after=dict(mapping.payload(w.create_on, w.create_values)), decision="created",
                  reason=f"no match for {system.value} {r.id}", rule="create")
            events.log(events.RECORD_CREATED, link=rt.name, system=w.create_on.value, id=created.id,
                       source_id=r.id, run_id=p.run_id)
        elif w.link_rule:
            event("link", None, decision="linked", reason=f"matched by {w.link_rule}", rule=w.link_rule)
            events.log(events.RECORD_LINKED, link=rt.name, sf_id=w.sf.id, ns_id=w.ns.id, rule=w.link_rule,
                       run_id=p.run_id)
        for side, values in w.updates.items():
            if side in w.failed or not values:
                continue
            before_rec = w.sf if side is System.SALESFORCE else w.ns
            data = mapping.input_of(before_rec, side)
            before: dict[str, JsonValue] = {}
            for key in values:
                cf = mapping.field(key)
                if cf is not None:
                    before[key] = cf.current_on(side, data)
            rules = {d.field: d.rule for d in merge.decisions if d.field in values}
            event("update", side, fields=tuple(sorted(values)), before=before, after=dict(values),
                  decision=f"{other(side).value}_wins", reason="; ".join(
                      f"{k}: {v}" for k, v in sorted(rules.items())),
                  rule=",".join(sorted(set(rules.values()))))
        if not w.pre_audited:
            audit += self._decision_events(p, rt, w)
        for d in merge.parked:
            await self._park(p, rt, w, d)
        for side, held in w.frozen.items():
            source = w.sf if side is System.NETSUITE else w.ns
            frozen_rec = w.ns if side is System.NETSUITE else w.sf
            await self._guard_review(
                p, rt, other(side), source.id,
                f"{FROZEN_LABEL}{side.value} {rt.spec.object_of(side)} {frozen_rec.id} is frozen "
                f"({rt.freeze[side].text}); changes not written: {', '.join(sorted(held))}")
            p.link_summary(rt.name).actions["frozen"] += 1
        if audit:
            await store.add_audit(audit)
        if w.failed:
            side, error = next(iter(w.failed.items()))
            await self._dead_letter(p, rt, w, error, target_system=side)
            return
        letter = await store.find_dead_letter(rt.name, system, r.id)
        if letter is not None:
            await store.put_dead_letter(replace(letter, status=DeadLetterStatus.RESOLVED, updated_at=now))
        for c in await store.list_conflicts(link=rt.name, sf_id=w.sf.id, ns_id=w.ns.id):
            if c.field not in {d.field for d in merge.parked}:
                await store.put_conflict(replace(c, status=ConflictStatus.RESOLVED, resolved_at=now,
                                                 resolution=c.resolution or "superseded"))
        partner = w.ns.id if system is System.SALESFORCE else w.sf.id
        if merge.parked:
            w.done = RecordOutcome(rt.name, system, r.id, Outcome.WAITING,
                                   "conflict on " + ", ".join(d.field for d in merge.parked) + " (review)",
                                   w.action, partner)
        elif w.created or w.link_rule or any(w.updates.values()) or any(w.override.values()):
            for side, values in w.updates.items():
                if values:
                    p.link_summary(rt.name).actions[f"update:{side.value}"] += 1
            if w.created and w.create_on is not None:
                p.link_summary(rt.name).actions[f"create:{w.create_on.value}"] += 1
            if w.link_rule:
                p.link_summary(rt.name).actions["link"] += 1
            w.done = RecordOutcome(rt.name, system, r.id, Outcome.SYNCED, w.link_rule or "", w.action,
                                   partner)
        else:
            w.done = RecordOutcome(rt.name, system, r.id, Outcome.SKIPPED,
                                   "no change" if not changed_state else "in sync (baseline refreshed)",
                                   "noop", partner)
        if w.frozen and w.done.outcome is not Outcome.WAITING:
            keys = sorted(k for values in w.frozen.values() for k in values)
            w.done = RecordOutcome(rt.name, system, r.id, Outcome.WAITING,
                                   f"frozen: changes to {', '.join(keys)} raised a review", w.action, partner)

    async def _park(self, p: _Pass, rt: _LinkRuntime, w: _Work, d: Any) -> None:
        assert w.sf is not None and w.ns is not None
        existing = [c for c in await self.store.list_conflicts(link=rt.name, sf_id=w.sf.id, ns_id=w.ns.id)
                    if c.field == d.field]
        now = self.clock.now()
        if existing:
            conflict = replace(existing[0], sf_value=d.sf_value, ns_value=d.ns_value)
        else:
            conflict = Conflict(uuid.uuid4().hex, rt.name, w.sf.id, w.ns.id, d.field, now, d.base_sf,
                                d.base_ns, d.sf_value, d.ns_value)
            events.log(events.CONFLICT_PARKED, link=rt.name, sf_id=w.sf.id, ns_id=w.ns.id, field=d.field,
                       conflict_id=conflict.id, run_id=p.run_id)
        await self.store.put_conflict(conflict)

    async def _dead_letter(self, p: _Pass, rt: _LinkRuntime, w: _Work, error: RecordError,
                           step: Step | None = None, target_system: System | None = None) -> None:
        store, now, r = self.store, self.clock.now(), w.record
        step = step or w.failed_step
        existing = await store.find_dead_letter(rt.name, w.system, r.id)
        payload = w.failed_payload or dict(r.fields)
        if existing is not None:
            letter = replace(existing, step=step, error_code=error.code, error_message=error.message,
                             error_kind=error.kind.value, payload=payload, attempts=existing.attempts + 1,
                             updated_at=now, run_id=p.run_id, target_system=target_system or other(w.system))
        else:
            letter = DeadLetter(uuid.uuid4().hex, rt.name, w.system, r.id, step, error.code, error.message,
                                now, now, error.kind.value, target_system or other(w.system), payload,
                                run_id=p.run_id)
        await store.put_dead_letter(letter)
        p.link_summary(rt.name).actions["dead_letter"] += 1
        w.done = RecordOutcome(rt.name, w.system, r.id, Outcome.DEAD_LETTERED,
                               f"{step.value}: {error.code}: {error.message}", w.action,
                               (w.ns.id if w.system is System.SALESFORCE else w.sf.id)
                               if w.sf is not None and w.ns is not None else None)

    # -- deletes ---------------------------------------------------------------------------------
    async def _process_deleted(self, p: _Pass, rt: _LinkRuntime, system: System,
                               deleted: Sequence[DeletedRecord]) -> list[RecordOutcome]:
        """Apply the link's delete policy to the partners of records deleted on ``system``."""
        store, target, spec = self.store, other(system), rt.spec
        outcomes: list[RecordOutcome] = []
        xrefs = await store.get_xrefs(rt.name, system, [d.id for d in deleted])
        deactivate: list[tuple[DeletedRecord, Xref]] = []
        remove: list[tuple[DeletedRecord, Xref]] = []
        now = self.clock.now()

        def done(o: RecordOutcome) -> None:
            outcomes.append(o)
            p.record(o)

        for d in deleted:
            x = xrefs.get(d.id)
            if x is None:
                done(RecordOutcome(rt.name, system, d.id, Outcome.SKIPPED, "deleted, and not linked"))
                continue
            if d.merged_into:
                outcomes += await self._relink(p, rt, system, d, x)
                continue
            if x.is_closed:
                done(RecordOutcome(rt.name, system, d.id, Outcome.SKIPPED, "deleted; pair already closed",
                                   "noop", x.id_of(target)))
                continue
            policy = spec.delete.policy
            if policy == "deactivate" and not spec.direction.flows_to(target):
                policy = "unlink"
            if policy == "deactivate":
                deactivate.append((d, x))
            elif policy == "delete":
                remove.append((d, x))
            elif policy == "unlink":
                async with store.transaction():
                    await store.put_xref(replace(x, deleted_on=system, updated_at=now))
                    await store.add_audit([AuditEvent(uuid.uuid4().hex, now, rt.name, "unlink", system,
                                                      x.sf_id, x.ns_id, p.run_id, decision="unlinked",
                                                      reason=f"deleted on {system.value}",
                                                      rule="delete:unlink")])
                p.link_summary(rt.name).actions["unlink"] += 1
                done(RecordOutcome(rt.name, system, d.id, Outcome.SYNCED, "deleted; unlinked", "unlink",
                                   x.id_of(target)))
            else:
                done(RecordOutcome(rt.name, system, d.id, Outcome.SKIPPED, "deleted; policy is ignore",
                                   "noop", x.id_of(target)))
        flag = spec.delete.inactive_on(target)
        for batch_kind, items in (("deactivate", deactivate), ("delete", remove)):
            if not items:
                continue
            port = p.ports[target]
            obj = spec.object_of(target)
            if batch_kind == "deactivate":
                # Value-compared like every write: a partner that is already inactive (or gone) costs
                # no write, so a repeated delete signal can never echo.
                current = {r.id: r for r in await port.read_by_ids(
                    obj, [x.id_of(target) for _, x in items], fields=[flag.field])}
                todo = [(d, x) for d, x in items if x.id_of(target) in current
                        and not _holds(current[x.id_of(target)].fields.get(flag.field), flag.value)]
                settled = [(d, x) for d, x in items if (d, x) not in todo]
                if settled:
                    async with store.transaction():
                        for d, x in settled:
                            await store.put_xref(replace(x, deleted_on=system, updated_at=now))
                            done(RecordOutcome(rt.name, system, d.id, Outcome.SKIPPED,
                                               "deleted; partner already inactive or gone", "noop",
                                               x.id_of(target)))
                items = todo
                if not items:
                    continue
                flags = [Write({flag.field: flag.value}, id=x.id_of(target)) for _, x in items]
                results = await self._write(p, rt, target, flags, None)
            else:
                results = []
                for chunk in _chunks(items, port.capabilities.max_write_batch):
                    results += await port.delete(obj, [x.id_of(target) for _, x in chunk])
                if self.hooks.after_write is not None and not p.dry_run:
                    await self.hooks.after_write(rt.name, target, results)
            async with store.transaction():
                for (d, x), res in zip(items, results, strict=True):
                    if res.error is not None and res.error.kind is not ErrorKind.NOT_FOUND:
                        w = _Work(system, Record(d.object, d.id, {}), x)
                        w.failed_step = Step.DELETE
                        w.failed_payload = {flag.field: flag.value} if batch_kind == "deactivate" else {}
                        w.action = batch_kind
                        await self._dead_letter(p, rt, w, res.error, target_system=target)
                        assert w.done is not None
                        done(w.done)
                        continue
                    await store.put_xref(replace(x, deleted_on=system, updated_at=now))
                    letter = await store.find_dead_letter(rt.name, system, d.id)
                    if letter is not None:
                        await store.put_dead_letter(replace(letter, status=DeadLetterStatus.RESOLVED,
                                                            updated_at=now))
                    await store.add_audit([AuditEvent(
                        uuid.uuid4().hex, now, rt.name, batch_kind, target, x.sf_id, x.ns_id, p.run_id,
                        fields=(flag.field,) if batch_kind == "deactivate" else (),
                        after={flag.field: flag.value} if batch_kind == "deactivate" else {},
                        decision=batch_kind, reason=f"deleted on {system.value}",
                        rule=f"delete:{batch_kind}")])
                    p.link_summary(rt.name).actions[f"{batch_kind}:{target.value}"] += 1
                    events.log(events.RECORD_DELETED, link=rt.name, system=system.value, id=d.id,
                               partner_id=x.id_of(target), action=batch_kind, run_id=p.run_id)
                    done(RecordOutcome(rt.name, system, d.id, Outcome.SYNCED,
                                       f"deleted; partner {batch_kind}d", batch_kind, x.id_of(target)))
        return outcomes

    async def _relink(self, p: _Pass, rt: _LinkRuntime, system: System, d: DeletedRecord,
                      x: Xref) -> list[RecordOutcome]:
        """A merge loser: move its link to the winner (or, when the winner is linked already, treat the
        loser's partner as a deleted record's partner)."""
        assert d.merged_into is not None
        store, now, target = self.store, self.clock.now(), other(system)
        winner_x = await store.get_xref(rt.name, system, d.merged_into)
        if winner_x is not None:
            return await self._process_deleted(p, rt, system, [replace(d, merged_into=None)])
        moved = replace(x, sf_id=d.merged_into) if system is System.SALESFORCE \
            else replace(x, ns_id=d.merged_into)
        moved = replace(moved, deleted_on=None)
        async with store.transaction():
            await store.delete_xref(rt.name, x.sf_id, x.ns_id)
            await store.put_xref(replace(moved, updated_at=now))
            await store.add_audit([AuditEvent(uuid.uuid4().hex, now, rt.name, "relink", system, moved.sf_id,
                                              moved.ns_id, p.run_id, before={"id": d.id},
                                              after={"id": d.merged_into}, decision="relinked",
                                              reason=f"{d.id} was merged into {d.merged_into}",
                                              rule="merge")])
        p.link_summary(rt.name).actions["relink"] += 1
        events.log(events.RECORD_RELINKED, link=rt.name, system=system.value, loser=d.id,
                   winner=d.merged_into, partner_id=x.id_of(target), run_id=p.run_id)
        o = RecordOutcome(rt.name, system, d.id, Outcome.SYNCED, f"merged into {d.merged_into}; relinked",
                          "relink", x.id_of(target))
        p.record(o)
        winner = await p.ports[system].read_by_ids(rt.spec.object_of(system), [d.merged_into],
                                                   fields=rt.mapping.read_fields(system))
        return [o, *(await self._process(p, rt, system, winner))]

    # -- pushed changes --------------------------------------------------------------------------
    async def process_intake(self, *, limit: int = 10_000,
                             on_progress: ProgressCallback | None = None) -> SyncSummary:
        """Work off pushed changes (ids only): fetch each record's current state and reconcile it;
        an id that no longer exists is handled as a delete.

        Links that neither refer to each other (directly or through others) nor share an object
        are worked off side by side; a link's two sides run side by side too when it refers to no
        other link and at most one side has unlinked records (so two concurrent matches cannot pair
        or create the same record twice). A pushed record whose linked partner was pushed as well
        is reconciled once, from one side (a pair's merge covers both directions).

        A link takes pushed changes when it runs on push: it has a ``push`` trigger, or no triggers
        at all (a link with only ``interval``/``cron`` triggers leaves them to its polling). A pushed
        record goes through a link only when the link's scope on that side covers it, as its change
        feed would (one query per batch of pushed ids, :meth:`SystemPort.filter_ids`); one outside
        it ends as skipped, saying so.

        Returns:
            The summary of this mini-pass (kind ``intake``).
        """
        changes = self.intake.drain(limit)
        p = _Pass(self, uuid.uuid4().hex, "intake", False, on_progress)
        by_key: dict[tuple[System, str], dict[str, None]] = {}
        for c in changes:
            by_key.setdefault((c.system, c.object), {})[c.id] = None
        work: dict[str, dict[System, list[str]]] = {}
        for name in self.order():
            rt = self.links[name]
            if not _takes_push(rt.spec):
                continue
            for (system, obj), ids in by_key.items():
                if rt.spec.object_of(system) == obj and system in rt.sources():
                    work.setdefault(name, {})[system] = list(ids)
            for watch in rt.spec.options.watch:
                ids = by_key.get((watch.system, watch.object), {})
                if not ids or watch.system not in rt.sources():
                    continue
                q = p.fork()
                try:
                    found = await q.ports[watch.system].read_by_ids(watch.object, list(ids),
                                                                    fields=[Path(watch.via).head])
                except LedgerBridgeError as exc:
                    p.link_summary(name).error = f"{type(exc).__name__}: {exc}"
                    for c in changes:  # keep them for the next attempt
                        if (c.system, c.object) == (watch.system, watch.object):
                            self.intake.submit(c)
                    continue
                finally:
                    p.link_summary(name).api_calls.update(q.calls)
                side = work.setdefault(name, {}).setdefault(watch.system, [])
                side += [i for i in _related_ids(watch, found) if i not in side]
        for wave in self._waves(list(work)):
            await _together([self._intake_link(p.fork(), name, work[name], changes) for name in wave])
        return p.summary

    def _waves(self, names: Sequence[str]) -> list[list[str]]:
        """``names`` (parents first) in groups that may run side by side: a link joins a later group
        than any earlier link it is related to (a ref between them, in either direction and
        through other links, or an object both touch, themselves or through their parents)."""
        def ancestors(name: str) -> set[str]:
            seen: set[str] = set()
            todo = [name]
            while todo:
                for dep in self.specs[todo.pop()].refs():
                    if dep in self.specs and dep not in seen:
                        seen.add(dep)
                        todo.append(dep)
            return seen

        family = {n: ancestors(n) | {n} for n in names}
        objects = {n: {(s, self.specs[m].object_of(s)) for m in family[n] for s in System} for n in names}
        waves: list[list[str]] = []
        placed: dict[str, int] = {}
        for name in names:
            after = -1
            for earlier, index in placed.items():
                if earlier in family[name] or name in family[earlier] or objects[name] & objects[earlier]:
                    after = max(after, index)
            if after + 1 == len(waves):
                waves.append([])
            waves[after + 1].append(name)
            placed[name] = after + 1
        return waves

    async def _intake_link(self, p: _Pass, name: str, sides: dict[System, list[str]],
                           changes: Sequence[Change]) -> None:
        """Work off one link's pushed ids (both sides), counting the calls on the link's summary."""
        rt = self.links[name]
        summary = p.link_summary(name)
        covered: dict[System, list[str]] = {}  # per side: the other side's ids its pairs cover
        pairs: dict[str, str] = {}  # NetSuite id -> pushed Salesforce id of the same pair
        side_by_side = False
        try:
            try:
                scoped = await self._in_scope(p, rt, sides)
            except LedgerBridgeError as exc:
                summary.error = f"{type(exc).__name__}: {exc}"
                mine = {(s, rt.spec.object_of(s)) for s in System} \
                    | {(w.system, w.object) for w in rt.spec.options.watch}
                for c in changes:  # keep them for the next attempt
                    if (c.system, c.object) in mine:
                        self.intake.submit(c)
                return
            if len(sides) == 2:
                sf_ids, ns_ids = sides[System.SALESFORCE], sides[System.NETSUITE]
                sf_x = await self.store.get_xrefs(name, System.SALESFORCE, sf_ids)
                # a Salesforce record outside the scope is not reconciled, so it covers no partner
                pairs = {x.ns_id: sf_id for sf_id, x in sf_x.items() if not x.is_closed
                         and (System.SALESFORCE not in scoped or sf_id in scoped[System.SALESFORCE])}
                covered[System.SALESFORCE] = [i for i in ns_ids if i in pairs]
                ns_ids = [i for i in ns_ids if i not in pairs]
                sides = {s: ids for s, ids in ((System.SALESFORCE, sf_ids), (System.NETSUITE, ns_ids)) if ids}
                if len(sides) == 2 and not rt.spec.refs():
                    ns_x = await self.store.get_xrefs(name, System.NETSUITE, ns_ids)
                    side_by_side = len(sf_x) == len(sf_ids) or len(ns_x) == len(ns_ids)
            # The records a covering side reconciles for the other side are read in full.
            full = {s: frozenset(pairs[i] for i in covered.get(s, ())) for s in sides}

            async def one(system: System, ids: list[str]) -> None:
                obj = rt.spec.object_of(system)
                try:
                    found = await p.ports[system].read_by_ids(obj, ids, fields=rt.mapping.read_fields(system))
                    seen = {r.id for r in found}
                    if system in scoped:
                        found = self._keep_in_scope(p, rt, system, found, scoped[system])
                    await self._process(p, rt, system, found,
                                        may_settle=frozenset(seen - full.get(system, frozenset())))
                    missing = [DeletedRecord(obj, i) for i in ids if i not in seen]
                    if missing:
                        await self._process_deleted(p, rt, system, missing)
                except LedgerBridgeError as exc:
                    summary.error = f"{type(exc).__name__}: {exc}"
                    kept = {(other(system), rt.spec.object_of(other(system)), i)
                            for i in covered.get(system, ())}
                    watched = {w.object for w in rt.spec.options.watches(system)}
                    for c in changes:  # keep them for the next attempt
                        if (c.system is system and (c.object == obj or c.object in watched)) \
                                or (c.system, c.object, c.id) in kept:
                            self.intake.submit(c)

            if side_by_side:
                await _together([one(s, ids) for s, ids in sides.items()])
            else:
                for s, ids in sides.items():
                    await one(s, ids)
        finally:
            summary.api_calls.update(p.calls)

    async def _in_scope(self, p: _Pass, rt: _LinkRuntime,
                        sides: Mapping[System, Sequence[str]]) -> dict[System, frozenset[str]]:
        """Per side that has a scope, the ids among ``sides`` that exist and that scope covers, asked
        of the system in one query per batch; a side without a scope is left out (it covers all)."""
        out: dict[System, frozenset[str]] = {}
        for system, ids in sides.items():
            where = rt.spec.scope.of(system)
            if where and ids:
                out[system] = frozenset(await p.ports[system].filter_ids(
                    rt.spec.object_of(system), list(ids), where))
        return out

    def _keep_in_scope(self, p: _Pass, rt: _LinkRuntime, system: System, records: Sequence[Record],
                       inside: frozenset[str]) -> list[Record]:
        """``records`` (read by id, not through the link's feed) that are in ``inside``, the ids the
        link's scope covers; every other one ends as skipped with that reason, never silently."""
        kept: list[Record] = []
        for r in records:
            if r.is_deleted or r.id in inside:
                kept.append(r)
                continue
            p.record(RecordOutcome(rt.name, system, r.id, Outcome.SKIPPED,
                                   f"outside the link's {system.value} scope ({rt.spec.scope.of(system)})",
                                   "noop", changed_at=r.modified_at, done_at=self.clock.now()))
        return kept

    # -- single records (used by operations) -----------------------------------------------------
    async def sync_records(self, link: str, system: System, ids: Sequence[str], *,
                           overrides: Mapping[str, dict[System, dict[str, JsonValue]]] | None = None,
                           force: Mapping[str, dict[str, System]] | None = None, heal: bool = False,
                           force_create: bool = False, kind: str = "sync",
                           dry_run: bool = False) -> SyncSummary:
        """Reconcile specific records of one side now (level-triggered: their current state is read).

        This is a person's explicit request (the CLI's ``sync``, the dashboard, a dead-letter retry or
        a review decision), so the link's scope is not applied: a record outside it is synced all the
        same. Pushed changes and watches, which nobody chose record by record, do apply it.

        Args:
            link: the link.
            system: the side the ids belong to.
            ids: record ids.
            overrides: per id, raw payload values to write per side (an edited dead-letter payload).
            force: per id, per field key, the side that wins (conflict resolutions).
            heal: write fields that are out of sync although neither side changed.
            force_create: skip matching and create on the other side (a review decided "create").
            kind: the run kind recorded.
            dry_run: simulate writes and roll back state.
        """
        rt = self.links[link]
        p = _Pass(self, uuid.uuid4().hex, kind, dry_run, None)

        async def body() -> None:
            before = Counter(p.calls)
            found = await p.ports[system].read_by_ids(rt.spec.object_of(system), list(ids),
                                                      fields=rt.mapping.read_fields(system))
            seen = {r.id for r in found}
            await self._process(p, rt, system, found, overrides=overrides, force=force, heal=heal,
                                force_create=force_create)
            missing = [DeletedRecord(rt.spec.object_of(system), i) for i in ids if i not in seen]
            if missing:
                await self._process_deleted(p, rt, system, missing)
            p.link_summary(link).api_calls.update(Counter(p.calls) - before)

        if dry_run:
            try:
                async with self.store.transaction():
                    await body()
                    raise _Rollback()
            except _Rollback:
                pass
        else:
            await body()
        return p.summary

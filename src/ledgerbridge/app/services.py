"""Use cases shared by every front end (layer ``app``): sync, plan, status, queues, reconcile, run.

Each function opens a :class:`~ledgerbridge.app.wiring.Runtime` from a loaded configuration, does
one thing and closes it again. Values returned are the engine's own (re-exported here so front ends
import them from ``app``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from ledgerbridge.app.onboarding import AfterPass, run_onboarding
from ledgerbridge.app.pricebooks import run_price_books
from ledgerbridge.app.realtime import RealtimeService, poll_interval_s, realtime_running
from ledgerbridge.app.wiring import Runtime, open_runtime
from ledgerbridge.core.errors import EngineError
from ledgerbridge.core.records import JsonValue, System, Watermark
from ledgerbridge.core.store import AuditEvent, Conflict, DeadLetter, MatchReview
from ledgerbridge.engine import (
    LinkStatus,
    Outcome,
    ReconcileReport,
    RecordOutcome,
    Scheduler,
    SyncSummary,
)
from ledgerbridge.flows.config import LedgerBridgeConfig
from ledgerbridge.flows.mapping import MappingPreview
from ledgerbridge.flows.spec import LinkProblem

__all__ = [
    "AuditEvent",
    "Conflict",
    "DeadLetter",
    "LinkProblem",
    "LinkStatus",
    "MappingPreview",
    "MatchReview",
    "Outcome",
    "ReconcileReport",
    "RecordOutcome",
    "SyncSummary",
    "check_online",
    "conflict_resolve",
    "conflicts_list",
    "dlq_discard",
    "dlq_list",
    "dlq_retry",
    "dlq_show",
    "plan",
    "preview",
    "reconcile",
    "review_create",
    "review_link",
    "reviews_list",
    "run_forever",
    "status",
    "sync",
]

EPOCH = Watermark(datetime(1970, 1, 1, tzinfo=UTC))


def _names(config: LedgerBridgeConfig, names: Sequence[str] | None) -> list[str] | None:
    if names:
        unknown = [n for n in names if n not in config.links]
        if unknown:
            known = ", ".join(sorted(config.links)) or "(none configured)"
            raise EngineError(f"unknown link(s): {', '.join(unknown)}; the configuration has: {known}")
        return list(names)
    return None


async def sync(config: LedgerBridgeConfig, names: Sequence[str] | None = None, *, full: bool = False,
               state_url: str | None = None,
               on_progress: Callable[[RecordOutcome], None] | None = None) -> SyncSummary:
    """One pass of the named links (all enabled links when ``names`` is empty), parents first.

    Args:
        config: the configuration.
        names: link names.
        full: re-read everything (feeds restart from the beginning) instead of changes only.
        state_url: overrides the configured state store.
        on_progress: called with each record's outcome.
    """
    selected = _names(config, names)
    async with open_runtime(config, state_url=state_url) as rt:
        if full:
            for name in rt.engine.order(selected):
                for system in System:
                    await rt.ops.reset_watermark(name, system, EPOCH)
        summary = await rt.engine.sync(selected, on_progress=on_progress)
        await run_onboarding(rt, summary)  # the named after-pass steps (no-ops without their sections)
        await run_price_books(rt, summary)
        return summary


async def plan(config: LedgerBridgeConfig, names: Sequence[str] | None = None, *,
               state_url: str | None = None) -> SyncSummary:
    """What a pass would create, update, link and deactivate, and its API calls; writes nothing."""
    selected = _names(config, names)
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.engine.plan(selected)


async def status(config: LedgerBridgeConfig, *, state_url: str | None = None) -> list[LinkStatus]:
    """Pairs, feed positions, queue sizes and the last run per link."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.status()


async def dlq_list(config: LedgerBridgeConfig, *, link: str | None = None, state_url: str | None = None,
                   limit: int = 100) -> list[DeadLetter]:
    """Open dead letters, newest first."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.dead_letters(link, limit=limit)


async def dlq_show(config: LedgerBridgeConfig, letter_id: str, *,
                   state_url: str | None = None) -> DeadLetter:
    """One dead letter."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.dead_letter(letter_id)


async def dlq_retry(config: LedgerBridgeConfig, letter_ids: Sequence[str] = (), *, all_open: bool = False,
                    payload: Mapping[str, JsonValue] | None = None,
                    state_url: str | None = None) -> SyncSummary | list[RecordOutcome | None]:
    """Retry dead letters (one with an optionally edited payload, several, or every open one)."""
    async with open_runtime(config, state_url=state_url) as rt:
        if all_open:
            return await rt.ops.retry_dead_letters()
        return [await rt.ops.retry_dead_letter(i, payload=payload) for i in letter_ids]


async def dlq_discard(config: LedgerBridgeConfig, letter_id: str, *, reason: str,
                      state_url: str | None = None) -> DeadLetter:
    """Give up on a dead letter, with a reason."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.discard_dead_letter(letter_id, reason=reason)


async def reviews_list(config: LedgerBridgeConfig, *, link: str | None = None,
                       state_url: str | None = None) -> list[MatchReview]:
    """Open match reviews."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.reviews(link)


async def review_link(config: LedgerBridgeConfig, review_id: str, candidate_id: str, *,
                      state_url: str | None = None) -> RecordOutcome | None:
    """Link the reviewed record to one of its candidates."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.link_review(review_id, candidate_id)


async def review_create(config: LedgerBridgeConfig, review_id: str, *,
                        state_url: str | None = None) -> RecordOutcome | None:
    """Create a new partner record for the reviewed record."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.create_from_review(review_id)


async def conflicts_list(config: LedgerBridgeConfig, *, link: str | None = None,
                         state_url: str | None = None) -> list[Conflict]:
    """Open conflicts."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.conflicts(link)


async def conflict_resolve(config: LedgerBridgeConfig, conflict_id: str, *, pick: str | None = None,
                           value: JsonValue = None, use_value: bool = False,
                           state_url: str | None = None) -> RecordOutcome | None:
    """Settle a conflict by picking a side or a value."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.resolve_conflict(conflict_id, pick=pick, value=value, use_value=use_value)


async def reconcile(config: LedgerBridgeConfig, link: str, *, heal: bool = False,
                    state_url: str | None = None) -> ReconcileReport:
    """Compare both systems fully for one link (and repair with ``heal``)."""
    _names(config, [link])
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.reconcile(link, heal=heal)


async def preview(config: LedgerBridgeConfig, link: str, system: System, record_id: str, *,
                  state_url: str | None = None) -> MappingPreview:
    """Mapped values, the target's current values and the difference for one live record."""
    _names(config, [link])
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.preview(link, system, record_id)


async def check_online(config: LedgerBridgeConfig, *, state_url: str | None = None) -> list[LinkProblem]:
    """Describe every linked object and check the mappings against what the systems say."""
    async with open_runtime(config, state_url=state_url) as rt:
        return await rt.ops.describe_and_check()


async def run_forever(config: LedgerBridgeConfig, stop: asyncio.Event, *, state_url: str | None = None,
                      default_interval_s: float | None = 60.0,
                      on_summary: Callable[[SyncSummary], None] | None = None,
                      on_ready: Callable[[Runtime], None] | None = None,
                      on_realtime: Callable[[RealtimeService], None] | None = None) -> int:
    """Run every link on its triggers until ``stop`` is set; the pass in progress finishes first.

    With a ``realtime`` section, the push side (:mod:`ledgerbridge.app.realtime`) runs alongside and
    links without timed triggers poll at its safety-net interval instead of ``default_interval_s``.

    Returns:
        The number of passes run.
    """
    async with open_runtime(config, state_url=state_url) as rt, contextlib.AsyncExitStack() as stack:
        after_pass = AfterPass(rt, on_summary)  # on_summary, then onboarding and price books
        scheduler = Scheduler(rt.engine, default_interval_s=poll_interval_s(config, default_interval_s),
                              on_summary=after_pass)
        realtime = await stack.enter_async_context(realtime_running(rt, scheduler, stop))
        if on_ready is not None:
            on_ready(rt)
        if realtime is not None and on_realtime is not None:
            on_realtime(realtime)

        async def watch() -> None:
            await stop.wait()
            scheduler.stop()

        watcher = asyncio.create_task(watch())
        try:
            await scheduler.run()
        finally:
            watcher.cancel()
            await after_pass.drain()
        return scheduler.n_passes

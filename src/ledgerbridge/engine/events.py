"""Stable structured-log event names of the engine, and the logger they go to (layer ``engine``).

Names are dotted snake case and never change meaning; context (``link``, ``run_id``, ``system``,
ids, counts) goes in bound key-values, never into the event name.
"""

from __future__ import annotations

from typing import Any

import structlog

__all__ = ["log"]

RUN_STARTED = "sync.run.started"
RUN_FINISHED = "sync.run.finished"
LINK_STARTED = "sync.link.started"
LINK_FINISHED = "sync.link.finished"
LINK_FAILED = "sync.link.failed"
PAGE_READ = "sync.page.read"
WATERMARK_MOVED = "sync.watermark.moved"
RECORD_SKIPPED = "sync.record.skipped"
RECORD_WRITTEN = "sync.record.written"
RECORD_CREATED = "sync.record.created"
RECORD_LINKED = "sync.record.linked"
RECORD_WAITING = "sync.record.waiting"
RECORD_DEAD_LETTERED = "sync.record.dead_lettered"
RECORD_DELETED = "sync.record.deleted"
RECORD_RELINKED = "sync.record.relinked"
CONFLICT_PARKED = "sync.conflict.parked"
CONFLICT_RESOLVED = "sync.conflict.resolved"
REVIEW_OPENED = "sync.review.opened"
REVIEW_DECIDED = "sync.review.decided"
DEAD_LETTER_RETRIED = "sync.dead_letter.retried"
DEAD_LETTER_DISCARDED = "sync.dead_letter.discarded"
INTAKE_SUBMITTED = "sync.intake.submitted"
SCHEDULER_TICK = "sync.scheduler.tick"
SCHEDULER_STOPPED = "sync.scheduler.stopped"

_logger = structlog.get_logger("ledgerbridge.engine")


def log(event: str, **context: Any) -> None:
    """Emit one engine event at info level (debug for the per-record skip noise)."""
    if event == RECORD_SKIPPED:
        _logger.debug(event, **context)
    else:
        _logger.info(event, **context)

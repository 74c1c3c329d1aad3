"""Layer ``engine``: the sync semantics, written against the ports in ``ledgerbridge.core`` only.

Imports ``ledgerbridge.core`` and ``ledgerbridge.flows``; never connectors, transport, state or app.

Entry points for the app layer::

    engine = Engine(links, salesforce=sf_port, netsuite=ns_port, store=state_store, clock=clock)
    summary = await engine.sync(["accounts"], on_progress=callback)   # one pass, parents first
    plan = await engine.plan()                                       # what a pass would do; writes nothing
    engine.intake.submit(Change(System.SALESFORCE, "Account", "001..."))
    await engine.process_intake()
    ops = Operations(engine)      # status, dead letters, reviews, conflicts, reconcile, preview, checks
    await Scheduler(engine).run() # triggers until stop()
"""

from ledgerbridge.engine.memory_store import MemoryStateStore
from ledgerbridge.engine.operations import DriftedPair, LinkStatus, Operations, ReconcileReport
from ledgerbridge.engine.runner import (
    Engine,
    EngineHooks,
    LinkSummary,
    Outcome,
    RecordOutcome,
    SyncSummary,
)
from ledgerbridge.engine.scheduler import Scheduler

__all__ = [
    "DriftedPair",
    "Engine",
    "EngineHooks",
    "LinkStatus",
    "LinkSummary",
    "MemoryStateStore",
    "Operations",
    "Outcome",
    "ReconcileReport",
    "RecordOutcome",
    "Scheduler",
    "SyncSummary",
]

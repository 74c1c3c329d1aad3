"""Price books after a pass (layer ``app``): the engine's named step with this runtime's ports.

See :mod:`ledgerbridge.engine.pricebooks` for what the step does; this module only builds it from
the ``price_books:`` section and hands it each pass.
"""

from __future__ import annotations

from ledgerbridge.app.wiring import Runtime
from ledgerbridge.engine import SyncSummary
from ledgerbridge.engine.pricebooks import PriceBookReport, PriceBookStep

__all__ = ["PriceBookReport", "run_price_books"]


async def run_price_books(rt: Runtime, summary: SyncSummary | None = None) -> PriceBookReport:
    """Reconcile the price books of the items ``summary`` saw on the catalog links, and retry the
    items that failed before (no-op without an enabled ``price_books:`` section).

    Returns:
        What was written, and each failure with its reason (failures are audited and retried).
    """
    spec = rt.config.price_books
    if spec is None or not spec.enabled:
        return PriceBookReport()
    step = PriceBookStep(spec, rt.config.links, salesforce=rt.salesforce, netsuite=rt.netsuite,
                         store=rt.store, clock=rt.clock)
    return await step.run(summary)

"""``/query`` and ``/queryAll`` results with paging by query locator (reference §4).

Query layer; imports the engine and the org. A result larger than the batch size keeps the
remaining rows under a locator (``01g...``) for ``nextRecordsUrl``
(``/services/data/vNN.0/query/<locator>-<offset>``). Rows are rendered page by page, so a big
result costs nothing until it is read. Locators expire after 15 minutes without use or when
too many are open, like real ones (INVALID_QUERY_LOCATOR).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledgerbridge_sandbox.salesforce import ids
from ledgerbridge_sandbox.salesforce.config import DEFAULT_QUERY_BATCH, MIN_QUERY_BATCH
from ledgerbridge_sandbox.salesforce.errors import ApiError, RecordError
from ledgerbridge_sandbox.salesforce.soql.engine import bind

if TYPE_CHECKING:
    from ledgerbridge_sandbox.salesforce.org import Org

LOCATOR_IDLE_S = 15 * 60
MAX_OPEN_LOCATORS = 500


@dataclass
class _Cursor:
    rows: list[Any]
    render: Callable[[Any, str], dict[str, Any]]
    batch: int
    last_used: float


def batch_size_from_header(value: str | None) -> int:
    """The page size asked for by ``Sforce-Query-Options: batchSize=N`` (200..2000, default 2000)."""
    if not value:
        return DEFAULT_QUERY_BATCH
    for part in value.split(","):
        key, _, raw = part.strip().partition("=")
        if key.strip().lower() == "batchsize":
            try:
                n = int(raw.strip())
            except ValueError:
                return DEFAULT_QUERY_BATCH
            return max(MIN_QUERY_BATCH, min(DEFAULT_QUERY_BATCH, n))
    return DEFAULT_QUERY_BATCH


class QueryService:
    """Runs queries and serves their later pages.

    Args:
        org: the org.
    """

    def __init__(self, org: Org) -> None:
        self.org = org
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._serial = 0

    def query(
        self, text: str, *, include_deleted: bool, version: str, batch_size: int = DEFAULT_QUERY_BATCH
    ) -> dict[str, Any]:
        """Run a query and return its first page.

        Raises:
            QueryError: the query is invalid.
        """
        plan = bind(self.org, text, include_deleted)
        if plan.is_count:
            return {"totalSize": plan.count(), "done": True, "records": []}
        if plan.is_aggregate:
            rows: list[Any] = plan.aggregate_rows()
            return {"totalSize": len(rows), "done": True, "records": rows}
        rows = plan.rows()
        return self._page(rows, plan.render, version, batch_size, None, 0)

    def more(self, locator: str, offset: int, version: str) -> dict[str, Any]:
        """The page of a locator starting at ``offset``.

        Raises:
            ApiError: 400 INVALID_QUERY_LOCATOR for an unknown or expired locator.
        """
        self._expire()
        cursor = self._cursors.get(locator)
        if cursor is None or offset < 0 or offset > len(cursor.rows):
            raise ApiError(400, [RecordError("INVALID_QUERY_LOCATOR", "invalid query locator")])
        cursor.last_used = self._now()
        self._cursors.move_to_end(locator)
        return self._page(cursor.rows, cursor.render, version, cursor.batch, locator, offset)

    def _page(
        self,
        rows: list[Any],
        render: Callable[[Any, str], dict[str, Any]],
        version: str,
        batch: int,
        locator: str | None,
        offset: int,
    ) -> dict[str, Any]:
        end = offset + batch
        page = [render(r, version) for r in rows[offset:end]]
        out: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            if locator is None:
                locator = self._open(rows, render, batch)
            out["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        out["records"] = page
        return out

    def _open(self, rows: list[Any], render: Callable[[Any, str], dict[str, Any]], batch: int) -> str:
        self._expire()
        self._serial += 1
        locator = ids.make_id("01g", self._serial)
        self._cursors[locator] = _Cursor(rows, render, batch, self._now())
        while len(self._cursors) > MAX_OPEN_LOCATORS:
            self._cursors.popitem(last=False)
        return locator

    def _now(self) -> float:
        return self.org.now().timestamp()

    def _expire(self) -> None:
        cutoff = self._now() - LOCATOR_IDLE_S
        for key in [k for k, c in self._cursors.items() if c.last_used < cutoff]:
            del self._cursors[key]

    def clear(self) -> None:
        """Forget every open locator (after a reset)."""
        self._cursors.clear()

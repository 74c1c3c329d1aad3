"""The ``enrich`` step: values read with one query per batch of source records (layer ``engine``).

A link's ``options.enrich`` lists queries such as "the newest payment of each customer". Before a
batch of records of that side is mapped, each query runs once per up to 1,000 of the batch's ids
(bound as ``?`` parameters through the port's :class:`~ledgerbridge.core.ports.RowQueryPort`), and
every record gets field ``<name>``: the first row whose key column holds its id, as an object of the
row's other columns, or null. The value is part of the record for everything that follows (mapping,
change detection against the baseline, the settle check), so a second pass over unchanged data
writes nothing and a record whose only change is in the queried rows is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ledgerbridge.core.errors import ConfigError, RequestRejected
from ledgerbridge.core.ports import RowQueryPort
from ledgerbridge.core.records import JsonValue, Record, System
from ledgerbridge.flows.spec import EnrichSpec

__all__ = ["MAX_IDS", "enrich_records", "query_support", "unsupported_reason"]

MAX_IDS = 1000  # SuiteQL's limit of values in one IN list


def query_support(port: object) -> RowQueryPort | None:
    """``port`` as a row-query port, or None when it cannot run queries."""
    if getattr(port, "supports_queries", True) is False:  # a wrapper around a port without queries
        return None
    return port if isinstance(port, RowQueryPort) else None


def unsupported_reason(link: str, step: EnrichSpec, system: System) -> str:
    """Why a link's enrich step cannot run on ``system``."""
    return (f"link {link!r}: enrich {step.name!r} needs a {system.value} connection that runs row "
            f"queries, and this {system.value} connector does not; remove the step or move it to a side "
            "that can run it")


async def enrich_records(link: str, steps: Sequence[EnrichSpec], system: System, port: object,
                         records: Sequence[Record]) -> list[Record]:
    """``records`` with each step's value set on them (deleted records are left as they are).

    Args:
        link: the link's name (for messages).
        steps: the link's enrich steps for ``system``.
        system: the side the records belong to.
        port: that side's port.
        records: the batch.

    Raises:
        ConfigError: the port cannot run queries, the system refused a query, or its rows lack
            the key column.
        RemoteError: the query call failed otherwise (transient, auth, quota).
    """
    live = list(dict.fromkeys(r.id for r in records if not r.is_deleted))
    if not steps or not live:
        return list(records)
    queries = query_support(port)
    if queries is None:
        raise ConfigError(unsupported_reason(link, steps[0], system))
    values: dict[str, dict[str, JsonValue]] = {}
    for step in steps:
        found: dict[str, JsonValue] = {}
        wanted = set(live)
        key = step.key.lower()
        for start in range(0, len(live), MAX_IDS):
            chunk = live[start:start + MAX_IDS]
            try:
                rows = await queries.query_rows(step.statement(len(chunk)), list(chunk))
            except RequestRejected as exc:
                raise ConfigError(f"link {link!r}: enrich {step.name!r}: {system.value} refused the "
                                  f"query: {exc}") from exc
            keyed = False
            for row in rows:
                norm = {str(k).lower(): v for k, v in row.items()}
                if key not in norm:
                    continue
                keyed = True
                rid = str(norm[key])
                if rid in wanted and rid not in found:
                    found[rid] = {k: v for k, v in norm.items() if k != key}
            if rows and not keyed:
                columns = ", ".join(sorted({str(k).lower() for r in rows for k in r})) or "none"
                raise ConfigError(f"link {link!r}: enrich {step.name!r}: no row has the key column "
                                  f"{step.key!r} (columns: {columns}); key must name the column that "
                                  "holds the record id")
        values[step.name] = found
    out: list[Record] = []
    for r in records:
        if r.is_deleted:
            out.append(r)
            continue
        fields = dict(r.fields)
        for name, found in values.items():
            fields[name] = found.get(r.id)
        out.append(replace(r, fields=fields))
    return out

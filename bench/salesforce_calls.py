"""Benchmark: API calls ``SalesforceConnector.upsert`` spends on 10,000 accounts, against the sandbox.

Run: ``.venv/bin/python bench/salesforce_calls.py [--n 10000]``

Starts the Salesforce sandbox (empty org, zero latency) on a loopback socket with its in-process
helper, then upserts ``n`` accounts by the external-id field ``NetSuite_Id__c`` through the
connector with its default settings, and counts the data API calls (``/services/data/...``) in
the sandbox's request log (admin API ``/__sandbox__/requests``); OAuth token calls are reported
apart, as Salesforce does not count them against the allocation.

Two write paths, each on a fresh org:

1. default settings: above ``bulk_threshold`` (2,000) the connector uses Bulk API 2.0. The
   minimum is create + upload + close + one poll + one result file per outcome present
   (``successfulResults``; ``failedResults`` only when rows failed); more polls are the cost of
   not knowing when the job ends.
2. ``bulk_threshold`` above ``n``: sObject Collections (200 records each) carried five at a time
   by one Composite call. Reported against ⌈n ÷ 200⌉ (one Collections call per 200) and against
   ⌈n ÷ 1000⌉ (the Composite floor).

The last line is ``RESULT {"calls", "minimum", "ratio"}`` for the default path. Goal: ratio <= 1.05.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import time
from typing import Any

import httpx2
import structlog

from ledgerbridge.connectors.salesforce import SalesforceConnector, SalesforceSettings
from ledgerbridge.core.records import Priority, Write
from ledgerbridge.transport.metrics import TransportMetrics
from ledgerbridge_sandbox.salesforce.config import SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.testing import SalesforceSandbox

KEY = "NetSuite_Id__c"


def request_log(admin: httpx2.Client) -> list[dict[str, Any]]:
    """Rows ``{method, route, status, count}`` of the sandbox request log."""
    rows: list[dict[str, Any]] = admin.get("/__sandbox__/requests").json()["requests"]
    return rows


def summarise(rows: list[dict[str, Any]]) -> tuple[int, int, dict[str, int]]:
    """(data API calls, token calls, data calls by 'METHOD route')."""
    by_route: dict[str, int] = {}
    data = token = 0
    for row in rows:
        if row["route"].startswith("/services/data"):
            data += row["count"]
            key = f"{row['method']} {row['route']}"
            by_route[key] = by_route.get(key, 0) + row["count"]
        elif "oauth2/token" in row["route"]:
            token += row["count"]
    return data, token, by_route


async def upsert_all(url: str, info: dict[str, Any], n: int, **overrides: Any) -> tuple[int, int, float]:
    """Upsert ``n`` accounts; returns (succeeded, failed, seconds)."""
    settings = SalesforceSettings(
        instance_url=url,
        auth_mode="client_credentials",
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        **overrides,
    )
    writes = [
        Write(
            {"Name": f"Bench Account {i}", "Phone": f"+1 512 555 {i % 10000:04d}", "BillingCity": "Austin"},
            external_id=f"NS-{i}",
        )
        for i in range(n)
    ]
    async with SalesforceConnector(settings, metrics=TransportMetrics()) as connector:
        started = time.perf_counter()
        results = await connector.upsert("Account", writes, key_field=KEY, priority=Priority.BACKFILL)
        elapsed = time.perf_counter() - started
    assert [r.index for r in results] == list(range(n)), "results are not aligned with the input"
    ok = sum(r.ok for r in results)
    return ok, n - ok, elapsed


def run_path(
    sandbox: SalesforceSandbox, admin: httpx2.Client, n: int, label: str, **overrides: Any
) -> tuple[int, int, dict[str, int], int, float]:
    """Reset the org and the log, upsert, and return (data calls, token calls, routes, failed, s)."""
    admin.post("/__sandbox__/reset", json={"seed": "empty"}).raise_for_status()
    admin.delete("/__sandbox__/requests").raise_for_status()
    ok, failed, elapsed = asyncio.run(upsert_all(sandbox.url, sandbox.info, n, **overrides))
    data, token, routes = summarise(request_log(admin))
    print(f"\n== {label}: {ok} ok, {failed} failed in {elapsed:.1f} s")
    for route, count in sorted(routes.items()):
        print(f"   {count:6d}  {route}")
    print(f"   {data:6d}  data API calls (+{token} OAuth token call, not counted by Salesforce)")
    return data, token, routes, failed, elapsed


def main(argv: list[str] | None = None) -> int:
    """Run both paths and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10_000, help="accounts to upsert")
    args = parser.parse_args(argv)
    n: int = args.n
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    with (
        SalesforceSandbox(SalesforceSandboxConfig(seed="empty")) as sandbox,
        httpx2.Client(base_url=sandbox.url, timeout=120) as admin,
    ):
        bulk_calls, _, routes, failed, _ = run_path(sandbox, admin, n, "default settings (Bulk API 2.0)")
        polls = sum(
            c for r, c in routes.items() if r.startswith("GET ") and r.endswith("/jobs/ingest/{job_id}")
        )
        result_files = 1 + (1 if failed else 0)
        bulk_jobs = sum(c for r, c in routes.items() if r.startswith("POST ") and r.endswith("/jobs/ingest"))
        bulk_min = bulk_jobs * (3 + 1 + result_files) if bulk_jobs else math.ceil(n / 200)
        print(
            f"   minimum {bulk_min} (create + upload + close + 1 poll + {result_files} result file(s) per "
            f"job; {polls} poll(s) made) -> ratio {bulk_calls / bulk_min:.3f}"
        )

        comp_calls, _, _, _, _ = run_path(
            sandbox, admin, n, "Collections in Composite (bulk off)", bulk_threshold=n + 1
        )
        per_collection = math.ceil(n / 200)
        per_composite = math.ceil(n / 1000)
        print(
            f"   vs ⌈n/200⌉ = {per_collection} Collections calls: ratio {comp_calls / per_collection:.3f}; "
            f"vs ⌈n/1000⌉ = {per_composite} Composite calls: ratio {comp_calls / per_composite:.3f}"
        )

    ratio = round(bulk_calls / bulk_min, 3)
    print("RESULT " + json.dumps({"calls": bulk_calls, "minimum": bulk_min, "ratio": ratio}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

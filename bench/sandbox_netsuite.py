"""Benchmark of the NetSuite sandbox on a real loopback socket.

Run: ``.venv/bin/python bench/sandbox_netsuite.py [--scale N] [--seconds S]``.

Measures, at zero added latency: GET-by-id requests per second (TBA-signed, several clients in
parallel) and 1,000-row SuiteQL pages per second. Then checks governance: with a concurrency limit C
and a latency L it fires 3C requests at once and reports the most requests the sandbox ever had in
flight (server-side count) and how many were refused with 429; and the same with another
integration holding 2 of the C slots. Client and server share this machine's cores, so the rates
are lower bounds of the server alone. The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from ledgerbridge_sandbox.netsuite import NetSuiteSandboxConfig
from ledgerbridge_sandbox.netsuite.testing import NetSuiteSandbox

SUITEQL_PAGE = (
    "SELECT tl.transaction, tl.id, tl.item, tl.quantity, tl.rate, tl.netamount, t.tranid, t.trandate, "
    "t.status FROM transactionline tl JOIN transaction t ON t.id = tl.transaction ORDER BY tl.transaction, "
    "tl.id"
)


async def _get_by_id(sandbox: NetSuiteSandbox, ids: list[str], seconds: float, workers: int) -> float:
    done = 0
    stop = time.monotonic() + seconds

    async def worker(n: int) -> None:
        nonlocal done
        async with sandbox.async_client() as client:
            i = n
            while time.monotonic() < stop:
                r = await client.get(f"/record/v1/customer/{ids[i % len(ids)]}")
                assert r.status_code == 200, r.text
                done += 1
                i += workers

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(workers)))
    return done / (time.monotonic() - started)


async def _suiteql_pages(sandbox: NetSuiteSandbox, seconds: float, workers: int) -> tuple[float, int]:
    done = 0
    rows = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done, rows
        async with sandbox.async_client() as client:
            while time.monotonic() < stop:
                r = await client.post(
                    "/query/v1/suiteql",
                    params={"limit": 1000, "offset": 0},
                    headers={"Prefer": "transient"},
                    json={"q": SUITEQL_PAGE},
                )
                assert r.status_code == 200, r.text
                rows = r.json()["count"]
                done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / (time.monotonic() - started), rows


async def _burst(sandbox: NetSuiteSandbox, n: int) -> dict[str, Any]:
    sandbox.admin("DELETE", "requests")
    async with sandbox.async_client() as client:
        started = time.monotonic()
        responses = await asyncio.gather(*(client.get("/record/v1/currency/1") for _ in range(n)))
        elapsed = time.monotonic() - started
    log = sandbox.requests()
    return {
        "ok": sum(r.status_code == 200 for r in responses),
        "rejected": sum(r.status_code == 429 for r in responses),
        "max_in_flight": log["max_in_flight"],
        "elapsed_s": round(elapsed, 3),
    }


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1500, help="demo size (companies)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each throughput phase")
    parser.add_argument("--workers", type=int, default=8, help="parallel clients in throughput phases")
    parser.add_argument("--limit", type=int, default=5, help="concurrency limit C for the governance phase")
    parser.add_argument("--latency-ms", type=float, default=300.0, help="latency L for the governance phase")
    args = parser.parse_args()

    config = NetSuiteSandboxConfig(concurrency_limit=10_000)
    started = time.monotonic()
    with NetSuiteSandbox(config, seed="demo", scale=args.scale) as sandbox:
        seed_s = time.monotonic() - started
        ids = [str(row[0]) for row in sandbox.sandbox.store.query("SELECT id FROM sq_customer ORDER BY id")]
        print(
            f"seeded demo scale {args.scale} ({len(ids)} customers) in {seed_s:.2f} s; server {sandbox.url}"
        )

        get_rps = asyncio.run(_get_by_id(sandbox, ids, args.seconds, args.workers))
        print(f"GET /record/v1/customer/{{id}}: {get_rps:,.0f} req/s ({args.workers} clients, zero latency)")
        page_rps, rows = asyncio.run(_suiteql_pages(sandbox, args.seconds, max(1, args.workers // 2)))
        print(f"SuiteQL {rows}-row page: {page_rps:,.1f} pages/s ({page_rps * rows:,.0f} rows/s)")

        c = args.limit
        sandbox.set_config(
            concurrency_limit=c, latency_read_ms=args.latency_ms, latency_write_ms=args.latency_ms
        )
        burst = asyncio.run(_burst(sandbox, 3 * c))
        print(
            f"limit {c}, latency {args.latency_ms:.0f} ms, {3 * c} requests at once: {burst['ok']} admitted, "
            f"{burst['rejected']} refused with 429, at most {burst['max_in_flight']} in flight"
        )
        sandbox.occupy(2)
        shared = asyncio.run(_burst(sandbox, 3 * c))
        sandbox.occupy(0)
        print(
            f"with another integration holding 2 of {c} slots: {shared['ok']} admitted, {shared['rejected']} "
            f"refused, at most {shared['max_in_flight']} slots in use (ours + theirs)"
        )

    result = {
        "get_by_id_rps": round(get_rps, 1),
        "suiteql_1000_page_rps": round(page_rps, 2),
        "suiteql_page_rows": rows,
        "limit": c,
        "latency_ms": args.latency_ms,
        "fired": 3 * c,
        "admitted": burst["ok"],
        "rejected": burst["rejected"],
        "max_in_flight": burst["max_in_flight"],
        "shared_admitted": shared["ok"],
        "shared_rejected": shared["rejected"],
        "shared_max_in_flight": shared["max_in_flight"],
        "seed_scale": args.scale,
        "seed_s": round(seed_s, 2),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

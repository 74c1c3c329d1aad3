"""Throughput of the Salesforce sandbox over a real loopback socket.

Run: ``.venv/bin/python bench/sandbox_salesforce.py [--scale 2000] [--concurrency 8]``

Starts the sandbox itself (``python -m ledgerbridge_sandbox salesforce --port 0 --json``, zero
latency, its own process so client and server do not share an interpreter lock), then measures
with one shared ``httpx2.AsyncClient``:

- GET of a record by id (requests/s, with some concurrency),
- a 2,000-row SOQL page (pages/s),
- a 200-record sObject Collections insert (milliseconds per call),

and reads the sandbox's request log to report how many API calls were made. The server's own
CPU time per call (from ``/proc``) is reported too: wall-clock figures depend on what else the
machine is running, CPU per call does much less. Goals: at least
1,000 GETs/s and a 200-record insert under 100 ms. Ends with one line ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2

V = "62.0"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used (Linux ``/proc``), or ``None`` elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_sandbox(scale: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start the sandbox in a child process and read its JSON start-up line."""
    cmd = [
        sys.executable,
        "-m",
        "ledgerbridge_sandbox",
        "salesforce",
        "--port",
        "0",
        "--json",
        "--seed",
        "demo",
        "--scale",
        str(scale),
        "--api-allocation",
        "100000000",
        "--no-duplicate-rules",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("the sandbox did not start")
    return proc, json.loads(line)


async def run_concurrently(n: int, concurrency: int, call: Callable[[int], Awaitable[None]]) -> float:
    """Run ``call(i)`` for i in range(n) with ``concurrency`` workers; returns elapsed seconds."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await call(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def bench(
    info: dict[str, Any], pid: int, concurrency: int, n_gets: int, n_pages: int, n_inserts: int
) -> dict[str, Any]:
    base = f"{info['instance_url']}/services/data/v{V}"
    headers = {"Authorization": f"Bearer {info['access_token']}"}
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(
        base_url=base, headers=headers, limits=limits, trust_env=False, timeout=60
    ) as client:
        admin = info["admin_url"]
        ids = [
            r["Id"]
            for r in (await client.get("/query", params={"q": "SELECT Id FROM Account LIMIT 500"})).json()[
                "records"
            ]
        ]
        await client.delete(f"{admin}/requests")

        # 1. GET by id
        async def get_one(i: int) -> None:
            r = await client.get(f"/sobjects/Account/{ids[i % len(ids)]}")
            assert r.status_code == 200, r.text

        for i in range(50):  # warm up connections and caches
            await get_one(i)
        cpu0 = cpu_seconds(pid)
        elapsed = await run_concurrently(n_gets, concurrency, get_one)
        cpu1 = cpu_seconds(pid)
        get_rps = n_gets / elapsed
        get_cpu_us = (cpu1 - cpu0) / n_gets * 1e6 if cpu0 is not None and cpu1 is not None else None

        # 2. a 2,000-row SOQL page
        soql = "SELECT Id, FirstName, LastName, Email, Phone, Title, AccountId FROM Contact"

        async def page(i: int) -> None:
            r = await client.get("/query", params={"q": soql})
            body = r.json()
            assert len(body["records"]) == 2000, body.get("totalSize")

        await page(0)
        cpu0 = cpu_seconds(pid)
        elapsed = await run_concurrently(n_pages, min(concurrency, 4), page)
        cpu1 = cpu_seconds(pid)
        page_rps = n_pages / elapsed
        page_cpu_ms = (cpu1 - cpu0) / n_pages * 1e3 if cpu0 is not None and cpu1 is not None else None

        # 3. a 200-record Collections insert
        timings = []
        cpu0 = cpu_seconds(pid)
        for batch in range(n_inserts):
            records = [
                {
                    "attributes": {"type": "Account"},
                    "Name": f"Bench {batch}-{i}",
                    "Phone": "+1 512 555 0100",
                    "Industry": "Technology",
                    "BillingCity": "Austin",
                    "NumberOfEmployees": 50,
                }
                for i in range(200)
            ]
            start = time.perf_counter()
            r = await client.post("/composite/sobjects", json={"allOrNone": False, "records": records})
            timings.append((time.perf_counter() - start) * 1000)
            assert all(x["success"] for x in r.json()), r.text[:300]
        cpu1 = cpu_seconds(pid)
        insert_cpu_ms = (cpu1 - cpu0) / n_inserts * 1e3 if cpu0 is not None and cpu1 is not None else None
        log = (await client.get(f"{admin}/requests")).json()
    return {
        "get_by_id_rps": round(get_rps, 1),
        "soql_2000_page_rps": round(page_rps, 2),
        "soql_2000_page_ms": round(1000 / page_rps, 1),
        "collections_insert_200_ms": round(statistics.median(timings), 1),
        "collections_insert_200_ms_mean": round(statistics.fmean(timings), 1),
        "get_by_id_server_cpu_us": None if get_cpu_us is None else round(get_cpu_us, 1),
        "soql_2000_page_server_cpu_ms": None if page_cpu_ms is None else round(page_cpu_ms, 1),
        "collections_insert_200_server_cpu_ms": None if insert_cpu_ms is None else round(insert_cpu_ms, 1),
        "api_calls": log["total"],
        "concurrency": concurrency,
    }


def main() -> int:
    """Run the benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=2000, help="demo accounts (contacts = 2x)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--gets", type=int, default=3000)
    p.add_argument("--pages", type=int, default=20)
    p.add_argument("--inserts", type=int, default=15)
    args = p.parse_args()
    started = time.perf_counter()
    proc, info = start_sandbox(args.scale)
    boot_s = time.perf_counter() - started
    try:
        result = asyncio.run(bench(info, proc.pid, args.concurrency, args.gets, args.pages, args.inserts))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    result["startup_with_seed_s"] = round(boot_s, 2)
    result["scale"] = args.scale
    print(
        f"Salesforce sandbox benchmark (scale {args.scale} accounts, concurrency {args.concurrency}, "
        "server in its own process, zero latency)"
    )
    print(f"  start-up incl. seed         {result['startup_with_seed_s']:>8.2f} s")
    print(f"  GET record by id            {result['get_by_id_rps']:>8.1f} req/s   (goal >= 1000)")
    print(
        f"  SOQL page of 2,000 rows     {result['soql_2000_page_rps']:>8.2f} pages/s "
        f"({result['soql_2000_page_ms']} ms each)"
    )
    print(
        f"  Collections insert 200 recs {result['collections_insert_200_ms']:>8.1f} ms median "
        f"(mean {result['collections_insert_200_ms_mean']} ms, goal < 100)"
    )
    if result["get_by_id_server_cpu_us"] is not None:
        print(
            f"  server CPU per call         GET {result['get_by_id_server_cpu_us']} us, "
            f"2,000-row page {result['soql_2000_page_server_cpu_ms']} ms, "
            f"200-record insert {result['collections_insert_200_server_cpu_ms']} ms "
            f"(one core: ~{1e6 / result['get_by_id_server_cpu_us']:.0f} GETs/s)"
        )
    print(f"  API calls counted           {result['api_calls']:>8d}")
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

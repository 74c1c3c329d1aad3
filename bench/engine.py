"""Benchmark: the sync engine end to end, Account -> customer, against both sandboxes.

Run: ``.venv/bin/python bench/engine.py [--n 10000] [--edits 1000]``

Both sandboxes run as child processes (``python -m ledgerbridge_sandbox salesforce|netsuite
--port 0 --json``) with zero latency, so ``time.process_time()`` of this process measures the
engine, the connectors and the SQLite state store only. The Salesforce org starts empty and is
filled with ``n`` accounts (unique names and web domains) through sObject Collections; NetSuite
starts empty. The link is Account <-> customer, both ways, matched by external id and web domain,
NetSuite's id written back to ``Account.NetSuite_Id__c`` (the shape of the accounts-customers
template).

1. initial: one ``engine.sync()`` pass creates ``n`` customers and writes their ids back;
2. incremental: ``edits`` accounts get a new phone number (Collections PATCH), then one pass;
3. echo: a third pass right away; its record writes must be 0.

Reported per pass: records/s (source records / wall time), engine CPU seconds per 1,000 records,
and API calls per record on each side, counted by the sandboxes' request logs (every logged call:
queries, reads, writes, token requests). The ``RESULT`` figures for CPU and calls are over the
initial and incremental passes together (``n + edits`` records).

The link reads with ``overlap_s: 1`` instead of the default 120 s: the passes run back to back, and
with a 2-minute overlap the incremental pass would re-read all ``n`` accounts the initial pass had
just written (level-triggered, so harmless, but then it would not measure an incremental pass).

Sandbox work-around (``--ns-nonce-window-s``, default 10): the NetSuite sandbox keeps every TBA
nonce for twice its timestamp window (default 300 s, so 600 s) and, once it holds 10,000 of them,
scans all of them on every request (``TBAVerifier._prune``), so past ~10,000 requests in ten
minutes each request costs time proportional to the requests made so far and the sandbox, not the
engine, sets the pace (about 35 requests/s at 40,000 nonces). The benchmark narrows the window to
10 s through the sandbox's admin API, which keeps the cache under the scan threshold at this
request rate; ``--ns-nonce-window-s 0`` leaves the sandbox's default to reproduce the slowdown.

The last line is ``RESULT {json}`` for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.logging import configure_logging
from ledgerbridge.app.sandboxes import SandboxProcess, start_sandbox
from ledgerbridge.app.wiring import Runtime, open_runtime
from ledgerbridge.engine import SyncSummary

NS_CONCURRENCY = 5  # the sandbox account's default concurrency limit; the engine gets all of it
COLLECTION = 200  # records per sObject Collections call

LINKS = """\
links:
  accounts:
    salesforce: Account
    netsuite: customer
    direction: both
    ids: {salesforce_external_id: NetSuite_Id__c, netsuite_external_id: externalId}
    fields:
      - {salesforce: Name, netsuite: companyName, conflict: {owner: salesforce}}
      - {salesforce: Phone, netsuite: phone, conflict: {owner: salesforce}}
      - {salesforce: Website, netsuite: url, conflict: {owner: salesforce}}
      - {salesforce: Credit_Limit__c, netsuite: creditLimit, direction: to_salesforce}
      - {name: netsuite_id, salesforce: NetSuite_Id__c, to_salesforce: id}
      - {netsuite: subsidiary, value: {id: "1"}, direction: to_netsuite}
      - {netsuite: isPerson, value: false, direction: to_netsuite}
    match:
      external_id: true
      keys: [{name: website, salesforce: Website, netsuite: url, normalise: domain}]
    conflict: newest
    delete: unlink
    options: {overlap_s: 1}
"""


def config_text(sf: dict[str, Any], ns: dict[str, Any], state_url: str) -> str:
    """The configuration for the running sandboxes."""
    return f"""\
connections:
  salesforce:
    instance_url: {sf["instance_url"]}
    api_version: "{sf.get("api_version", "62.0")}"
    auth:
      mode: password
      client_id: {sf["client_id"]}
      client_secret: {sf["client_secret"]}
      username: {sf["username"]}
      password: {sf["password"]}
      security_token: {sf.get("security_token", "")}
  netsuite:
    account_id: "{ns["account_id"]}"
    base_url: {ns["base_url"]}
    auth:
      mode: tba
      consumer_key: {ns["consumer_key"]}
      consumer_secret: {ns["consumer_secret"]}
      token_id: {ns["token_id"]}
      token_secret: {ns["token_secret"]}
    concurrency: {NS_CONCURRENCY}
state:
  url: {state_url}
{LINKS}"""


WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def sf_is_write(method: str, route: str) -> bool:
    """A Salesforce record write: non-GET on sObject, composite or Bulk ingest routes."""
    return method in WRITE_METHODS and any(p in route for p in ("/sobjects", "/composite", "/jobs/ingest"))


def ns_is_write(method: str, route: str) -> bool:
    """A NetSuite record write: non-GET on ``record/v1`` (SuiteQL is a POST that reads)."""
    return method in WRITE_METHODS and "/record/v1/" in route


@dataclass
class Calls:
    """One sandbox's request log, summarised."""

    total: int = 0
    writes: int = 0
    by_route: dict[str, int] = field(default_factory=dict)


class Sandboxes:
    """The two child processes and an admin/REST client for each."""

    def __init__(self, sf: SandboxProcess, ns: SandboxProcess) -> None:
        self.sf, self.ns = sf, ns
        self.sf_url = str(sf.info["instance_url"])
        self.ns_url = str(ns.info["base_url"])
        self.http = httpx2.Client(timeout=120, trust_env=False)
        token = self.http.post(f"{self.sf_url}/__sandbox__/tokens", json={}).json()["access_token"]
        version = sf.info.get("api_version", "62.0")
        self.sf_api = f"{self.sf_url}/services/data/v{version}"
        self.sf_headers = {"Authorization": f"Bearer {token}"}

    def close(self) -> None:
        self.http.close()

    def clear_logs(self) -> None:
        self.http.delete(f"{self.sf_url}/__sandbox__/requests").raise_for_status()
        self.http.delete(f"{self.ns_url}/__sandbox__/requests").raise_for_status()

    def _calls(self, url: str, is_write: Callable[[str, str], bool]) -> Calls:
        log = self.http.get(f"{url}/__sandbox__/requests").json()
        rows = log.get("requests", log.get("counts", []))
        out = Calls()
        for r in rows:
            n = int(r["count"])
            out.total += n
            if is_write(r["method"], r["route"]):
                out.writes += n
            key = f'{r["method"]} {r["route"]} {r["status"]}'
            out.by_route[key] = out.by_route.get(key, 0) + n
        return out

    def calls(self) -> tuple[Calls, Calls]:
        """(Salesforce, NetSuite) calls since the logs were last cleared."""
        return self._calls(self.sf_url, sf_is_write), self._calls(self.ns_url, ns_is_write)

    def _collections(self, method: str, records: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for i in range(0, len(records), COLLECTION):
            r = self.http.request(method, f"{self.sf_api}/composite/sobjects", headers=self.sf_headers,
                                  json={"allOrNone": True, "records": records[i:i + COLLECTION]})
            r.raise_for_status()
            for res in r.json():
                if not res.get("success"):
                    raise SystemExit(f"seeding failed: {res}")
                ids.append(str(res["id"]))
        return ids

    def create_accounts(self, n: int) -> list[str]:
        """``n`` accounts with unique names and web domains, through sObject Collections."""
        return self._collections("POST", [
            {"attributes": {"type": "Account"}, "Name": f"Bench Account {i:05d}",
             "Website": f"https://account-{i:05d}.example", "Phone": f"+1 415 555 {i % 10_000:04d}"}
            for i in range(n)])

    def edit_phones(self, ids: list[str]) -> None:
        """A new phone number on each of ``ids`` (as a bulk edit in Salesforce would make)."""
        self._collections("PATCH", [
            {"attributes": {"type": "Account"}, "Id": rid, "Phone": f"+1 512 555 {i % 10_000:04d}"}
            for i, rid in enumerate(ids)])


@dataclass
class PassResult:
    """Figures of one pass."""

    name: str
    records: int
    wall_s: float
    cpu_s: float
    sf: Calls
    ns: Calls
    summary: SyncSummary

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s else math.inf

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_s / self.records * 1000 if self.records else 0.0


async def measured_pass(rt: Runtime, boxes: Sandboxes, name: str, records: int) -> PassResult:
    """One ``engine.sync()`` pass with wall and CPU time and the sandboxes' call counts."""
    boxes.clear_logs()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    summary = await rt.engine.sync()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    sf, ns = boxes.calls()
    errors = [f"{s.link}: {s.error}" for s in summary.links.values() if s.error]
    if errors or not summary.ok:
        raise SystemExit(f"the {name} pass failed: {errors or dict(summary.counts)}")
    return PassResult(name, records, wall, cpu, sf, ns, summary)


def show(p: PassResult) -> None:
    if p.records:
        print(f"\n{p.name} pass: {p.records:,} records in {p.wall_s:.1f} s = "
              f"{p.records_per_s:,.0f} records/s; engine CPU {p.cpu_s:.1f} s "
              f"({p.cpu_per_1000:.2f} s per 1,000 records)")
    else:
        print(f"\n{p.name} pass (nothing changed): {p.wall_s:.1f} s; engine CPU {p.cpu_s:.1f} s")
    print(f"  outcomes {dict(p.summary.counts)}; actions {dict(p.summary.actions)}")
    for side, calls in (("Salesforce", p.sf), ("NetSuite", p.ns)):
        per = f" ({calls.total / p.records:.3f} per record)" if p.records else ""
        print(f"  {side}: {calls.total:,} API calls{per}, of which {calls.writes:,} writes")
        for route, n in sorted(calls.by_route.items(), key=lambda kv: -kv[1]):
            print(f"    {n:>7,}  {route}")


async def bench(boxes: Sandboxes, n: int, n_edits: int) -> dict[str, Any]:
    t = time.perf_counter()
    ids = boxes.create_accounts(n)
    print(f"seeded {len(ids):,} Salesforce accounts in {time.perf_counter() - t:.1f} s")
    state = Path(tempfile.mkdtemp(prefix="lb-bench-")) / "state.db"
    config = load_config_text(config_text(boxes.sf.info, boxes.ns.info, f"sqlite:///{state}"), env={}).config
    async with open_runtime(config) as rt:
        initial = await measured_pass(rt, boxes, "initial", n)
        if initial.summary.actions["create:netsuite"] != n:
            raise SystemExit(f"the initial pass created {initial.summary.actions['create:netsuite']} "
                             f"customers, expected {n}")
        show(initial)
        step = max(1, n // max(1, n_edits))
        edited = ids[::step][:n_edits]
        boxes.edit_phones(edited)
        incremental = await measured_pass(rt, boxes, "incremental", len(edited))
        if incremental.summary.actions["update:netsuite"] != len(edited):
            raise SystemExit(f"the incremental pass updated {incremental.summary.actions['update:netsuite']} "
                             f"customers, expected {len(edited)}")
        show(incremental)
        echo = await measured_pass(rt, boxes, "echo", 0)
        show(echo)
        echo_writes = echo.sf.writes + echo.ns.writes
        print(f"  echo writes: {echo.sf.writes} Salesforce + {echo.ns.writes} NetSuite = {echo_writes}")
    both = initial.records + incremental.records
    return {
        "initial_records_per_s": round(initial.records_per_s, 1),
        "incremental_records_per_s": round(incremental.records_per_s, 1),
        "engine_cpu_s_per_1000": round((initial.cpu_s + incremental.cpu_s) / both * 1000, 3),
        "sf_calls_per_record": round((initial.sf.total + incremental.sf.total) / both, 4),
        "ns_calls_per_record": round((initial.ns.total + incremental.ns.total) / both, 4),
        "echo_writes": echo_writes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=10_000, help="accounts to sync in the initial pass")
    ap.add_argument("--edits", type=int, default=1_000, help="accounts edited before the incremental pass")
    ap.add_argument("--ns-nonce-window-s", type=int, default=10,
                    help="NetSuite sandbox TBA timestamp window (0 = its default; see the module docstring)")
    args = ap.parse_args(argv)
    configure_logging(level="WARNING")
    sf = start_sandbox("salesforce", ["--port", "0", "--seed", "empty", "--latency-ms", "0"],
                       name="Salesforce", timeout_s=120)
    try:
        ns = start_sandbox("netsuite", ["--port", "0", "--seed", "empty", "--latency-ms", "0"],
                           name="NetSuite", timeout_s=120)
    except BaseException:
        sf.stop()
        raise
    boxes = Sandboxes(sf, ns)
    try:
        if args.ns_nonce_window_s:
            boxes.http.put(f"{boxes.ns_url}/__sandbox__/config",
                           json={"timestamp_window_s": args.ns_nonce_window_s}).raise_for_status()
        print(f"LedgerBridge engine benchmark: {args.n:,} accounts, {args.edits:,} edits; sandboxes in child "
              f"processes, zero latency; NetSuite concurrency {NS_CONCURRENCY}; NetSuite sandbox TBA window "
              f"{args.ns_nonce_window_s or 'default'} s")
        result = asyncio.run(bench(boxes, args.n, args.edits))
    finally:
        boxes.close()
        ns.stop()
        sf.stop()
    print("\nsummary (CPU and calls over the initial and incremental passes):")
    print(f"  initial      {result['initial_records_per_s']:>10,.1f} records/s")
    print(f"  incremental  {result['incremental_records_per_s']:>10,.1f} records/s")
    print(f"  engine CPU   {result['engine_cpu_s_per_1000']:>10.3f} s per 1,000 records")
    print(f"  Salesforce   {result['sf_calls_per_record']:>10.4f} API calls per record")
    print(f"  NetSuite     {result['ns_calls_per_record']:>10.4f} API calls per record")
    print(f"  echo writes  {result['echo_writes']:>10}")
    print("RESULT " + json.dumps(result))
    return 0 if result["echo_writes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

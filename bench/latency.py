"""End-to-end latency of push sync: Salesforce CDC and NetSuite webhook, both sandboxes at realistic latency.

Run: ``.venv/bin/python bench/latency.py [--n 200] [--window S] [--seed N]``.

Both sandboxes run as child processes with their latency flags (Salesforce calls 100-300 ms, NetSuite
reads 150-400 ms and writes 300-800 ms: ``--latency-ms realistic``); the Salesforce one also serves
the Pub/Sub API. LedgerBridge's ``run`` wiring (``services.run_forever`` with a ``realtime`` section)
runs in this process. After an initial pass links ``n`` accounts to ``n`` customers, the benchmark
changes ``n`` records on each side at random moments within the window: a Salesforce ``Phone``
through the REST API, a NetSuite ``creditLimit`` through the admin API's UI routes (which deliver the
User Event script's signed push). For each change it measures the time until the value is visible on
the other side, observed through the admin APIs (the NetSuite UI record route; the Salesforce change
log), which are outside both request logs; those observation calls are counted separately.

API calls per change = (both sandboxes' request-log totals during the measurement - the benchmark's
own Salesforce edit calls) / changes. Polling passes during the measurement are reported against
what the safety-net interval allows. The last line is ``RESULT {json}``.

Scenarios (``--scenario``; ``--concurrency`` and ``--window`` override either):

- ``fair`` (default): the NetSuite sandbox's account concurrency limit is 15, as on a SuiteCloud Plus
  account, and the connector's ``concurrency`` share is 15 too; 200 changes per side over 120 s
  (3.3 changes/s). At about 2 NetSuite calls per change and 0.45 s per NetSuite call that is about
  a fifth of what 15 slots serve (15 / 0.45 = 33 calls/s), so the figures measure the engine, not a
  saturated account.
- ``overloaded``: 4 slots (the connector's share of a default account) and 200 changes per side
  over 50 s: about 16 NetSuite calls/s are asked of an account serving about 9, so changes queue
  by construction and latency grows over the window; kept to show behaviour under overload.

The scenario, the offered NetSuite load and the capacity are printed before the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from ledgerbridge.app import services
from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.realtime import RealtimeService
from ledgerbridge.app.sandboxes import SandboxProcess, start_sandbox
from ledgerbridge.engine import SyncSummary

SECRET = "bench-latency-secret"
SAFETY_NET_S = 600.0
NS_CALL_S = 0.45  # mean NetSuite call at realistic latency (reads 150-400 ms, writes 300-800 ms)
SCENARIOS: dict[str, tuple[int, float]] = {"fair": (15, 120.0), "overloaded": (4, 50.0)}
"""Scenario -> (NetSuite concurrency: the account's limit and the connector's share, window in s)."""

LINK = """\
links:
  accounts:
    salesforce: Account
    netsuite: customer
    direction: both
    ids: {salesforce_external_id: NetSuite_Id__c, netsuite_external_id: externalId}
    fields:
      - {salesforce: Name, netsuite: companyName, conflict: {owner: salesforce}}
      - {salesforce: Phone, netsuite: phone, conflict: {owner: salesforce}}
      - {salesforce: Credit_Limit__c, netsuite: creditLimit, direction: to_salesforce}
      - {name: netsuite_id, salesforce: NetSuite_Id__c, to_salesforce: id}
      - {netsuite: subsidiary, value: {id: "1"}, direction: to_netsuite}
      - {netsuite: isPerson, value: false, direction: to_netsuite}
    match: {external_id: true}
    conflict: newest
    delete: unlink
"""


def config_text(sf: dict[str, Any], ns: dict[str, Any], state_url: str, concurrency: int) -> str:
    """The whole configuration: both sandboxes, the link (no triggers: push + safety net), realtime."""
    return f"""\
connections:
  salesforce:
    instance_url: {sf["instance_url"]}
    api_version: "{sf["api_version"]}"
    auth: {{mode: password, client_id: {sf["client_id"]}, client_secret: {sf["client_secret"]},
            username: {sf["username"]}, password: {sf["password"]}, security_token: "{sf["security_token"]}"}}
  netsuite:
    account_id: "{ns["account_id"]}"
    base_url: {ns["base_url"]}
    auth: {{mode: tba, consumer_key: {ns["consumer_key"]}, consumer_secret: {ns["consumer_secret"]},
            token_id: {ns["token_id"]}, token_secret: {ns["token_secret"]}}}
    concurrency: {concurrency}
state:
  url: {state_url}
realtime:
  webhook: {{host: 127.0.0.1, port: 0, path: /webhooks/netsuite, secret: "${{BENCH_WEBHOOK_SECRET}}"}}
  salesforce_cdc: {{port: {sf["pubsub_port"]}}}
  safety_net_interval: {int(SAFETY_NET_S)}s
{LINK}"""


def api_total(log: dict[str, Any]) -> int:
    """Calls in a request log (either sandbox's shape), admin routes excluded."""
    rows = log.get("requests", log.get("counts", []))
    return sum(int(r["count"]) for r in rows if "__sandbox__" not in str(r["route"]))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Bench:
    """Sandboxes, clients and the measurements of one run."""

    def __init__(self, sf: SandboxProcess, ns: SandboxProcess, n: int, window_s: float, seed: int) -> None:
        self.sf_info, self.ns_info = sf.info, ns.info
        self.n, self.window_s = n, window_s
        self.rng = random.Random(seed)
        self.http = httpx2.AsyncClient(timeout=60, trust_env=False,
                                       limits=httpx2.Limits(max_connections=200))
        self.sf_api = f"{self.sf_info['instance_url']}/services/data/v{self.sf_info['api_version']}"
        self.sf_admin = f"{self.sf_info['instance_url']}/__sandbox__"
        self.ns_admin = f"{self.ns_info['base_url']}/__sandbox__"
        self.token = ""
        self.bench_sf_calls = 0
        self.observation_calls = 0
        self.summaries: list[tuple[float, SyncSummary]] = []

    async def sf(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        self.bench_sf_calls += 1
        r = await self.http.request(method, f"{self.sf_api}{path}",
                                    headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        r.raise_for_status()
        return r

    async def setup_accounts(self) -> list[str]:
        self.token = (await self.http.post(f"{self.sf_admin}/tokens", json={})).json()["access_token"]
        ids: list[str] = []
        for start in range(0, self.n, 200):
            records = [{"attributes": {"type": "Account"}, "Name": f"Latency Co {i:04d}",
                        "Phone": f"555-{i:04d}"} for i in range(start, min(self.n, start + 200))]
            r = await self.sf("POST", "/composite/sobjects", json={"allOrNone": True, "records": records})
            ids += [row["id"] for row in r.json()]
        return ids

    async def pairs(self) -> dict[str, str]:
        r = await self.sf("GET", "/query", params={"q": "SELECT Id, NetSuite_Id__c FROM Account"})
        return {row["Id"]: row["NetSuite_Id__c"] for row in r.json()["records"] if row["NetSuite_Id__c"]}

    async def logs(self) -> tuple[int, int]:
        sf_log = (await self.http.get(f"{self.sf_admin}/requests")).json()
        ns_log = (await self.http.get(f"{self.ns_admin}/requests")).json()
        return api_total(sf_log), api_total(ns_log)

    async def clear_logs(self) -> None:
        await self.http.delete(f"{self.sf_admin}/requests")
        await self.http.delete(f"{self.ns_admin}/requests")
        self.bench_sf_calls = 0

    async def measure(self, pairs: dict[str, str]) -> dict[str, list[float]]:
        """Make the changes, observe them on the other side; seconds per change and direction."""
        sf_ids = list(pairs)[: self.n]
        plan: list[tuple[float, str, str]] = [(self.rng.uniform(0, self.window_s), "sf", i) for i in sf_ids]
        plan += [(self.rng.uniform(0, self.window_s), "ns", pairs[i]) for i in sf_ids]
        plan.sort()
        pending_ns: dict[str, tuple[str, float]] = {}  # ns id -> (phone wanted, changed at)
        pending_sf: dict[str, tuple[float, float]] = {}  # sf id -> (credit limit wanted, changed at)
        ns_to_sf = {v: k for k, v in pairs.items()}
        done: dict[str, list[float]] = {"salesforce->netsuite": [], "netsuite->salesforce": []}
        after = int((await self.http.get(f"{self.sf_admin}/changes", params={"after": 0, "limit": 1})
                     ).json()["latestReplayId"])
        start = time.monotonic()
        edits_done = asyncio.Event()

        async def change(at: float, side: str, rid: str, k: int) -> None:
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            if side == "sf":
                phone = f"555-{k:04d}-{self.rng.randint(100, 999)}"
                await self.sf("PATCH", f"/sobjects/Account/{rid}", json={"Phone": phone})
                pending_ns[pairs[rid]] = (phone, time.monotonic())
            else:
                limit = float(10_000 + k)
                r = await self.http.patch(f"{self.ns_admin}/ui/record/customer/{rid}",
                                          json={"creditLimit": limit})
                r.raise_for_status()
                pending_sf[ns_to_sf[rid]] = (limit, time.monotonic())

        async def observe_ns() -> None:
            while not (edits_done.is_set() and not pending_ns):
                for ns_id, (phone, t0) in list(pending_ns.items()):
                    self.observation_calls += 1
                    r = await self.http.get(f"{self.ns_admin}/ui/record/customer/{ns_id}")
                    if r.json().get("phone") == phone:
                        done["salesforce->netsuite"].append(time.monotonic() - t0)
                        del pending_ns[ns_id]
                await asyncio.sleep(0.05)

        async def observe_sf() -> None:
            nonlocal after
            while not (edits_done.is_set() and not pending_sf):
                self.observation_calls += 1
                r = (await self.http.get(f"{self.sf_admin}/changes",
                                         params={"after": after, "entity": "Account", "limit": 1000})).json()
                now = time.monotonic()
                for event in r["events"]:
                    after = max(after, int(event["replayId"]))
                    payload = event["payload"]
                    for sf_id in payload["ChangeEventHeader"]["recordIds"]:
                        wanted = pending_sf.get(sf_id)
                        if wanted is not None and payload.get("Credit_Limit__c") == wanted[0]:
                            done["netsuite->salesforce"].append(now - wanted[1])
                            del pending_sf[sf_id]
                await asyncio.sleep(0.05)

        observers = [asyncio.create_task(observe_ns()), asyncio.create_task(observe_sf())]
        await asyncio.gather(*(change(at, side, rid, k) for k, (at, side, rid) in enumerate(plan)))
        edits_done.set()
        try:
            await asyncio.wait_for(asyncio.gather(*observers), 60)
        except TimeoutError:
            print(f"  not seen within 60 s: {len(pending_ns)} to NetSuite, {len(pending_sf)} to Salesforce")
        return done


async def main(n: int, window_s: float, seed: int, concurrency: int = 15,
               scenario: str = "fair") -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lb-latency-"))
    offered = 2 * n / window_s
    capacity = concurrency / NS_CALL_S
    print(f"scenario {scenario}: NetSuite account concurrency {concurrency} (connector share {concurrency}), "
          f"{n} changes per side over {window_s:.0f} s = {offered:.1f} changes/s; at ~2 NetSuite calls per "
          f"change that asks ~{2 * offered:.0f} calls/s of ~{capacity:.0f} the slots serve "
          f"({2 * offered / capacity:.0%} of capacity)")
    print("starting sandboxes (Salesforce 100-300 ms per call, NetSuite realistic: writes 300-800 ms)...")
    sf = start_sandbox("salesforce", ["--port", "0", "--seed", "empty", "--latency-jitter-ms", "100,300",
                                      "--pubsub-port", "0", "--pubsub-keepalive", "5"])
    ns = start_sandbox("netsuite", ["--port", "0", "--seed", "empty", "--latency-ms", "realistic",
                                    "--concurrency", str(concurrency), "--data", str(workdir / "ns.db")])
    bench = Bench(sf, ns, n, window_s, seed)
    try:
        await bench.setup_accounts()
        text = config_text(sf.info, ns.info, f"sqlite:///{workdir / 'state.db'}", concurrency)
        config = load_config_text(text, env={"BENCH_WEBHOOK_SECRET": SECRET}).config
        stop = asyncio.Event()
        holder: list[RealtimeService] = []

        def on_summary(summary: SyncSummary) -> None:
            bench.summaries.append((time.monotonic(), summary))

        t_setup = time.monotonic()
        runner = asyncio.create_task(services.run_forever(config, stop, on_summary=on_summary,
                                                          on_realtime=holder.append))
        while not any(s.kind != "intake" for _, s in bench.summaries):  # the initial pass
            if runner.done():
                await runner
            await asyncio.sleep(0.1)
        while not (holder and holder[0].subscribed.is_set() and holder[0].stats.webhook_port):
            await asyncio.sleep(0.05)
        realtime = holder[0]
        pairs = await bench.pairs()
        took = time.monotonic() - t_setup
        print(f"initial pass linked {len(pairs)} accounts to customers in {took:.1f} s")
        hook = f"http://127.0.0.1:{realtime.stats.webhook_port}/webhooks/netsuite"
        pushing = await bench.http.put(f"{bench.ns_admin}/push", json={"url": hook, "secret": SECRET})
        pushing.raise_for_status()

        await asyncio.sleep(1.0)  # let the echo of the initial pass settle before counting
        await bench.clear_logs()
        passes_before = len(bench.summaries)
        t0 = time.monotonic()
        print(f"changing {n} records on each side at random moments within {window_s:.0f} s...")
        done = await bench.measure(pairs)
        measured_s = time.monotonic() - t0
        sf_calls, ns_calls = await bench.logs()
        bench_sf_edits = bench.bench_sf_calls
        stop.set()
        await runner
        during = [s for _, s in bench.summaries[passes_before:]]
        polls = sum(1 for s in during if s.kind != "intake")
        pushed = sum(1 for s in during if s.kind == "intake")
        push_status = (await bench.http.get(f"{bench.ns_admin}/push")).json()
    finally:
        await bench.http.aclose()
        sf.stop()
        ns.stop()

    all_s = done["salesforce->netsuite"] + done["netsuite->salesforce"]
    changes = 2 * n
    lb_calls = sf_calls - bench_sf_edits + ns_calls
    allowed_polls = math.floor(measured_s / SAFETY_NET_S) + 1
    print()
    for direction, values in done.items():
        if values:
            print(f"  {direction:22s} n={len(values):4d}  p50 {statistics.median(values):.2f} s  "
                  f"p95 {percentile(values, 0.95):.2f} s  max {max(values):.2f} s")
    print(f"  all changes            n={len(all_s):4d} of {changes}")
    print(f"  API calls by LedgerBridge: Salesforce {sf_calls - bench_sf_edits}, NetSuite {ns_calls} "
          f"-> {lb_calls / changes:.2f} per change")
    print(f"  benchmark's own calls (not counted above): {bench_sf_edits} Salesforce REST edits, "
          f"{n} NetSuite UI edits, {bench.observation_calls} admin-API observations")
    print(f"  push calls delivered by NetSuite: {push_status['sent']} (failed {push_status['failed']}); "
          f"CDC batches {realtime.stats.cdc_batches}, catch-ups {realtime.stats.catch_ups}")
    print(f"  engine passes during {measured_s:.0f} s: {pushed} intake mini-passes, {polls} polling passes "
          f"(safety net every {SAFETY_NET_S:.0f} s allows at most {allowed_polls}: "
          f"{'OK' if polls <= allowed_polls else 'EXCEEDED'})")
    if not all_s:
        raise SystemExit("no change was observed")
    return {"p50_s": round(statistics.median(all_s), 3), "p95_s": round(percentile(all_s, 0.95), 3),
            "max_s": round(max(all_s), 3), "calls_per_change": round(lb_calls / changes, 3),
            "observed": len(all_s), "changes": changes, "polling_passes": polls, "scenario": scenario,
            "netsuite_concurrency": concurrency, "window_s": window_s}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=200, help="changes per side (and accounts linked)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="fair",
                        help="fair: 15 NetSuite slots, 120 s window; overloaded: 4 slots, 50 s window")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="NetSuite account concurrency limit and connector share (scenario's if omitted)")
    parser.add_argument("--window", type=float, default=None,
                        help="seconds over which changes are spread (scenario's, scaled to --n, if omitted)")
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args()
    slots, window_200 = SCENARIOS[opts.scenario]
    window = opts.window if opts.window is not None else max(10.0, window_200 * opts.n / 200)
    result = asyncio.run(main(opts.n, window, opts.seed, opts.concurrency or slots, opts.scenario))
    sys.stdout.flush()
    print("RESULT " + json.dumps(result))

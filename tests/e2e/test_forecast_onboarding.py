"""The cash-flow forecast and customer onboarding against both sandboxes over loopback.

Forecast: the CLI's CSV equals numbers computed here straight from the sandboxes' data; the PNG is
a PNG. Onboarding: a won deal's account synced gives exactly one invoice, one Task, one email (to a
local aiosmtpd server) and one webhook POST (to a local HTTP receiver); reruns and a replayed
create make none of them again; an SMTP refusal is reported and retried on the next pass.
"""

from __future__ import annotations

import asyncio
import csv
import json
import socket
import struct
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledgerbridge.app import services
from ledgerbridge.app.onboarding import run_onboarding
from ledgerbridge.app.wiring import open_runtime
from ledgerbridge.cli.main import app
from ledgerbridge.core.records import System
from ledgerbridge.engine import Outcome, RecordOutcome
from ledgerbridge.engine.runner import LinkSummary, SyncSummary

from .conftest import Systems, connections_yaml

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

ACCOUNTS = """\
links:
  accounts:
    salesforce: Account
    netsuite: customer
    direction: to_netsuite
    ids: {salesforce_external_id: NetSuite_Id__c, netsuite_external_id: externalId}
    fields:
      - {salesforce: Name, netsuite: companyName}
      - {name: netsuite_id, salesforce: NetSuite_Id__c, to_salesforce: id}
      - {netsuite: subsidiary, value: {id: "2"}}
      - {netsuite: isPerson, value: false}
    delete: unlink
"""


def _suiteql(systems: Systems, q: str) -> list[dict[str, Any]]:
    r = systems.ns_rest.post("/query/v1/suiteql", headers={"Prefer": "transient"}, json={"q": q})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


# -- forecast --------------------------------------------------------------------------------------

def test_forecast_cli_matches_the_sandbox_data(systems: Systems, tmp_path: Path) -> None:
    today = date.today()
    acct = systems.sf_create("Account", {"Name": "Forecast Co"})
    for amount, prob, days in (("1000", 40, 5), ("2500.50", 75, 40), ("900", 10, -20)):
        systems.sf_create("Opportunity", {"Name": f"Deal {amount}", "AccountId": acct,
                                          "StageName": "Prospecting", "Amount": amount, "Probability": prob,
                                          "CloseDate": (today + timedelta(days=days)).isoformat()})
    systems.sf_create("Opportunity", {"Name": "Won", "AccountId": acct, "StageName": "Closed Won",
                                      "Amount": 5000, "CloseDate": today.isoformat()})
    item = systems.ns_create("serviceSaleItem", {"itemId": "SVC-1", "displayName": "Setup"})
    cust = systems.ns_create("customer", {"companyName": "Payer", "subsidiary": {"id": "2"},
                                          "isPerson": False})

    def invoice(due: date, rate: float) -> str:
        return systems.ns_create("invoice", {"entity": {"id": cust}, "dueDate": due.isoformat(),
                                             "tranDate": (due - timedelta(days=30)).isoformat(),
                                             "item": {"items": [{"item": {"id": item}, "quantity": 1,
                                                                 "rate": rate}]}})
    paid_due = today - timedelta(days=60)
    paid = invoice(paid_due, 100)  # paid 12 days late
    systems.ns_create("customerPayment", {"customer": {"id": cust}, "payment": 100,
                                          "tranDate": (paid_due + timedelta(days=12)).isoformat(),
                                          "apply": {"items": [{"doc": {"id": paid}, "apply": True,
                                                               "amount": 100}]}})
    invoice(today + timedelta(days=25), 300)
    invoice(today + timedelta(days=3), 40)

    # independent computation from the sandboxes' data
    def month(d: date) -> date:
        return d.replace(day=1)
    first = month(today)
    expected: dict[date, list[Decimal]] = {}
    starts = [first]
    for _ in range(2):
        s = starts[-1]
        starts.append(date(s.year + (s.month == 12), s.month % 12 + 1, 1))
    for s in starts:
        expected[s] = [Decimal(0), Decimal(0)]
    end = date(starts[-1].year + (starts[-1].month == 12), starts[-1].month % 12 + 1, 1)
    soql = "SELECT Amount, Probability, CloseDate FROM Opportunity WHERE IsClosed = false"
    for o in systems.sf_query(soql):
        d = date.fromisoformat(o["CloseDate"])
        if d < end:
            weighted = Decimal(str(o["Amount"])) * Decimal(str(o["Probability"])) / 100
            expected[max(first, month(d))][0] += weighted
    rows = _suiteql(systems, "SELECT id, TO_CHAR(duedate, 'YYYY-MM-DD') AS due, foreignamountunpaid "
                             "FROM transaction WHERE type = 'CustInvc'")
    payment = systems.ns_get("customerPayment", _suiteql(
        systems, "SELECT id FROM transaction WHERE type = 'CustPymt'")[0]["id"])
    delay = (date.fromisoformat(payment["tranDate"]) - paid_due).days
    assert delay == 12
    for r in rows:
        unpaid = Decimal(r["foreignamountunpaid"])
        d = date.fromisoformat(r["due"]) + timedelta(days=delay)
        if unpaid > 0 and d < end:
            expected[max(first, month(d))][1] += unpaid

    cfg = tmp_path / "ledgerbridge.yaml"
    cfg.write_text(connections_yaml(systems.sf.info, systems.ns.info, f"sqlite:///{tmp_path / 's.db'}")
                   + ACCOUNTS)
    out_csv, out_png = tmp_path / "f.csv", tmp_path / "f.png"
    result = CliRunner().invoke(app, ["forecast", "--months", "3", "--csv", str(out_csv),
                                      "--png", str(out_png), "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "Cash-flow forecast by month" in result.output
    with out_csv.open() as fh:
        got = list(csv.DictReader(fh))
    cents = Decimal("0.01")
    assert [(r["period_start"], Decimal(r["weighted_pipeline"]), Decimal(r["expected_collections"]))
            for r in got] == [(s.isoformat(), expected[s][0].quantize(cents, ROUND_HALF_UP),
                               expected[s][1].quantize(cents, ROUND_HALF_UP)) for s in starts]
    png = out_png.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (640, 320)

    as_json = CliRunner().invoke(app, ["forecast", "--weeks", "4", "--json", "-c", str(cfg)])
    assert as_json.exit_code == 0, as_json.output
    assert len(json.loads(as_json.stdout)["periods"]) == 4


# -- onboarding ------------------------------------------------------------------------------------

class _Mailbox:
    def __init__(self, refuse_first: int) -> None:
        self.refuse = refuse_first
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.messages.append(envelope.content)
        return "250 OK"


class _Hooks(BaseHTTPRequestHandler):
    posts: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receivers() -> Iterator[tuple[_Mailbox, int, type[_Hooks], int]]:
    mailbox = _Mailbox(refuse_first=1)
    with socket.socket() as probe:  # a free port (the controller checks its own port once started)
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = aiosmtpd_controller.Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    _Hooks.posts = []
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield mailbox, smtp_port, _Hooks, http.server_address[1]
    finally:
        http.shutdown()
        smtp.stop()


def test_onboarding_runs_each_step_once_and_retries_a_failed_email(
        systems: Systems, tmp_path: Path, receivers: tuple[_Mailbox, int, type[_Hooks], int]) -> None:
    mailbox, smtp_port, hooks, http_port = receivers
    item = systems.ns_create("serviceSaleItem", {"itemId": "ONB-1", "displayName": "Onboarding"})
    [owner] = systems.sf_query("SELECT Id FROM User LIMIT 1")
    won = systems.sf_create("Account", {"Name": "Won Corp", "Customer_Success_Owner__c": owner["Id"]})
    systems.sf_create("Opportunity", {"Name": "Big", "AccountId": won, "StageName": "Closed Won",
                                      "Amount": 9000, "CloseDate": date.today().isoformat()})
    systems.sf_create("Account", {"Name": "Just Browsing"})  # no won deal: no onboarding
    links = ACCOUNTS + f"""\
onboarding:
  invoice: {{item: "{item}", amount: 250}}
  email: {{host: 127.0.0.1, port: {smtp_port}, tls: none, sender: bridge@example.com, to: [cs@example.com]}}
  webhook: {{url: "http://127.0.0.1:{http_port}/hook"}}
"""
    config = systems.config(links, tmp_path)

    first = asyncio.run(services.sync(config))
    assert first.ok, first
    [row] = systems.sf_query(f"SELECT NetSuite_Id__c FROM Account WHERE Id = '{won}'")
    cid = row["NetSuite_Id__c"]

    async def audit() -> list[str]:
        async with open_runtime(config) as rt:
            return [e.action for e in await rt.store.list_audit(link="onboarding", record_id=cid)]
    assert "onboarding.email.failed" in asyncio.run(audit())
    assert mailbox.messages == [] and len(hooks.posts) == 1

    asyncio.run(services.sync(config))  # the next pass retries the email only
    assert len(mailbox.messages) == 1 and b"Won Corp" in mailbox.messages[0]

    async def rerun_and_replay() -> None:
        async with open_runtime(config) as rt:
            replay = SyncSummary("replay", "sync", {"accounts": LinkSummary("accounts", outcomes=[
                RecordOutcome("accounts", System.SALESFORCE, won, Outcome.SYNCED, "", "create", cid)])})
            report = await run_onboarding(rt, replay)
            assert report.started == [] and report.steps == []
    asyncio.run(services.sync(config))
    asyncio.run(rerun_and_replay())

    invoices = _suiteql(systems, f"SELECT id, entity FROM transaction WHERE externalid = 'onboard-{cid}'")
    assert [r["entity"] for r in invoices] == [cid]
    assert len(_suiteql(systems, "SELECT id FROM transaction WHERE type = 'CustInvc'")) == 1
    tasks = systems.sf_query(f"SELECT Id, OwnerId, Subject FROM Task WHERE WhatId = '{won}'")
    assert [(t["OwnerId"], t["Subject"]) for t in tasks] == [(owner["Id"], "Onboard Won Corp")]
    assert len(systems.sf_query("SELECT Id FROM Task")) == 1
    assert len(mailbox.messages) == 1 and len(hooks.posts) == 1
    assert "Won Corp" in hooks.posts[0]["text"]
    actions = asyncio.run(audit())
    assert {f"onboarding.{s}.done" for s in ("invoice", "task", "email", "webhook")} <= set(actions)

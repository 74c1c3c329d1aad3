"""Every shipped template the way a user starts it: ``ledgerbridge init --template NAME --sandbox``,
then ``ledgerbridge run``, all as separate processes.

One ``python -m ledgerbridge_sandbox up`` (empty seed, free ports, zero latency) serves the whole
module and is reset through its admin API before each template. Each test writes the configuration
with ``init --sandbox --sf-port --ns-port``, makes the flow's basic change through the sandboxes'
REST APIs as a person's tool would, starts ``ledgerbridge run`` (no dashboard), polls the other
system's API until the expected record is there (bounded deadline), then sends SIGINT and checks a
clean exit: code 0, the pass finished, no traceback. The assertions stay on each flow's core effect
(the record exists, with its key fields), not on every mapped field.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest

from ledgerbridge.app.templates import list_templates
from ledgerbridge_sandbox.netsuite.testing import TBAAuth

T = TypeVar("T")
Starter = Callable[[Path, Path], "Run"]

EXE = Path(sys.executable).with_name("ledgerbridge")
START_TIMEOUT_S = 60.0
SYNC_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
TEMPLATES = ("accounts-customers", "catalog-pricing", "customer-onboarding", "invoice-status",
             "lead-to-prospect", "pipeline-forecast", "quote-to-cash")


class Sandboxes:
    """The running ``sandbox up`` process, reached through its REST and admin APIs."""

    def __init__(self, info: dict[str, Any]) -> None:
        sf, ns = info["salesforce"], info["netsuite"]
        self.sf_info, self.ns_info = sf, ns
        self.sf_url, self.ns_url = str(sf["instance_url"]), str(ns["base_url"])
        self.sf_port, self.ns_port = int(self.sf_url.rsplit(":", 1)[1]), int(self.ns_url.rsplit(":", 1)[1])
        self.admin = httpx2.Client(timeout=30, trust_env=False)
        self.sf = httpx2.Client(base_url=f"{self.sf_url}/services/data/v{sf['api_version']}", timeout=30,
                                trust_env=False)
        self.ns = httpx2.Client(base_url=str(ns["rest_url"]), timeout=30, trust_env=False, auth=TBAAuth(
            ns["account_id"], ns["consumer_key"], ns["consumer_secret"], ns["token_id"], ns["token_secret"]))

    def close(self) -> None:
        for client in (self.admin, self.sf, self.ns):
            client.close()

    def reset(self) -> None:
        """Both sandboxes empty, zero latency, no validation rules; a fresh Salesforce session."""
        admin_sf, admin_ns = f"{self.sf_url}/__sandbox__", f"{self.ns_url}/__sandbox__"
        self.admin.post(f"{admin_sf}/reset", json={"seed": "empty"}).raise_for_status()
        self.admin.patch(f"{admin_sf}/config", json={"latency_ms": 0, "latency_jitter_ms": None,
                                                     "validation_rules": []}).raise_for_status()
        self.admin.post(f"{admin_ns}/reset", json={"seed": "empty"}).raise_for_status()
        self.admin.put(f"{admin_ns}/config", json={"latency": "zero"}).raise_for_status()
        token = self.admin.post(f"{admin_sf}/tokens", json={}).json()["access_token"]
        self.sf.headers["Authorization"] = f"Bearer {token}"

    # -- Salesforce REST --------------------------------------------------------------------------
    def sf_create(self, sobject: str, fields: dict[str, Any]) -> str:
        r = self.sf.post(f"/sobjects/{sobject}", json=fields)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def sf_get(self, sobject: str, rid: str) -> dict[str, Any]:
        r = self.sf.get(f"/sobjects/{sobject}/{rid}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def sf_update(self, sobject: str, rid: str, fields: dict[str, Any]) -> None:
        r = self.sf.patch(f"/sobjects/{sobject}/{rid}", json=fields)
        assert r.status_code == 204, r.text

    def sf_query(self, soql: str) -> list[dict[str, Any]]:
        r = self.sf.get("/query", params={"q": soql})
        assert r.status_code == 200, r.text
        return list(r.json()["records"])

    # -- NetSuite REST ------------------------------------------------------------------------------
    def ns_create(self, rtype: str, fields: dict[str, Any]) -> str:
        r = self.ns.post(f"/record/v1/{rtype}", json=fields)
        assert r.status_code == 204, r.text
        return str(r.headers["location"]).rsplit("/", 1)[-1]

    def ns_get(self, rtype: str, rid: str) -> dict[str, Any]:
        r = self.ns.get(f"/record/v1/{rtype}/{rid}", params={"expandSubResources": "true"})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def suiteql(self, q: str) -> list[dict[str, Any]]:
        r = self.ns.post("/query/v1/suiteql", headers={"Prefer": "transient"}, json={"q": q})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])


def _first_line(stream: Any, timeout_s: float) -> str:
    """The first line of ``stream``, or "" when none came within ``timeout_s``."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout_s)
    except queue.Empty:
        return ""


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> int:
    """Send ``sig`` and wait; kill after the deadline. Returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxes]:
    """``python -m ledgerbridge_sandbox up`` on free ports with an empty seed, for this module."""
    folder = tmp_path_factory.mktemp("sandbox-up")
    log = (folder / "sandbox.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge_sandbox", "up", "--seed", "empty", "--sf-port", "0",
         "--ns-port", "0", "--json"],
        cwd=folder, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = _first_line(proc.stdout, START_TIMEOUT_S)
        assert line, f"the sandboxes printed no ready line:\n{(folder / 'sandbox.log').read_text()}"
        out = Sandboxes(json.loads(line))
        try:
            yield out
        finally:
            out.close()
    finally:
        code = _stop(proc)
        log.close()
        assert code == 0, (folder / "sandbox.log").read_text()


@dataclass
class Run:
    """One ``ledgerbridge run`` child process and where its output goes."""

    proc: subprocess.Popen[str]
    out: Path
    err: Path

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()


def init(sb: Sandboxes, template: str, folder: Path) -> Path:
    """``ledgerbridge init --template NAME --sandbox`` on the sandboxes' ports; the file it wrote."""
    config = folder / "ledgerbridge.yaml"
    done = subprocess.run(
        [str(EXE), "init", "--template", template, "--sandbox", "--sf-port", str(sb.sf_port),
         "--ns-port", str(sb.ns_port), "-o", str(config)],
        cwd=folder, capture_output=True, text=True, timeout=60, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    text = config.read_text()
    assert f'"{sb.sf_url}"' in text and f'"{sb.ns_url}"' in text
    return config


def _env() -> dict[str, str]:
    """This environment without overrides of the sandbox credentials (the rendered file's defaults)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERBRIDGE_SF_", "LEDGERBRIDGE_NS_"))}
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture
def start_run() -> Iterator[Callable[[Path, Path], Run]]:
    """Starts ``ledgerbridge run -c CONFIG --state sqlite:///FOLDER/state.db``; stops what is left."""
    started: list[Run] = []

    def start(config: Path, folder: Path) -> Run:
        out, err = folder / "run.out", folder / "run.err"  # files, not pipes: a full pipe would stall it
        with out.open("w") as o, err.open("w") as e:
            proc = subprocess.Popen(
                [str(EXE), "run", "-c", str(config), "--state", f"sqlite:///{folder / 'state.db'}"],
                cwd=folder, stdout=o, stderr=e, text=True, env=_env())
        started.append(Run(proc, out, err))
        return started[-1]

    yield start
    for run in started:  # a test that failed half-way leaves no process behind
        _stop(run.proc, signal.SIGKILL)


def wait_for(run: Run, what: str, probe: Callable[[], T | None]) -> T:
    """Poll ``probe`` until it returns something, while ``run`` is alive, within the deadline."""
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    pause = 0.05
    while True:
        found = probe()
        if found is not None:
            return found
        if run.proc.poll() is not None:
            pytest.fail(f"`ledgerbridge run` exited ({run.proc.returncode}) before {what}:\n{run.output()}")
        if time.monotonic() > deadline:
            _stop(run.proc)
            pytest.fail(f"{what} did not happen within {SYNC_TIMEOUT_S:.0f} s:\n{run.output()}")
        time.sleep(pause)  # polling interval of the other system's API, not a wait for a result
        pause = min(pause * 2, 0.5)


def stop_cleanly(run: Run, sig: int = signal.SIGINT) -> str:
    """Stop ``run`` with ``sig``; it must finish its pass and exit 0 without a traceback."""
    code = _stop(run.proc, sig)
    output = run.output()
    assert code == 0, output
    assert "Traceback" not in output, output
    assert "dashboard: none" in output, output  # says where it is
    assert "stopped after" in output, output
    return output


@pytest.fixture
def sb(sandboxes: Sandboxes) -> Sandboxes:
    sandboxes.reset()
    return sandboxes


def one(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return rows[0] if len(rows) == 1 else None


# -- the flows ------------------------------------------------------------------------------------

def test_every_shipped_template_is_covered_here() -> None:
    assert sorted(t.name for t in list_templates()) == sorted(TEMPLATES)


def test_accounts_customers_new_account_becomes_a_netsuite_customer(
        sb: Sandboxes, tmp_path: Path, start_run: Starter) -> None:
    config = init(sb, "accounts-customers", tmp_path)
    acct = sb.sf_create("Account", {"Name": "Acme Rockets", "Website": "https://acme.example"})
    run = start_run(config, tmp_path)
    customer = wait_for(run, "the NetSuite customer for the new account", lambda: one(sb.suiteql(
        f"SELECT id, companyname FROM customer WHERE externalid = '{acct}'")))
    assert customer["companyname"] == "Acme Rockets"
    stop_cleanly(run)
    assert sb.sf_get("Account", acct)["NetSuite_Id__c"] == customer["id"]  # written back in that pass


def test_catalog_pricing_new_item_becomes_a_salesforce_product(
        sb: Sandboxes, tmp_path: Path, start_run: Starter) -> None:
    config = init(sb, "catalog-pricing", tmp_path)
    item = sb.ns_create("inventoryItem", {"itemId": "WID-1", "displayName": "Widget",
                                          "subsidiary": {"items": [{"id": "2"}]}})
    run = start_run(config, tmp_path)
    product = wait_for(run, "the Salesforce product for the new item", lambda: one(sb.sf_query(
        f"SELECT Id, ProductCode, Name, IsActive FROM Product2 WHERE NetSuite_Id__c = '{item}'")))
    assert (product["ProductCode"], product["Name"], product["IsActive"]) == ("WID-1", "Widget", True)
    stop_cleanly(run)


def test_customer_onboarding_won_deals_new_customer_gets_a_task(
        sb: Sandboxes, tmp_path: Path, start_run: Starter) -> None:
    config = init(sb, "customer-onboarding", tmp_path)
    [owner] = sb.sf_query("SELECT Id FROM User LIMIT 1")
    acct = sb.sf_create("Account", {"Name": "Won Corp", "Website": "https://won.example",
                                    "Customer_Success_Owner__c": owner["Id"]})
    sb.sf_create("Opportunity", {"Name": "Big", "AccountId": acct, "StageName": "Closed Won",
                                 "Amount": 9000, "CloseDate": date.today().isoformat()})
    run = start_run(config, tmp_path)
    task = wait_for(run, "the onboarding Task", lambda: one(sb.sf_query(
        f"SELECT Id, OwnerId FROM Task WHERE WhatId = '{acct}'")))
    assert task["OwnerId"] == owner["Id"]
    stop_cleanly(run)
    assert one(sb.suiteql(f"SELECT id FROM customer WHERE externalid = '{acct}'")) is not None
    assert len(sb.sf_query("SELECT Id FROM Task")) == 1


def test_invoice_status_invoice_shows_as_the_accounts_open_balance(
        sb: Sandboxes, tmp_path: Path, start_run: Starter) -> None:
    config = init(sb, "invoice-status", tmp_path)
    today = date.today()
    item = sb.ns_create("serviceSaleItem", {"itemId": "SVC-1", "displayName": "Setup"})
    cust = sb.ns_create("customer", {"companyName": "Payer Inc", "subsidiary": {"id": "2"},
                                     "isPerson": False})
    acct = sb.sf_create("Account", {"Name": "Payer Inc", "NetSuite_Id__c": cust})  # linked
    sb.ns_create("invoice", {"entity": {"id": cust}, "tranDate": today.isoformat(),
                             "dueDate": (today + timedelta(days=30)).isoformat(),
                             "item": {"items": [{"item": {"id": item}, "quantity": 2, "rate": 150}]}})
    run = start_run(config, tmp_path)

    def balance() -> float | None:
        value = sb.sf_get("Account", acct)["Open_Balance__c"]
        return float(value) if value is not None else None

    assert wait_for(run, "the open balance on the account", balance) == 300
    stop_cleanly(run)


def test_lead_to_prospect_scored_lead_becomes_a_netsuite_prospect(
        sb: Sandboxes, tmp_path: Path, start_run: Starter) -> None:
    config = init(sb, "lead-to-prospect", tmp_path)
    lead = sb.sf_create("Lead", {"Company": "Bright Ideas", "FirstName": "Ann", "LastName": "Lee",
                                 "Email": "Ann.Lee@Bright.example", "Lead_Score__c": 85})
    sb.sf_create("Lead", {"Company": "Cold Call Ltd", "LastName": "Low", "Email": "low@cold.example",
                          "Lead_Score__c": 20})
    run = start_run(config, tmp_path)
    prospect = wait_for(run, "the NetSuite prospect for the scored lead", lambda: one(sb.suiteql(
        f"SELECT id, companyname, email FROM customer WHERE externalid = '{lead}'")))
    assert (prospect["companyname"], prospect["email"]) == ("Bright Ideas", "ann.lee@bright.example")
    stop_cleanly(run)
    assert [c["id"] for c in sb.suiteql("SELECT id FROM customer")] == [prospect["id"]]
    assert sb.sf_get("Lead", lead)["NetSuite_Id__c"] == prospect["id"]


def test_pipeline_forecast_open_opportunity_becomes_a_netsuite_opportunity(
        sb: Sandboxes, tmp_path: Path, start_run: Starter) -> None:
    config = init(sb, "pipeline-forecast", tmp_path)
    close = date.today() + timedelta(days=30)
    acct = sb.sf_create("Account", {"Name": "Acme Rockets", "Website": "https://acme.example"})
    opp = sb.sf_create("Opportunity", {"Name": "Rockets Q3", "AccountId": acct, "StageName": "Prospecting",
                                       "Amount": 12500, "CloseDate": close.isoformat()})
    run = start_run(config, tmp_path)
    row = wait_for(run, "the NetSuite opportunity", lambda: one(sb.suiteql(
        f"SELECT id FROM transaction WHERE type = 'Opprtnty' AND externalid = '{opp}'")))
    stop_cleanly(run)
    ns_opp = sb.ns_get("opportunity", row["id"])
    customer = sb.sf_get("Account", acct)["NetSuite_Id__c"]
    assert (ns_opp["title"], ns_opp["entity"]["id"], ns_opp["projectedTotal"],
            ns_opp["expectedCloseDate"]) == ("Rockets Q3", customer, 12500, close.isoformat())


def test_quote_to_cash_won_opportunity_becomes_a_sales_order(
        sb: Sandboxes, tmp_path: Path, start_run: Starter) -> None:
    config = init(sb, "quote-to-cash", tmp_path)
    # the catalog as it stands in both systems: one item in NetSuite, its product (same code) priced
    # in Salesforce's standard price book
    item = sb.ns_create("inventoryItem", {"itemId": "WID-1", "displayName": "Widget",
                                          "subsidiary": {"items": [{"id": "2"}]}})
    product = sb.sf_create("Product2", {"Name": "Widget", "ProductCode": "WID-1", "IsActive": True})
    [book] = sb.sf_query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    sb.sf_create("PricebookEntry", {"Pricebook2Id": book["Id"], "Product2Id": product, "UnitPrice": 10,
                                    "IsActive": True})
    # a sales rep's deal: account, opportunity with a line, then Closed Won
    acct = sb.sf_create("Account", {"Name": "Acme Rockets"})
    opp = sb.sf_create("Opportunity", {"Name": "Rockets", "StageName": "Prospecting",
                                       "CloseDate": date.today().isoformat(), "AccountId": acct})
    sb.sf_create("OpportunityLineItem", {"OpportunityId": opp, "Product2Id": product, "Quantity": 3,
                                         "UnitPrice": 10})
    sb.sf_update("Opportunity", opp, {"StageName": "Closed Won"})
    run = start_run(config, tmp_path)
    row = wait_for(run, "the NetSuite sales order", lambda: one(sb.suiteql(
        f"SELECT id FROM transaction WHERE type = 'SalesOrd' AND externalid = '{opp}'")))
    stop_cleanly(run)
    order = sb.ns_get("salesOrder", row["id"])
    customer = sb.sf_get("Account", acct)["NetSuite_Id__c"]
    assert customer and order["entity"]["id"] == customer
    lines = [(ln["item"]["id"], ln["quantity"], ln["rate"]) for ln in order["item"]["items"]]
    assert lines == [(item, 3, 10)]
    assert sb.sf_get("Opportunity", opp)["NetSuite_Order_Id__c"] == order["id"]  # written back


# -- stopping ---------------------------------------------------------------------------------------

def test_sigterm_also_finishes_the_pass_and_exits_cleanly(
        sb: Sandboxes, tmp_path: Path, start_run: Starter) -> None:
    config = init(sb, "accounts-customers", tmp_path)
    acct = sb.sf_create("Account", {"Name": "Term Corp"})
    run = start_run(config, tmp_path)
    wait_for(run, "the NetSuite customer", lambda: one(sb.suiteql(
        f"SELECT id FROM customer WHERE externalid = '{acct}'")))
    stop_cleanly(run, signal.SIGTERM)

"""The demo as a user starts it: it syncs on its own, serves the dashboard and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx2
import pytest

from ledgerbridge_sandbox.netsuite.config import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_TOKEN_ID,
    DEFAULT_TOKEN_SECRET,
)
from ledgerbridge_sandbox.netsuite.testing import TBAAuth
from ledgerbridge_sandbox.salesforce.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
)
from ledgerbridge_sandbox.serve import free_port


def _overview(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/overview", timeout=5) as r:
            data = json.loads(r.read())
    except OSError:
        return None
    return data if isinstance(data, dict) else None


def _close_a_deal(sf_port: int) -> str:
    """Close an open opportunity with lines as a sales rep would (REST PATCH); return its id.

    The smallest such deal: the largest ones exceed their customers' credit limits, and the
    quote-to-cash preflight rightly holds those as reviews instead of creating an order."""
    base = f"http://127.0.0.1:{sf_port}"
    token = httpx2.post(f"{base}/services/oauth2/token", data={
        "grant_type": "password", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET,
        "username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD + DEFAULT_SECURITY_TOKEN}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    q = ("SELECT Id FROM Opportunity WHERE IsClosed = false AND HasOpportunityLineItem = true "
         "ORDER BY Amount ASC LIMIT 1")
    opp = httpx2.get(f"{base}/services/data/v62.0/query", params={"q": q}, headers=headers).json()
    opp_id = str(opp["records"][0]["Id"])
    r = httpx2.patch(f"{base}/services/data/v62.0/sobjects/Opportunity/{opp_id}",
                     json={"StageName": "Closed Won"}, headers=headers)
    assert r.status_code == 204, r.text
    return opp_id


def _sales_orders(ns_port: int, where: str = "") -> list[dict[str, object]]:
    """Sales orders in the NetSuite sandbox whose externalId is a Salesforce opportunity id."""
    auth = TBAAuth(DEFAULT_ACCOUNT_ID, DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET, DEFAULT_TOKEN_ID,
                   DEFAULT_TOKEN_SECRET)
    try:
        r = httpx2.post(f"http://127.0.0.1:{ns_port}/services/rest/query/v1/suiteql",
                        json={"q": f"SELECT id, externalid FROM transaction WHERE type = 'SalesOrd'{where}"},
                        headers={"Prefer": "transient"}, auth=auth, timeout=10)
    except httpx2.HTTPError:
        return []
    if r.status_code != 200:
        return []
    return [i for i in r.json().get("items", []) if str(i.get("externalid", "")).startswith("006")]


@pytest.mark.slow
def test_demo_syncs_serves_the_dashboard_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("ledgerbridge")
    port, sf_port, ns_port = free_port(), free_port(), free_port()
    log = (tmp_path / "demo.log").open("w")  # a file, not a pipe: a full pipe would stall the demo
    proc = subprocess.Popen(
        [str(exe), "demo", "--dir", str(tmp_path), "--port", str(port), "--sf-port", str(sf_port),
         "--ns-port", str(ns_port), "--no-simulator"],
        stdout=log, stderr=subprocess.STDOUT, text=True)
    synced, orders = 0, []
    try:
        deadline = time.monotonic() + 100
        while time.monotonic() < deadline and proc.poll() is None:
            overview = _overview(port)
            links = overview.get("links", []) if overview else []
            synced = sum(int(link.get("n_synced", 0)) for link in links if isinstance(link, dict))
            orders = _sales_orders(ns_port) if synced else []
            if orders:
                break
            time.sleep(2)
        tail = (tmp_path / "demo.log").read_text()[-3000:]
        assert proc.poll() is None, f"the demo exited early:\n{tail}"
        assert synced > 0, f"nothing was synced in time:\n{tail}"
        assert orders, f"no won opportunity became a NetSuite sales order in time:\n{tail}"

        # Real time: a deal closed now becomes a sales order in seconds (CDC push), not minutes.
        opp_id = _close_a_deal(sf_port)
        started = time.monotonic()
        pushed: list[dict[str, object]] = []
        while time.monotonic() - started < 30 and not pushed:
            pushed = _sales_orders(ns_port, f" AND externalid = '{opp_id}'")
            time.sleep(0.2)
        took = time.monotonic() - started
        assert pushed, f"the closed deal {opp_id} did not become a sales order within 30 s"
        print(f"closed deal -> NetSuite sales order in {took:.1f} s")
        assert (tmp_path / "ledgerbridge.yaml").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    for p in (port, sf_port, ns_port):  # the dashboard and both sandboxes are gone
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", p)) != 0, f"port {p} still served after the demo stopped"

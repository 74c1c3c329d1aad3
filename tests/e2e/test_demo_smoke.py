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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _overview(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/overview", timeout=5) as r:
            data = json.loads(r.read())
    except OSError:
        return None
    return data if isinstance(data, dict) else None


def _sales_orders(ns_port: int) -> list[dict[str, object]]:
    """Sales orders in the NetSuite sandbox whose externalId is a Salesforce opportunity id."""
    auth = TBAAuth(DEFAULT_ACCOUNT_ID, DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET, DEFAULT_TOKEN_ID,
                   DEFAULT_TOKEN_SECRET)
    try:
        r = httpx2.post(f"http://127.0.0.1:{ns_port}/services/rest/query/v1/suiteql",
                        json={"q": "SELECT id, externalid FROM transaction WHERE type = 'SalesOrd'"},
                        headers={"Prefer": "transient"}, auth=auth, timeout=10)
    except httpx2.HTTPError:
        return []
    if r.status_code != 200:
        return []
    return [i for i in r.json().get("items", []) if str(i.get("externalid", "")).startswith("006")]


@pytest.mark.slow
def test_demo_syncs_serves_the_dashboard_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("ledgerbridge")
    port, sf_port, ns_port = _free_port(), _free_port(), _free_port()
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

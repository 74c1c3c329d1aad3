"""``python -m ledgerbridge_sandbox netsuite``: the JSON ready line, data files, TLS, and ``build_server``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

from ledgerbridge_sandbox.netsuite.cli import build_server, parse_args
from ledgerbridge_sandbox.netsuite.testing import TBAAuth
from ledgerbridge_sandbox.tls import client_ssl_context

REQUIRED_KEYS = {
    "base_url",
    "account_id",
    "consumer_key",
    "consumer_secret",
    "token_id",
    "token_secret",
    "oauth2_client_id",
    "oauth2_certificate_id",
    "oauth2_private_key_file",
}


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge_sandbox", "netsuite", "--port", "0", "--json", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(proc.stderr.read() if proc.stderr else "no output")
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.timeout(120)
def test_cli_prints_connection_details_first_and_serves(tmp_path: Path) -> None:
    data = tmp_path / "ns.db"
    proc, info = _start(
        ["--seed", "empty", "--data", str(data), "--account-id", "1234567_SB1", "--concurrency", "15"],
        tmp_path,
    )
    try:
        assert set(info) >= REQUIRED_KEYS
        assert info["account_id"] == "1234567_SB1" and info["base_url"].startswith("http://127.0.0.1:")
        assert Path(info["oauth2_private_key_file"]).exists()
        with httpx2.Client(
            base_url=info["base_url"] + "/services/rest", auth=TBAAuth.from_info(info), trust_env=False
        ) as client:
            assert client.get("/system/v1/governanceLimits").json()["accountConcurrencyLimit"] == 15
            r = client.post("/record/v1/customer", json={"companyName": "Kept Co", "subsidiary": {"id": "2"}})
            assert r.status_code == 204
            assert r.headers["location"].startswith(info["base_url"] + "/services/rest/record/v1/customer/")
    finally:
        _stop(proc)
    proc, info = _start(["--data", str(data), "--account-id", "1234567_SB1"], tmp_path)
    try:
        with httpx2.Client(
            base_url=info["base_url"] + "/services/rest", auth=TBAAuth.from_info(info), trust_env=False
        ) as client:
            r = client.post(
                "/query/v1/suiteql",
                json={"q": "SELECT companyname FROM customer"},
                headers={"Prefer": "transient"},
            )
            assert [i["companyname"] for i in r.json()["items"]] == ["Kept Co"]
    finally:
        _stop(proc)


@pytest.mark.timeout(120)
def test_cli_tls(tmp_path: Path) -> None:
    proc, info = _start(["--seed", "empty", "--tls"], tmp_path)
    try:
        assert info["base_url"].startswith("https://") and Path(info["ca_file"]).exists()
        with httpx2.Client(
            base_url=info["base_url"] + "/services/rest",
            auth=TBAAuth.from_info(info),
            verify=client_ssl_context(Path(info["ca_file"])),
            trust_env=False,
        ) as client:
            assert client.get("/record/v1/currency/1").json()["symbol"] == "USD"
    finally:
        _stop(proc)


def test_build_server_for_a_combined_launcher(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    server = build_server(parse_args(["--seed", "empty", "--port", "0", "--latency-ms", "realistic"]))
    assert server.port == 0 and server.tls is None and server.host == "127.0.0.1"
    info = server.info(8799)
    assert info["base_url"] == "http://127.0.0.1:8799"
    assert set(info) >= REQUIRED_KEYS
    assert server.app.state.sandbox.config.latency_write_ms == (300.0, 800.0)

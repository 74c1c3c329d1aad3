"""The command line, persistence in a data file, and the seeds."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from ledgerbridge_sandbox.salesforce import ManualClock, SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.cli import build_server, human_text
from ledgerbridge_sandbox.salesforce.state import SandboxState
from ledgerbridge_sandbox.salesforce.testing import SalesforceSandbox

REQUIRED_INFO = {
    "instance_url",
    "login_url",
    "api_version",
    "client_id",
    "client_secret",
    "username",
    "password",
    "security_token",
    "access_token",
    "jwt_private_key_file",
}


def test_cli_prints_one_json_line_first_when_ready(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ledgerbridge_sandbox",
            "salesforce",
            "--port",
            "0",
            "--json",
            "--tls",
            "--seed",
            "empty",
            "--data",
            str(tmp_path / "org.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert REQUIRED_INFO | {"ca_file"} <= set(info)
        assert info["instance_url"].startswith("https://127.0.0.1:") and info["api_version"] == "62.0"
        with httpx2.Client(
            verify=ssl.create_default_context(cafile=info["ca_file"]), trust_env=False
        ) as client:
            r = client.get(
                f"{info['instance_url']}/services/data/v62.0/limits",
                headers={"Authorization": f"Bearer {info['access_token']}"},
            )
            assert r.status_code == 200 and r.headers["sforce-limit-info"].startswith("api-usage=1/")
        assert Path(info["jwt_private_key_file"]).exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_build_server_for_a_combined_runner() -> None:
    spec = build_server(["--port", "0", "--seed", "empty", "--api-allocation", "500", "--latency-ms", "0"])
    assert spec.port == 0 and spec.tls is None and spec.host == "127.0.0.1"
    info = spec.info_fn(8701)
    assert info["instance_url"] == "http://127.0.0.1:8701" and set(info) >= REQUIRED_INFO
    assert spec.app.state.sandbox.org.usage.allocation == 500
    assert "Access token" in human_text(info)


def test_org_survives_a_restart_with_a_data_file(tmp_path: Path) -> None:
    path = str(tmp_path / "org.db")
    first = SandboxState(SalesforceSandboxConfig(data=path, seed="empty"))
    token = first.default_token()
    ctx = first.org.system_context()
    rid = first.org.create(ctx, "Account", {"Name": "Persistent"})
    replay = first.org.changes.latest_replay_id()
    user_id = first.org.user_id
    first.org.store.close()
    second = SandboxState(SalesforceSandboxConfig(data=path, seed="demo"))
    assert second.org.store.count("Account") == 1  # not re-seeded
    assert second.org.get_live("Account", rid)["Name"] == "Persistent"  # type: ignore[index]
    assert second.default_token() == token and second.sessions.user_of(token) == user_id
    assert second.org.changes.latest_replay_id() == replay
    assert second.jwt_keys == first.jwt_keys
    later = second.org.create(second.org.system_context(), "Account", {"Name": "Later"})
    assert later != rid


def test_demo_seed_describes_the_shared_company() -> None:
    from ledgerbridge_sandbox.company import build_company

    state = SandboxState(SalesforceSandboxConfig(seed="demo", clock=ManualClock()))
    org = state.org
    counts = {
        t: org.store.count(t) for t in ("Account", "Contact", "Lead", "Opportunity", "Product2", "Pricebook2")
    }
    assert counts == {
        "Account": 200,
        "Contact": 400,
        "Lead": 150,
        "Opportunity": 300,
        "Product2": 150,
        "Pricebook2": 3,
    }
    company = build_company(42, 200, 150, 150)
    names = {r["Name"] for r in org.live("Account")}
    assert names == {c.name for c in company.companies}
    assert {r["Email"] for r in org.live("Lead")} == {lead.email for lead in company.leads}
    assert all(r.get("Lead_Score__c") is not None for r in org.live("Lead"))
    assert not any(
        r.get("NetSuite_Id__c")
        for t in ("Account", "Contact", "Product2", "Opportunity", "Lead")
        for r in org.live(t)
    )
    stages = {r["StageName"] for r in org.live("Opportunity")}
    assert stages == set(org.schema.stages)
    books = {r["Name"] for r in org.live("Pricebook2")}
    assert books == {"Standard Price Book", "Partner", "Enterprise"}
    cs = [u for u in org.live("User") if u.get("Title") == "Customer Success Manager"]
    assert cs and all(u.get("UserRoleId") for u in cs)
    with_lines = [o for o in org.live("Opportunity") if o.get("HasOpportunityLineItem")]
    for opp in with_lines[:20]:
        lines = org.children("OpportunityLineItem", "OpportunityId", opp["Id"])
        assert round(sum(x["TotalPrice"] for x in lines), 2) == opp["Amount"]
    again = SandboxState(SalesforceSandboxConfig(seed="demo", clock=ManualClock()))
    assert sorted(r["Id"] for r in again.org.live("Opportunity")) == sorted(
        r["Id"] for r in org.live("Opportunity")
    )


def test_scale_seed_is_fast() -> None:
    start = time.perf_counter()
    state = SandboxState(SalesforceSandboxConfig(seed="demo", scale=2000))
    assert time.perf_counter() - start < 10
    assert state.org.store.count("Account") == 2000 and state.org.store.count("Opportunity") == 3000


def test_in_process_helper_runs_functions_on_the_server_loop() -> None:
    with SalesforceSandbox(SalesforceSandboxConfig(seed="empty")) as sf:
        assert set(sf.info) >= REQUIRED_INFO
        count = sf.call(lambda state: state.org.store.count("User"))
        assert count == 1
        with httpx2.Client(base_url=sf.api_url, headers={"Authorization": f"Bearer {sf.token}"}) as client:
            assert client.get("/limits").status_code == 200


@pytest.mark.parametrize("flag", ["--help"])
def test_cli_help(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    from ledgerbridge_sandbox.salesforce.cli import main

    with pytest.raises(SystemExit):
        main([flag])
    assert "--api-allocation" in capsys.readouterr().out

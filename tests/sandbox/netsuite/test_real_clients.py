"""Real third-party clients against the sandbox.

1. The ``netsuite`` PyPI package (0.12.0, its ``NetSuiteRestApi`` with ``TokenAuth``, authlib
   HMAC-SHA256 signing with ``oauth_body_hash``). It pins httpx<0.28 and oauthlib<4, which clash with
   this project's environment, so it lives in its own virtualenv, ``.venv-netsuite-client/`` at the
   repository root, created once (``pip install netsuite==0.12.0``) and reused; the calls run in a
   subprocess against a sandbox on a real loopback socket.
2. oauthlib's ``Client`` (SIGNATURE_HMAC_SHA256, realm) signing the same calls over httpx2, in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import oauthlib.oauth1
import pytest

from ledgerbridge_sandbox.netsuite import NetSuiteSandboxConfig, create_app
from ledgerbridge_sandbox.netsuite.testing import NetSuiteSandbox

REPO = Path(__file__).resolve().parents[3]
CLIENT_VENV = REPO / ".venv-netsuite-client"
CLIENT_SCRIPT = Path(__file__).with_name("netsuite_pypi_client.py")


def _client_python() -> Path:
    python = CLIENT_VENV / "bin" / "python"
    marker = CLIENT_VENV / ".netsuite-0.12.0-installed"
    if marker.exists() and python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(CLIENT_VENV)], check=True)
    result = subprocess.run(
        [str(CLIENT_VENV / "bin" / "pip"), "install", "-q", "netsuite==0.12.0"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot install netsuite==0.12.0 into {CLIENT_VENV.name}: {result.stderr[-400:]}")
    marker.write_text("ok\n")
    return python


@pytest.mark.timeout(600)
def test_netsuite_pypi_client_against_running_sandbox() -> None:
    python = _client_python()
    config = NetSuiteSandboxConfig(account_id="1234567_SB1")
    with NetSuiteSandbox(config, seed="empty") as sandbox:
        for n in range(3):
            with sandbox.client() as client:
                body = {"companyName": f"Seed Co {n}", "subsidiary": {"id": "2"}}
                r = client.post("/record/v1/customer", json=body)
                assert r.status_code == 204
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["NO_PROXY"] = "127.0.0.1,localhost"
        proc = subprocess.run(
            [str(python), str(CLIENT_SCRIPT), json.dumps(sandbox.info)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        log = sandbox.requests()
        url = sandbox.url
    assert out["create_status"] == 204
    assert out["location"].startswith(f"{url}/services/rest/record/v1/customer/")
    assert out["get"]["companyName"] == "PyPI Client Co"
    assert out["get"]["subsidiary"]["refName"].endswith("Northstar US")
    assert out["patch"] is None
    assert out["after_patch"]["phone"] == "+1 512 555 0100"
    assert set(out["after_patch"]) == {"links", "id", "phone", "companyName"}
    assert out["put_create"] is None and out["put_update"] is None
    assert out["upserted"]["externalId"] == "SF-PYPI-001"
    assert out["upserted"]["email"] == "up@pypi.example"
    assert [i["id"] for i in out["list"]["items"]] == [out["get"]["id"]]
    assert out["page1"]["count"] == 2 and out["page1"]["hasMore"] is True
    assert out["page1"]["totalResults"] == 5
    assert out["page2"]["offset"] == 2
    assert {r["companyname"] for r in out["page1"]["items"] + out["page2"]["items"]} >= {
        "Seed Co 0",
        "Seed Co 1",
    }
    assert all(r["links"] == [] and isinstance(r["id"], str) for r in out["page1"]["items"])
    assert out["openapi_paths"] == ["/customer", "/customer/{id}", "/salesOrder", "/salesOrder/{id}"]
    assert out["jsonschema_title"] == "customer"
    assert out["delete"] is None
    assert "404" in out["after_delete"]
    statuses = {(row["method"], row["status"]) for row in log["counts"]}
    assert ("PUT", 204) in statuses and ("DELETE", 204) in statuses and ("POST", 200) in statuses


class OAuthlibSigner(httpx2.Auth):
    """oauthlib's own OAuth 1.0a client, HMAC-SHA256 with realm (independent of the sandbox code)."""

    def __init__(self, cfg: NetSuiteSandboxConfig) -> None:
        self.cfg = cfg

    def auth_flow(self, request: httpx2.Request) -> Any:
        client = oauthlib.oauth1.Client(
            self.cfg.consumer_key,
            client_secret=self.cfg.consumer_secret,
            resource_owner_key=self.cfg.token_id,
            resource_owner_secret=self.cfg.token_secret,
            signature_method=oauthlib.oauth1.SIGNATURE_HMAC_SHA256,
            realm=self.cfg.account_id,
            timestamp=str(int(self.cfg.clock.now().timestamp())),
        )
        _, headers, _ = client.sign(str(request.url), request.method)
        request.headers["Authorization"] = headers["Authorization"]
        yield request


@pytest.mark.anyio
async def test_oauthlib_signed_calls_in_process(clock: Any) -> None:
    config = NetSuiteSandboxConfig(account_id="7654321_SB2", clock=clock)
    app = create_app(config)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(
        transport=transport,
        base_url="https://7654321-sb2.suitetalk.api.netsuite.com",
        auth=OAuthlibSigner(config),
    ) as c:
        rest = "/services/rest/record/v1"
        r = await c.post(f"{rest}/customer", json={"companyname": "Signed Co", "subsidiary": {"id": 2}})
        assert r.status_code == 204
        location = r.headers["location"]
        assert location.startswith(
            "https://7654321-sb2.suitetalk.api.netsuite.com/services/rest/record/v1/customer/"
        )
        cid = location.rsplit("/", 1)[1]
        assert (await c.get(f"{rest}/customer/{cid}")).json()["companyName"] == "Signed Co"
        assert (await c.patch(f"{rest}/customer/{cid}", json={"email": "a@b.example"})).status_code == 204
        assert (
            await c.put(
                f"{rest}/customer/eid:OAUTHLIB-1", json={"companyName": "Up Co", "subsidiary": {"id": "2"}}
            )
        ).status_code == 204
        r = await c.get(f"{rest}/customer", params={"q": 'email IS "a@b.example"', "limit": 5})
        assert [i["id"] for i in r.json()["items"]] == [cid]
        rows = []
        for offset in (0, 1):
            r = await c.post(
                "/services/rest/query/v1/suiteql",
                params={"limit": 1, "offset": offset},
                headers={"Prefer": "transient"},
                json={
                    "q": "SELECT companyname FROM customer WHERE companyname LIKE ? ORDER BY id",
                    "params": ["%Co"],
                },
            )
            assert r.status_code == 200, r.text
            rows += r.json()["items"]
        assert [row["companyname"] for row in rows] == ["Signed Co", "Up Co"]
        assert (await c.delete(f"{rest}/customer/{cid}")).status_code == 204
        assert (await c.get(f"{rest}/customer/{cid}")).status_code == 404

"""Runs the NetSuite User Event script's own test suite (``node --test``) from pytest.

The script is JavaScript that NetSuite runs; its tests load it under Node with stand-ins for the
``N/*`` modules. Node is needed: without it the test is skipped on a developer machine and fails
under ``CI=true``, like every other service the suite depends on. A second test feeds what the
script actually sends into the Python receiver (``ledgerbridge.app.webhooks``): both sides of the
signature contract are checked against each other, not each against itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from pydantic import SecretStr

from ledgerbridge.app.webhooks import create_webhook_app
from ledgerbridge.core.records import Change, ChangeKind, System

ROOT = Path(__file__).resolve().parents[2]
SCRIPT_TESTS = ROOT / "integrations" / "netsuite" / "tests"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("CI=true and Node.js is missing: the NetSuite script tests need `node` (>= 20)",
                        pytrace=False)
        pytest.skip("needs Node.js (>= 20) on PATH to run the NetSuite script tests")
    return node


def test_netsuite_user_event_script_suite_passes() -> None:
    node = _node()
    result = subprocess.run(
        [node, "--test", str(SCRIPT_TESTS)], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"node --test failed:\n{result.stdout}\n{result.stderr}"
    assert "# fail 0" in result.stdout


@pytest.mark.anyio
@pytest.mark.parametrize(("ss_type", "event", "rest_type", "kind"), [
    ("salesorder", "edit", "salesOrder", ChangeKind.UPSERT),
    ("customer", "delete", "customer", ChangeKind.DELETE),
])
async def test_what_the_script_sends_is_what_the_receiver_accepts(
    ss_type: str, event: str, rest_type: str, kind: ChangeKind,
) -> None:
    node = _node()
    now = datetime(2024, 6, 3, 9, 0, 7, tzinfo=UTC)
    secret = "whsec-shared-between-netsuite-and-ledgerbridge"
    result = subprocess.run(
        [node, str(SCRIPT_TESTS / "emit.js"), secret, ss_type, "4711", event,
         str(int(now.timestamp() * 1000))],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    (post,) = json.loads(result.stdout)["posts"]

    queued: list[Change] = []
    app = create_webhook_app(SecretStr(secret), queued.append, clock=_FixedClock(now))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://ledgerbridge.test") as client:
        response = await client.post("/webhooks/netsuite", content=post["body"].encode(),
                                     headers=post["headers"])

    assert response.status_code == 202, response.text
    assert queued == [Change(system=System.NETSUITE, object=rest_type, id="4711", kind=kind, source="push",
                             at=now)]


class _FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

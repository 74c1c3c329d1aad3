"""Runs the NetSuite User Event script's own test suite (``node --test``) from pytest.

The script is JavaScript that NetSuite runs; its tests load it under Node with stand-ins for the
``N/*`` modules. Node is needed: without it the test is skipped on a developer machine and fails
under ``CI=true``, like every other service the suite depends on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

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

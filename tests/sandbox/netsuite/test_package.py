"""Package boundaries: the NetSuite sandbox imports nothing from the product and exports its entry points."""

from __future__ import annotations

import ast
from pathlib import Path

import ledgerbridge_sandbox.netsuite as package


def test_sandbox_never_imports_the_product() -> None:
    root = Path(package.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n == "ledgerbridge" or n.startswith("ledgerbridge.")
            ]
    assert offenders == []


def test_public_names() -> None:
    assert set(package.__all__) == {
        "DEFAULT_ACCOUNT_ID",
        "DEFAULT_CONSUMER_KEY",
        "DEFAULT_CONSUMER_SECRET",
        "DEFAULT_OAUTH2_CERTIFICATE_ID",
        "DEFAULT_OAUTH2_CLIENT_ID",
        "DEFAULT_TOKEN_ID",
        "DEFAULT_TOKEN_SECRET",
        "ManualClock",
        "NetSuiteSandboxConfig",
        "SystemClock",
        "create_app",
    }
    assert package.DEFAULT_ACCOUNT_ID == "1234567"

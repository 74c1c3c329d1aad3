"""`config validate --online` checks every mapping against what both systems describe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledgerbridge.app.sandboxes import SandboxProcess, start_sandbox
from ledgerbridge.app.templates import render
from ledgerbridge.cli.main import app


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[SandboxProcess]:
    proc = start_sandbox("up", ["--sf-port", "0", "--ns-port", "0", "--seed", "empty"], timeout_s=120)
    try:
        yield proc
    finally:
        assert proc.stop() == 0


def _config(tmp_path: Path, sandboxes: SandboxProcess, broken: bool = False) -> Path:
    sf, ns = sandboxes.info["salesforce"], sandboxes.info["netsuite"]
    assert isinstance(sf, dict) and isinstance(ns, dict)
    text = render("accounts-customers", sandbox=True, salesforce_url=str(sf["instance_url"]),
                  netsuite_url=str(ns["base_url"]), state_url=f"sqlite:///{tmp_path}/state.db")
    if broken:
        text = text.replace("netsuite: companyName,", "netsuite: companyNam,", 1)
    path = tmp_path / "ledgerbridge.yaml"
    path.write_text(text)
    return path


def test_online_validation_accepts_the_template(tmp_path: Path, sandboxes: SandboxProcess) -> None:
    path = _config(tmp_path, sandboxes)
    result = CliRunner().invoke(app, ["config", "validate", "--online", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert "every mapping fits" in result.output


def test_online_validation_names_the_unknown_field_and_its_line(tmp_path: Path,
                                                               sandboxes: SandboxProcess) -> None:
    path = _config(tmp_path, sandboxes, broken=True)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "companyNam," in text)
    result = CliRunner().invoke(app, ["config", "validate", "--online", "-c", str(path)])
    assert result.exit_code == 2, result.output
    assert f"ledgerbridge.yaml:{line}:" in result.output
    assert "no field 'companyNam'" in result.output

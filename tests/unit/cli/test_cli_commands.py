"""The ``ledgerbridge`` command: version, config validate, config schema, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ledgerbridge.cli.main import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("ledgerbridge ")


def test_config_validate_ok(tmp_path: Path) -> None:
    cfg = tmp_path / "ledgerbridge.yaml"
    cfg.write_text("state:\n  url: sqlite:///state.db\n")
    result = runner.invoke(app, ["config", "validate", "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.stdout


def test_config_validate_reports_problems_with_exit_code_2(tmp_path: Path) -> None:
    cfg = tmp_path / "ledgerbridge.yaml"
    cfg.write_text("state:\n  url: sqlite:///state.db\n  bogus: 1\n")
    result = runner.invoke(app, ["config", "validate", "-c", str(cfg)])
    assert result.exit_code == 2
    assert "3:3" in result.output and "unknown key 'bogus'" in result.output


def test_config_validate_warns_about_inline_secret_without_printing_it(tmp_path: Path) -> None:
    cfg = tmp_path / "ledgerbridge.yaml"
    cfg.write_text("connections:\n  netsuite:\n    account_id: '1234567'\n    auth:\n      mode: tba\n"
                   "      consumer_key: ck\n      consumer_secret: topsecretvalue\n      token_id: t\n"
                   "      token_secret: ${TS:-x}\n")
    result = runner.invoke(app, ["config", "validate", "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "topsecretvalue" not in result.output


def test_config_schema_is_json() -> None:
    result = runner.invoke(app, ["config", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "connections" in schema["properties"]


def test_bad_log_format_is_a_usage_error() -> None:
    result = runner.invoke(app, ["--log-format", "xml", "config", "schema"])
    assert result.exit_code == 2

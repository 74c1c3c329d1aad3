from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledgerbridge.app.config import validate_config_file
from ledgerbridge.app.templates import check_rendering, get_template, list_templates, render
from ledgerbridge.cli.main import app
from ledgerbridge.core.errors import ConfigError

NAMES = [t.name for t in list_templates()]
ENV = {"SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret", "NS_ACCOUNT_ID": "1234567_SB1",
       "NS_CONSUMER_KEY": "ck", "NS_CONSUMER_SECRET": "cs", "NS_TOKEN_ID": "ti", "NS_TOKEN_SECRET": "ts"}


def test_the_shipped_templates_each_have_a_description():
    assert set(NAMES) >= {"accounts-customers", "catalog-pricing", "lead-to-prospect", "invoice-status",
                          "pipeline-forecast"}
    assert all(t.description for t in list_templates())


@pytest.mark.parametrize("name", NAMES)
def test_a_sandbox_rendering_validates_and_points_at_the_local_sandboxes(name):
    text = render(name, sandbox=True)
    check_rendering(text, env={})
    assert "http://127.0.0.1:8701" in text and "http://127.0.0.1:8702" in text
    assert 'account_id: "1234567"' in text


@pytest.mark.parametrize("name", NAMES)
def test_a_placeholder_rendering_holds_no_secret_and_validates_once_the_environment_is_set(name):
    text = render(name, sandbox=False)
    assert "sandbox-password" not in text and "${SF_CLIENT_SECRET}" in text
    check_rendering(text, env=ENV)
    with pytest.raises(ConfigError, match="SF_CLIENT_SECRET"):
        check_rendering(text, env={})


def test_an_unknown_template_names_the_known_ones():
    with pytest.raises(ConfigError, match="accounts-customers"):
        get_template("nope")


def test_init_writes_a_valid_file_and_refuses_to_overwrite_without_force(tmp_path: Path):
    out = tmp_path / "lb.yaml"
    runner = CliRunner()
    first = runner.invoke(app, ["init", "--template", "accounts-customers", "--sandbox", "-o", str(out)])
    assert first.exit_code == 0, first.output
    loaded = validate_config_file(out, env={})
    assert set(loaded.config.links) == {"accounts", "contacts"}
    assert loaded.warnings == ()
    validated = runner.invoke(app, ["config", "validate", "-c", str(out)])
    assert validated.exit_code == 0, validated.output
    out.write_text("mine", encoding="utf-8")
    again = runner.invoke(app, ["init", "--template", "catalog-pricing", "--sandbox", "-o", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    assert out.read_text(encoding="utf-8") == "mine"
    forced = runner.invoke(app, ["init", "-t", "catalog-pricing", "--sandbox", "--force", "-o", str(out)])
    assert forced.exit_code == 0, forced.output
    assert set(validate_config_file(out, env={}).config.links) == {"items", "non_inventory_items",
                                                                    "service_items"}


def test_init_list_shows_every_template_with_its_description():
    result = CliRunner().invoke(app, ["init", "--list"])
    assert result.exit_code == 0
    for t in list_templates():
        assert t.name in result.output


def test_init_without_a_template_or_with_an_unknown_one_is_a_usage_error(tmp_path: Path):
    runner = CliRunner()
    assert runner.invoke(app, ["init", "-o", str(tmp_path / "a.yaml")]).exit_code == 2
    unknown = runner.invoke(app, ["init", "-t", "nope", "-o", str(tmp_path / "a.yaml")])
    assert unknown.exit_code == 2 and "accounts-customers" in unknown.output
    assert not (tmp_path / "a.yaml").exists()


def test_init_sandbox_ports_default_to_8701_8702_and_can_be_moved(tmp_path: Path):
    runner = CliRunner()
    default = tmp_path / "default.yaml"
    first = runner.invoke(app, ["init", "-t", "accounts-customers", "--sandbox", "-o", str(default)])
    assert first.exit_code == 0, first.output
    moved = tmp_path / "moved.yaml"
    result = runner.invoke(app, ["init", "-t", "quote-to-cash", "--sandbox", "--sf-port", "18701",
                                 "--ns-port", "18702", "-o", str(moved)])
    assert result.exit_code == 0, result.output
    assert "18701/18702" in result.output
    for out, (sf, ns) in ((default, (8701, 8702)), (moved, (18701, 18702))):
        connections = validate_config_file(out, env={}).config.connections
        assert connections.salesforce.login_url == f"http://127.0.0.1:{sf}"
        assert connections.netsuite.base_url == f"http://127.0.0.1:{ns}"
    only_one = tmp_path / "one.yaml"
    assert runner.invoke(app, ["init", "-t", "catalog-pricing", "--sandbox", "--ns-port", "9999",
                               "-o", str(only_one)]).exit_code == 0
    text = only_one.read_text(encoding="utf-8")
    assert '"http://127.0.0.1:8701"' in text and '"http://127.0.0.1:9999"' in text


@pytest.mark.parametrize(("args", "message"), [
    (["--sf-port", "9000"], "--sf-port is for the local sandboxes only; add --sandbox"),
    (["--sf-port", "9000", "--ns-port", "9001"], "--sf-port and --ns-port are for the local sandboxes only"),
    (["--sandbox", "--sf-port", "0"], "--sf-port 0 is not a TCP port"),
    (["--sandbox", "--ns-port", "65536"], "--ns-port 65536 is not a TCP port"),
    (["--sandbox", "--ns-port", "port"], "--ns-port"),
])
def test_init_refuses_ports_without_sandbox_or_out_of_range_and_writes_nothing(tmp_path: Path, args, message):
    out = tmp_path / "lb.yaml"
    result = CliRunner().invoke(app, ["init", "-t", "accounts-customers", *args, "-o", str(out)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not out.exists()


def test_init_help_documents_the_sandbox_ports():
    result = CliRunner().invoke(app, ["init", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--sf-port" in result.output and "--ns-port" in result.output
    assert "(default 8701)" in result.output and "(default 8702)" in result.output

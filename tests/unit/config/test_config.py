"""The configuration loader: every bad-config case gets a precise, helpful error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ledgerbridge.app.config import config_schema, load_config, load_config_text
from ledgerbridge.core.errors import FlowSpecError

GOOD = """\
connections:
  salesforce:
    login_url: https://login.salesforce.com
    api_version: "62.0"
    auth:
      mode: jwt
      client_id: 3MVG9abc
      username: integration@example.com
      private_key_file: {key}
  netsuite:
    account_id: 1234567_SB1
    auth:
      mode: tba
      consumer_key: ${{NS_CONSUMER_KEY}}
      consumer_secret: ${{NS_CONSUMER_SECRET}}
      token_id: ${{NS_TOKEN_ID}}
      token_secret: ${{NS_TOKEN_SECRET}}
    concurrency: 3
state:
  url: sqlite:///.ledgerbridge/state.db
"""
ENV = {"NS_CONSUMER_KEY": "ck-value", "NS_CONSUMER_SECRET": "cs-value-123",
       "NS_TOKEN_ID": "tk-value", "NS_TOKEN_SECRET": "ts-value-456"}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    p = tmp_path / "sf.key"
    p.write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    return p


def _problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(FlowSpecError) as info:
        load_config_text(textwrap.dedent(text), source="ledgerbridge.yaml", env=env or {})
    return info.value.problems


def test_valid_config_loads_with_secrets_from_env_and_files(key_file: Path) -> None:
    loaded = load_config_text(GOOD.format(key=key_file), env=ENV)
    sf = loaded.config.connections.salesforce
    ns = loaded.config.connections.netsuite
    assert sf is not None and ns is not None
    assert sf.auth.mode == "jwt"
    assert sf.auth.private_key is not None  # type: ignore[union-attr]
    assert "BEGIN PRIVATE KEY" in sf.auth.private_key.get_secret_value()  # type: ignore[union-attr]
    assert ns.auth.token_secret.get_secret_value() == "ts-value-456"  # type: ignore[union-attr]
    assert ns.concurrency == 3
    assert loaded.warnings == ()
    # secrets never show in reprs
    assert "ts-value-456" not in repr(loaded.config)
    assert "ts-value-456" not in str(loaded.config.model_dump())


def test_unknown_key_names_line_key_and_expected_keys() -> None:
    problems = _problems("""\
        state:
          url: sqlite:///x.db
          pool: 5
        """)
    assert problems == ["ledgerbridge.yaml:3:3: unknown key 'pool' in state (expected one of: url)"]


def test_wrong_type_names_line_and_value() -> None:
    problems = _problems("""\
        connections:
          netsuite:
            account_id: "1234567"
            concurrency: many
            auth: {mode: tba, consumer_key: a, consumer_secret: b, token_id: c, token_secret: d}
        """)
    assert len(problems) == 1
    assert problems[0].startswith("ledgerbridge.yaml:4:5: connections.netsuite.concurrency:")
    assert "valid integer" in problems[0] and "'many'" in problems[0]


def test_missing_required_auth_field_is_named() -> None:
    problems = _problems("""\
        connections:
          salesforce:
            login_url: https://login.salesforce.com
            auth:
              mode: client_credentials
              client_id: abc
        """)
    assert len(problems) == 1
    assert problems[0].startswith("ledgerbridge.yaml:")
    assert "client_credentials" in problems[0]
    assert "client_secret (or client_secret_file)" in problems[0]


def test_unknown_auth_mode_lists_the_modes() -> None:
    problems = _problems("""\
        connections:
          salesforce:
            login_url: https://login.salesforce.com
            auth: {mode: saml}
        """)
    assert "mode must be one of" in problems[0] and "'jwt'" in problems[0] and "'saml'" in problems[0]


def test_unset_environment_variable_is_reported_with_line() -> None:
    problems = _problems("""\
        connections:
          netsuite:
            account_id: "1234567"
            auth:
              mode: tba
              consumer_key: ${NS_CK}
              consumer_secret: ${NS_CS:-fallback}
              token_id: t
              token_secret: ${NS_TS}
        """, env={"NS_CK": "x"})
    assert len(problems) == 1
    assert problems[0].startswith("ledgerbridge.yaml:9:7: connections.netsuite.auth.token_secret")
    assert "NS_TS" in problems[0] and "not set" in problems[0]


def test_inline_secret_loads_with_warning_that_never_shows_the_value() -> None:
    loaded = load_config_text(textwrap.dedent("""\
        connections:
          salesforce:
            instance_url: https://acme.my.salesforce.com
            auth:
              mode: password
              client_id: abc
              client_secret: s3cr3t-inline
              username: u@example.com
              password: ${SF_PASSWORD}
        """), source="ledgerbridge.yaml", env={"SF_PASSWORD": "pw-from-env"})
    assert len(loaded.warnings) == 1
    warning = loaded.warnings[0]
    assert warning.startswith("ledgerbridge.yaml:7:")
    assert "client_secret" in warning and "environment variable" in warning and "_file" in warning
    assert "s3cr3t-inline" not in warning


def test_bad_state_url_explains_accepted_forms() -> None:
    problems = _problems("state:\n  url: mysql://db/x\n")
    assert problems == ["ledgerbridge.yaml:2:3: state.url: state url must be sqlite:///path/to/state.db "
                        "or postgresql://user@host:5432/db, got 'mysql://db/x'"]


def test_postgres_state_url_is_accepted() -> None:
    loaded = load_config_text("state:\n  url: postgresql://app@127.0.0.1:5432/ledger\n", env={})
    assert loaded.config.state.url.startswith("postgresql://")


def test_malformed_yaml_reports_line_and_column() -> None:
    problems = _problems("connections:\n  salesforce: [\n    login_url: x\n")
    assert len(problems) == 1
    assert problems[0].startswith("ledgerbridge.yaml:") and "malformed YAML" in problems[0]


def test_all_problems_are_reported_at_once_in_line_order() -> None:
    problems = _problems("""\
        connections:
          netsuite:
            account_id: not-an-account
            concurrency: 0
            auth: {mode: tba, consumer_key: a, consumer_secret: b, token_id: c, token_secret: d}
        state:
          url: ftp://x
        extra: 1
        """)
    assert [p.split(":")[1] for p in problems] == ["3", "4", "7", "8"]


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(FlowSpecError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "file not found" in str(info.value) and "ledgerbridge init" in str(info.value)


def test_secret_file_that_is_missing_is_a_clear_error(tmp_path: Path) -> None:
    problems = _problems(f"""\
        connections:
          salesforce:
            login_url: https://login.salesforce.com
            auth:
              mode: client_credentials
              client_id: abc
              client_secret_file: {tmp_path}/absent
        """)
    assert "cannot read client_secret_file" in problems[0]


def test_schema_describes_connections_and_auth_modes() -> None:
    schema = config_schema()
    text = str(schema)
    assert schema["title"] == "LedgerBridge configuration"
    for word in ("SalesforceJwtAuth", "NetSuiteTbaAuth", "NetSuiteM2MAuth", "StateSpec"):
        assert word in text

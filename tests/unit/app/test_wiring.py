"""The composition root translates the YAML connection specs into connector settings faithfully."""

from __future__ import annotations

from pathlib import Path

from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.demo import demo_config_text
from ledgerbridge.app.wiring import netsuite_settings, salesforce_settings

SF = {"instance_url": "http://127.0.0.1:8701", "api_version": "62.0", "client_id": "cid",
      "client_secret": "csecret", "username": "u@example.com", "password": "pw", "security_token": "tok"}
NS = {"account_id": "1234567", "base_url": "http://127.0.0.1:8702", "consumer_key": "ck",
      "consumer_secret": "cs", "token_id": "ti", "token_secret": "ts"}


def test_demo_config_is_valid_and_maps_to_connector_settings(tmp_path: Path) -> None:
    text = demo_config_text(SF, NS, f"sqlite:///{tmp_path}/state.db")
    loaded = load_config_text(text, env={})
    assert loaded.warnings == ()
    cfg = loaded.config
    assert cfg.connections.salesforce is not None and cfg.connections.netsuite is not None
    sf = salesforce_settings(cfg.connections.salesforce, upsert_key_field="NetSuite_Id__c")
    assert sf.auth_mode == "password" and sf.login_url == "http://127.0.0.1:8701"
    assert sf.password is not None and sf.password.get_secret_value()
    assert sf.upsert_key_field == "NetSuite_Id__c"
    ns = netsuite_settings(cfg.connections.netsuite)
    assert ns.auth_mode == "tba" and ns.account_id == "1234567" and ns.base_url == "http://127.0.0.1:8702"
    assert ns.token_secret is not None and ns.token_secret.get_secret_value()
    assert {"accounts", "contacts", "items"} <= set(cfg.links)


def test_m2m_algorithm_and_key_file_reach_the_netsuite_settings(tmp_path: Path) -> None:
    key = tmp_path / "ns.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    cfg = load_config_text(f"""\
connections:
  netsuite:
    account_id: 1234567_SB1
    auth: {{mode: oauth2_m2m, client_id: c1, certificate_id: cert1, private_key_file: {key},
            algorithm: ES256}}
""", env={}).config
    assert cfg.connections.netsuite is not None
    ns = netsuite_settings(cfg.connections.netsuite)
    assert ns.auth_mode == "oauth2_m2m" and ns.jwt_algorithm == "ES256" and ns.certificate_id == "cert1"
    assert ns.private_key is not None and "BEGIN PRIVATE KEY" in ns.private_key.get_secret_value()
    assert "abc" not in repr(ns)

"""Push triggers in the configuration and how ``ledgerbridge run`` derives its push wiring from them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.realtime import cdc_target, cdc_topics, poll_interval_s, push_links
from ledgerbridge.engine.scheduler import next_fire
from ledgerbridge.flows.config import LedgerBridgeConfig, SalesforceCdcSpec, WebhookSpec
from ledgerbridge.flows.spec import TriggerSpec

LINKS = """\
links:
  accounts: {salesforce: Account, netsuite: customer, fields: [{salesforce: Name, netsuite: companyName}]}
  orders:
    salesforce: Opportunity
    netsuite: salesOrder
    direction: to_netsuite
    fields: [{salesforce: Name, netsuite: memo}]
    triggers: [{push: true}, {interval: 15m}]
  invoices:
    salesforce: Invoice__c
    netsuite: invoice
    direction: to_salesforce
    fields: [{salesforce: Name, netsuite: tranId}]
    triggers: [{push: true}]
  payments:
    salesforce: Payment__c
    netsuite: customerPayment
    fields: [{salesforce: Name, netsuite: tranId}]
  nightly:
    salesforce: Contact
    netsuite: contact
    fields: [{salesforce: LastName, netsuite: lastName}]
    triggers: [{cron: "0 2 * * *"}]
"""


def config(extra: str = "", env: dict[str, str] | None = None) -> LedgerBridgeConfig:
    return load_config_text(LINKS + extra, env=env or {}).config


def test_trigger_has_exactly_one_of_interval_cron_push() -> None:
    assert TriggerSpec.model_validate({"push": True}).push is True
    for bad in ({"push": False}, {"push": True, "interval": "5m"}, {}, {"cron": "* * * * *", "push": True}):
        with pytest.raises(ValidationError):
            TriggerSpec.model_validate(bad)
    with pytest.raises(ValueError, match="push"):
        next_fire(TriggerSpec(push=True), __import__("datetime").datetime(2026, 1, 1))


def test_without_realtime_nothing_is_pushed_and_polling_is_unchanged() -> None:
    cfg = config()
    assert cfg.realtime is None
    assert push_links(cfg) == [] and cdc_topics(cfg) == {}
    assert poll_interval_s(cfg, 60.0) == 60.0


def test_push_is_the_default_where_available_and_combines_with_timed_triggers() -> None:
    cfg = config('realtime:\n  webhook: {secret: "${HOOK_SECRET}", port: 0}\n  safety_net_interval: 10m\n',
                 env={"HOOK_SECRET": "s3cret"})
    assert cfg.realtime is not None and cfg.realtime.webhook is not None
    secret = cfg.realtime.webhook.secret
    assert secret is not None and secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(cfg.realtime)
    # nightly has only a cron trigger
    assert push_links(cfg) == ["accounts", "orders", "invoices", "payments"]
    # invoices flow NetSuite -> Salesforce only: no Salesforce channel for them
    assert cdc_topics(cfg) == {"/data/AccountChangeEvent": ["accounts"],
                               "/data/OpportunityChangeEvent": ["orders"],
                               "/data/Payment__ChangeEvent": ["payments"]}
    assert poll_interval_s(cfg, 60.0) == 600.0


def test_webhook_secret_is_required_and_may_come_from_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="secret"):
        WebhookSpec.model_validate({})
    secret = tmp_path / "hook"
    secret.write_text("from-file\n")
    spec = WebhookSpec.model_validate({"secret_file": str(secret)})
    assert spec.secret is not None and spec.secret.get_secret_value() == "from-file"
    with pytest.raises(ValidationError, match="path"):
        WebhookSpec.model_validate({"secret": "x", "path": "hooks"})


def test_cdc_target_from_endpoint_port_or_salesforce_default() -> None:
    assert cdc_target(SalesforceCdcSpec(), "https://acme.my.salesforce.com") == (
        "api.pubsub.salesforce.com:7443", True)
    assert cdc_target(SalesforceCdcSpec(port=8703), "http://127.0.0.1:8701") == ("127.0.0.1:8703", False)
    assert cdc_target(SalesforceCdcSpec(endpoint="pubsub.example:443", tls=True), "http://x") == (
        "pubsub.example:443", True)
    with pytest.raises(ValidationError):
        SalesforceCdcSpec(endpoint="a:1", port=2)

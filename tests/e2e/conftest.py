"""Shared fixtures for end-to-end tests: both sandboxes on real loopback sockets, reset per test.

``sandboxes`` (session) starts the Salesforce and NetSuite sandboxes once, empty and with zero
latency. ``systems`` (per test) resets both to ``empty``, clears their request logs and
validation rules, and hands out a :class:`Systems` with:

- plain REST clients acting as a person would: ``sf_create/sf_update/sf_get/sf_query`` through
  Salesforce's ``/services/data`` API (bearer token), ``ns_create/ns_update/ns_get/ns_customers``
  through SuiteTalk REST (TBA-signed);
- ``clear_logs()`` and ``writes()``: record and collection writes counted from both sandboxes'
  request logs (so a test can prove a pass wrote nothing, independently of the engine's counters);
- ``config(links, tmp_path)``: a loaded ``LedgerBridgeConfig`` for these sandboxes with the given
  ``links:`` YAML and a fresh SQLite state store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from ledgerbridge.app.config import load_config_text
from ledgerbridge.app.templates import render
from ledgerbridge.flows.config import LedgerBridgeConfig
from ledgerbridge_sandbox.netsuite.testing import NetSuiteSandbox
from ledgerbridge_sandbox.salesforce.config import SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.testing import SalesforceSandbox

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def sf_is_write(method: str, route: str) -> bool:
    """A Salesforce record or collection write: a non-GET call on sObject, composite or Bulk ingest
    routes (queries, logins and token requests are not writes)."""
    return method in WRITE_METHODS and any(
        part in route for part in ("/sobjects", "/composite", "/jobs/ingest"))


def ns_is_write(method: str, route: str) -> bool:
    """A NetSuite record write: a non-GET call on ``record/v1`` (SuiteQL is a POST but reads)."""
    return method in WRITE_METHODS and "/record/v1/" in route


def count_writes(log: dict[str, Any], is_write: Any) -> int:
    """Sum of the request-log rows (either sandbox's shape) that are writes."""
    rows = log.get("requests", log.get("counts", []))
    return sum(int(r["count"]) for r in rows if is_write(r["method"], r["route"]))


def connections_yaml(sf: dict[str, Any], ns: dict[str, Any], state_url: str) -> str:
    """The ``connections:`` and ``state:`` sections for sandboxes that reported ``sf`` and ``ns``."""
    return f"""\
connections:
  salesforce:
    instance_url: {sf["instance_url"]}
    api_version: "{sf.get("api_version", "62.0")}"
    auth:
      mode: password
      client_id: {sf["client_id"]}
      client_secret: {sf["client_secret"]}
      username: {sf["username"]}
      password: {sf["password"]}
      security_token: {sf.get("security_token", "")}
  netsuite:
    account_id: "{ns["account_id"]}"
    base_url: {ns["base_url"]}
    auth:
      mode: tba
      consumer_key: {ns["consumer_key"]}
      consumer_secret: {ns["consumer_secret"]}
      token_id: {ns["token_id"]}
      token_secret: {ns["token_secret"]}
    concurrency: 4
state:
  url: {state_url}
"""


class Systems:
    """Both running sandboxes, reached the way users and admins reach them."""

    def __init__(self, sf: SalesforceSandbox, ns: NetSuiteSandbox) -> None:
        self.sf, self.ns = sf, ns
        self.admin = httpx2.Client(timeout=30, trust_env=False)
        self.sf_rest = httpx2.Client(base_url=sf.api_url, timeout=30, trust_env=False)
        self.ns_rest = ns.client()

    def close(self) -> None:
        for client in (self.admin, self.sf_rest, self.ns_rest):
            client.close()

    def reset(self) -> None:
        """Both sandboxes empty, no validation rules, fresh session, empty request logs."""
        self.admin.post(f"{self.sf.url}/__sandbox__/reset", json={"seed": "empty"}).raise_for_status()
        self.admin.patch(f"{self.sf.url}/__sandbox__/config",
                         json={"validation_rules": []}).raise_for_status()
        self.ns.reset("empty")
        token = self.admin.post(f"{self.sf.url}/__sandbox__/tokens", json={}).json()["access_token"]
        self.sf_rest.headers["Authorization"] = f"Bearer {token}"
        self.clear_logs()

    # -- request logs -----------------------------------------------------------------------------
    def clear_logs(self) -> None:
        self.admin.delete(f"{self.sf.url}/__sandbox__/requests").raise_for_status()
        self.ns.admin("DELETE", "requests").raise_for_status()

    def sf_log(self) -> dict[str, Any]:
        return dict(self.admin.get(f"{self.sf.url}/__sandbox__/requests").json())

    def ns_log(self) -> dict[str, Any]:
        return self.ns.requests()

    def writes(self) -> dict[str, int]:
        """Record/collection write calls each sandbox has served since the logs were cleared."""
        return {"salesforce": count_writes(self.sf_log(), sf_is_write),
                "netsuite": count_writes(self.ns_log(), ns_is_write)}

    # -- Salesforce REST, as a person's tool would call it ----------------------------------------
    def sf_create(self, sobject: str, fields: dict[str, Any]) -> str:
        r = self.sf_rest.post(f"/sobjects/{sobject}", json=fields)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def sf_update(self, sobject: str, rid: str, fields: dict[str, Any]) -> None:
        r = self.sf_rest.patch(f"/sobjects/{sobject}/{rid}", json=fields)
        assert r.status_code == 204, r.text

    def sf_get(self, sobject: str, rid: str) -> dict[str, Any]:
        r = self.sf_rest.get(f"/sobjects/{sobject}/{rid}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def sf_query(self, soql: str) -> list[dict[str, Any]]:
        r = self.sf_rest.get("/query", params={"q": soql})
        assert r.status_code == 200, r.text
        return list(r.json()["records"])

    # -- NetSuite REST ------------------------------------------------------------------------------
    def ns_create(self, rtype: str, fields: dict[str, Any]) -> str:
        r = self.ns_rest.post(f"/record/v1/{rtype}", json=fields)
        assert r.status_code == 204, r.text
        return r.headers["location"].rsplit("/", 1)[-1]

    def ns_update(self, rtype: str, rid: str, fields: dict[str, Any]) -> None:
        r = self.ns_rest.patch(f"/record/v1/{rtype}/{rid}", json=fields)
        assert r.status_code == 204, r.text

    def ns_get(self, rtype: str, rid: str) -> dict[str, Any]:
        r = self.ns_rest.get(f"/record/v1/{rtype}/{rid}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def ns_customers(self) -> list[dict[str, Any]]:
        """Every customer, read through SuiteQL (id, companyname, externalid, url)."""
        r = self.ns_rest.post("/query/v1/suiteql", headers={"Prefer": "transient"},
                              json={"q": "SELECT id, companyname, externalid, url FROM customer ORDER BY id"})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    # -- configuration ------------------------------------------------------------------------------
    def config(self, links: str, tmp_path: Path) -> LedgerBridgeConfig:
        text = connections_yaml(self.sf.info, self.ns.info, f"sqlite:///{tmp_path / 'state.db'}") + links
        return load_config_text(text, env={}).config

    def template_text(self, name: str, tmp_path: Path, *, also: tuple[str, ...] = ()) -> str:
        """The template ``name`` as ``ledgerbridge init --template NAME --sandbox`` writes it, on
        these sandboxes' ports, with a fresh SQLite state store under ``tmp_path``."""
        return render(name, sandbox=True, salesforce_url=self.sf.url, netsuite_url=self.ns.url,
                      state_url=f"sqlite:///{tmp_path / 'state.db'}", also=also)

    def template(self, name: str, tmp_path: Path, *, also: tuple[str, ...] = ()) -> LedgerBridgeConfig:
        """:meth:`template_text`, loaded."""
        return load_config_text(self.template_text(name, tmp_path, also=also), env={}).config


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[tuple[SalesforceSandbox, NetSuiteSandbox]]:
    """Both sandboxes, empty, zero latency, on free loopback ports, for the whole session."""
    with SalesforceSandbox(SalesforceSandboxConfig(seed="empty")) as sf, NetSuiteSandbox(seed="empty") as ns:
        yield sf, ns


@pytest.fixture
def systems(sandboxes: tuple[SalesforceSandbox, NetSuiteSandbox]) -> Iterator[Systems]:
    """Both sandboxes reset to empty for this test, with REST clients and request-log counters."""
    out = Systems(*sandboxes)
    try:
        out.reset()
        yield out
    finally:
        out.close()

"""Push end to end: ``ledgerbridge run``'s wiring with Salesforce CDC and the NetSuite webhook.

Both sandboxes serve over loopback (the session's pair); the Salesforce one also serves the Pub/Sub
API on its own loop, with a short keepalive so a quiet subscription confirms itself quickly. The
engine loop (``services.run_forever``) runs in a thread with its own event loop, exactly as
``ledgerbridge run`` runs it. The link's triggers are ``push`` plus a yearly cron: no polling pass
happens during a test, so whatever crosses over was carried by a push (or by the catch-up pass).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from e2e.conftest import Systems
from e2e.test_engine_e2e import accounts_link
from ledgerbridge.app import services
from ledgerbridge.app.realtime import REPLAY_LINK, RealtimeService
from ledgerbridge.core.records import System, Watermark
from ledgerbridge.flows.config import LedgerBridgeConfig
from ledgerbridge.state import open_state_store
from ledgerbridge_sandbox.netsuite.testing import NetSuiteSandbox
from ledgerbridge_sandbox.pubsub.server import start_pubsub_server
from ledgerbridge_sandbox.salesforce.testing import SalesforceSandbox

T = TypeVar("T")
SECRET = "realtime-e2e-secret"
TOPIC = "/data/AccountChangeEvent"
NEVER = '"0 0 1 1 *"'  # a cron that does not fire during a test: no polling pass


@pytest.fixture(scope="module")
def pubsub_port(sandboxes: tuple[SalesforceSandbox, NetSuiteSandbox]) -> Iterator[int]:
    """The Pub/Sub API on the running Salesforce sandbox's loop (as ``--pubsub-port`` serves it)."""
    sf, _ = sandboxes
    state = sf.state
    assert state.loop is not None
    started = asyncio.run_coroutine_threadsafe(start_pubsub_server(
        state.org.changes, lambda token: state.sessions.user_of(token) is not None, state.org.schema,
        org_id=state.org_id, keepalive_s=0.1), state.loop).result(10)
    server, port = started
    yield port
    asyncio.run_coroutine_threadsafe(server.stop(None), state.loop).result(10)


def realtime_config(systems: Systems, tmp_path: Path, pubsub_port: int) -> LedgerBridgeConfig:
    links = accounts_link() + f"    triggers: [{{push: true}}, {{cron: {NEVER}}}]\n"
    realtime = f"""\
realtime:
  webhook: {{host: 127.0.0.1, port: 0, path: /webhooks/netsuite, secret: {SECRET}}}
  salesforce_cdc: {{port: {pubsub_port}, batch_size: 50}}
  safety_net_interval: 10m
"""
    return systems.config(links + realtime, tmp_path)


class Running:
    """``services.run_forever`` in a thread with its own event loop, until the ``with`` ends."""

    def __init__(self, config: LedgerBridgeConfig) -> None:
        self.config = config
        self.realtime: RealtimeService | None = None
        self.passes: int | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def body() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def keep(service: RealtimeService) -> None:
                self.realtime = service

            self.passes = await services.run_forever(self.config, self._stop, on_realtime=keep)

        try:
            asyncio.run(body())
        except BaseException as exc:  # surfaced by __exit__
            self.error = exc

    def __enter__(self) -> Running:
        self._thread.start()
        wait_for(lambda: self.error is not None or (
            self.realtime is not None and self.realtime.subscribed.is_set()
            and self.realtime.stats.webhook_port is not None),
            what=lambda: f"subscribed and listening ({self.realtime and self.realtime.stats})")
        if self.error is not None:
            raise self.error
        return self

    @property
    def service(self) -> RealtimeService:
        assert self.realtime is not None
        return self.realtime

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.service.stats.webhook_port}/webhooks/netsuite"

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        assert not self._thread.is_alive(), "run_forever did not stop"
        if self.error is not None:
            raise self.error


def wait_for(probe: Callable[[], T], *, what: str | Callable[[], str], timeout_s: float = 10.0) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(0.02)


def customer_named(systems: Systems, name: str) -> dict[str, Any] | None:
    return next((c for c in systems.ns_customers() if c["companyname"] == name), None)


def test_salesforce_edits_cross_by_cdc_and_netsuite_ui_edits_by_webhook(
        systems: Systems, tmp_path: Path, pubsub_port: int) -> None:
    config = realtime_config(systems, tmp_path, pubsub_port)
    with Running(config) as run:
        systems.admin.put(f"{systems.ns.url}/__sandbox__/push",
                          json={"url": run.webhook_url, "secret": SECRET}).raise_for_status()
        started = time.monotonic()
        sf_id = systems.sf_create("Account", {"Name": "Realtime Co", "Website": "https://realtime.example",
                                              "Phone": "555-0100"})
        customer = wait_for(lambda: customer_named(systems, "Realtime Co"), what="the customer in NetSuite")
        ns_id = str(customer["id"])
        assert customer["externalid"] == sf_id

        # A NetSuite "UI" edit: the sandbox posts the script's signed call to the webhook.
        r = systems.admin.patch(f"{systems.ns.url}/__sandbox__/ui/record/customer/{ns_id}",
                                json={"creditLimit": 42000})
        assert r.status_code == 204, r.text
        wait_for(lambda: systems.sf_get("Account", sf_id).get("Credit_Limit__c") == 42000,
                 what="the credit limit in Salesforce")

        systems.sf_update("Account", sf_id, {"Phone": "555-0199"})
        wait_for(lambda: systems.ns_get("customer", ns_id).get("phone") == "555-0199",
                 what="the phone in NetSuite")
        elapsed = time.monotonic() - started
        sources = {(c.system, c.source) for c in run.service.recent}
        assert (System.SALESFORCE, "cdc") in sources and (System.NETSUITE, "push") in sources
        assert run.service.stats.catch_ups == 0
    assert run.passes == 0  # nothing was polled: three changes crossed in seconds by push alone
    assert elapsed < 10


def test_the_replay_id_survives_a_restart_and_an_event_committed_meanwhile_is_delivered(
        systems: Systems, tmp_path: Path, pubsub_port: int) -> None:
    config = realtime_config(systems, tmp_path, pubsub_port)
    with Running(config):
        pass  # subscribed: the first (keepalive) response stored the latest replay id

    stored = asyncio.run(_replay_id(config))
    assert stored, "no replay id was stored"
    sf_id = systems.sf_create("Account", {"Name": "While Down Co", "Website": "https://down.example"})

    with Running(config) as run:
        wait_for(lambda: customer_named(systems, "While Down Co"), what="the customer in NetSuite")
        assert any(c.id == sf_id and c.source == "cdc" for c in run.service.recent)
        assert run.service.stats.catch_ups == 0
    assert run.passes == 0


def test_an_expired_replay_id_triggers_one_catch_up_pass(
        systems: Systems, tmp_path: Path, pubsub_port: int) -> None:
    config = realtime_config(systems, tmp_path, pubsub_port)
    never_issued = (10**12).to_bytes(8, "big").hex()
    asyncio.run(_set_replay_id(config, never_issued))
    systems.sf_create("Account", {"Name": "Missed Co", "Website": "https://missed.example"})

    with Running(config) as run:
        wait_for(lambda: customer_named(systems, "Missed Co"), what="the customer in NetSuite")
        assert run.service.stats.catch_ups == 1
        # resubscribed from LATEST: the next (keepalive) response stores a fresh replay id
        wait_for(lambda: run.service.stats.cdc_batches >= 2, what="a response after resubscribing")
    assert run.passes == 1  # the catch-up pass, and nothing else
    assert asyncio.run(_replay_id(config)) not in ("", never_issued)


async def _replay_id(config: LedgerBridgeConfig) -> str:
    store = await open_state_store(config.state.url)
    try:
        mark = await store.get_watermark(REPLAY_LINK, System.SALESFORCE, f"cdc:{TOPIC}")
        return mark.last_id if mark is not None else ""
    finally:
        await store.aclose()


async def _set_replay_id(config: LedgerBridgeConfig, hex_id: str) -> None:
    from datetime import UTC, datetime

    store = await open_state_store(config.state.url)
    try:
        async with store.transaction():
            await store.set_watermark(REPLAY_LINK, System.SALESFORCE, f"cdc:{TOPIC}",
                                      Watermark(datetime.now(UTC), hex_id))
    finally:
        await store.aclose()

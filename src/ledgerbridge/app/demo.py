"""The demo (layer ``app``): both sandboxes as child processes, a demo configuration, the engine
loop and a gentle simulator of people editing records on both sides.

The front end (``ledgerbridge demo``) adds the dashboard and prints the guide; everything else is
here so it can be tested without a terminal.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from ledgerbridge.app.sandboxes import SandboxProcess, start_sandbox
from ledgerbridge.app.templates import SANDBOX_NETSUITE_URL, SANDBOX_SALESFORCE_URL, render
from ledgerbridge.core.errors import LedgerBridgeError
from ledgerbridge.core.ports import SystemPort
from ledgerbridge.core.records import Priority, Record, Write

log = structlog.get_logger("ledgerbridge.demo")

WEBHOOK_PATH = "/webhooks/netsuite"

# quote-to-cash requires accounts-customers and catalog-pricing; the demo adds the other flows.
DEMO_TEMPLATE = "quote-to-cash"
DEMO_ALSO = ("lead-to-prospect", "invoice-status", "pipeline-forecast")


def demo_config_text(sf: dict[str, object], ns: dict[str, object], state_url: str,
                     template: str = DEMO_TEMPLATE, *, webhook_port: int | None = None,
                     webhook_secret: str | None = None) -> str:
    """The demo's ``ledgerbridge.yaml``: a shipped template (with those it requires), pointed at the
    running sandboxes; with push from both (Salesforce CDC over the sandbox's Pub/Sub API, NetSuite
    User Event calls to our webhook) when the sandboxes serve it."""
    text = render(template, sandbox=True,
                  salesforce_url=str(sf.get("instance_url", SANDBOX_SALESFORCE_URL)),
                  netsuite_url=str(ns.get("base_url", SANDBOX_NETSUITE_URL)), state_url=state_url,
                  also=DEMO_ALSO)
    pubsub_port = sf.get("pubsub_port")
    if webhook_port is None or webhook_secret is None or not isinstance(pubsub_port, int):
        return text
    return text + (
        "\n# Push from both sides: Salesforce Change Data Capture (Pub/Sub API) and the NetSuite\n"
        "# User Event script's calls to this webhook; polling stays as a slow safety net.\n"
        "realtime:\n"
        f"  webhook: {{host: 127.0.0.1, port: {webhook_port}, path: {WEBHOOK_PATH},\n"
        f"            secret: \"${{LB_DEMO_WEBHOOK_SECRET:-{webhook_secret}}}\"}}\n"
        f"  salesforce_cdc: {{port: {pubsub_port}}}\n"
        "  safety_net_interval: 5m\n")


@dataclass
class DemoSandboxes:
    """The running sandboxes and where the demo keeps its files."""

    process: SandboxProcess
    directory: Path
    config_file: Path
    salesforce: dict[str, object] = field(default_factory=dict)
    netsuite: dict[str, object] = field(default_factory=dict)

    def stop(self) -> int:
        """Stop the sandboxes."""
        return self.process.stop()


def start_demo_sandboxes(directory: Path | None = None, *, state_url: str | None = None,
                         args: tuple[str, ...] = ()) -> DemoSandboxes:
    """Start ``python -m ledgerbridge_sandbox up`` and write the demo configuration next to it.

    Raises:
        SandboxStartError: the sandboxes did not come up.
    """
    folder = directory or Path(tempfile.mkdtemp(prefix="ledgerbridge-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    webhook_port, webhook_secret = free_port(), secrets.token_hex(16)
    push = ("--sf-pubsub-port", "0", "--ns-push-url", f"http://127.0.0.1:{webhook_port}{WEBHOOK_PATH}",
            "--ns-push-secret", webhook_secret)
    proc = start_sandbox("up", [*args, *push], name="demo sandboxes", timeout_s=120)
    sf, ns = _section(proc.info, "salesforce"), _section(proc.info, "netsuite")
    url = state_url or f"sqlite:///{folder / 'state.db'}"
    config_file = folder / "ledgerbridge.yaml"
    config_file.write_text(demo_config_text(sf, ns, url, webhook_port=webhook_port,
                                            webhook_secret=webhook_secret), encoding="utf-8")
    return DemoSandboxes(proc, folder, config_file, sf, ns)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _section(info: dict[str, object], key: str) -> dict[str, object]:
    value = info.get(key)
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


class _Ports(Protocol):
    @property
    def salesforce(self) -> SystemPort: ...

    @property
    def netsuite(self) -> SystemPort: ...


_NEW_COMPANIES = ("Aurora", "Basalt", "Corvid", "Dovetail", "Ember", "Fjord", "Gallium", "Halcyon")
_NEW_KINDS = ("Robotics", "Analytics", "Logistics", "Foods", "Energy", "Media")


class Simulator:
    """People at work: edits on both sides at a gentle, realistic pace, through the systems' APIs.

    Each step is one of: a sales rep changes an account's phone in Salesforce; finance changes a
    customer's credit limit in NetSuite; a new account is created in Salesforce; a product manager
    edits an item's description in NetSuite; and now and then the same phone is edited differently
    on both sides between two passes (a conflict the field's owner settles).

    Args:
        runtime: what makes the edits (the demo runtime's connectors).
        speed: 1.0 is about one edit every 6 seconds; 2.0 twice as often.
        rng: random source (seeded for tests).
        on_event: called with a sentence for each edit made.
    """

    def __init__(self, runtime: _Ports, *, speed: float = 1.0, rng: random.Random | None = None,
                 on_event: Callable[[str], None] | None = None) -> None:
        self.rt = runtime
        self.speed = max(0.05, speed)
        self.rng = rng or random.Random(7)
        self.on_event = on_event or (lambda _m: None)
        self.n_edits = 0

    async def step(self) -> str | None:
        """Make one edit; return what was done (None when there was nothing to edit)."""
        roll = self.rng.random()
        if roll < 0.35:
            return await self._edit_salesforce_phone()
        if roll < 0.6:
            return await self._edit_netsuite_credit()
        if roll < 0.75:
            return await self._create_account()
        if roll < 0.9:
            return await self._edit_item()
        return await self._conflicting_phone()

    async def _pick(self, port: SystemPort, object: str, fields: list[str] | None = None) -> Record | None:
        async for page in port.read_changes(object, None, fields=fields, priority=Priority.BACKFILL):
            if page.records:
                return self.rng.choice(list(page.records))
        return None

    async def _write(self, port: SystemPort, object: str, write: Write, what: str) -> str:
        res = await port.upsert(object, [write], priority=Priority.BACKFILL)
        self.n_edits += 1
        error = res[0].error if res else None
        return what if error is None else f"{what} (failed: {error.code}: {error.message})"

    async def _edit_salesforce_phone(self) -> str | None:
        r = await self._pick(self.rt.salesforce, "Account", ["Id", "Name", "Phone"])
        if r is None:
            return None
        phone = f"+1 512 555 {self.rng.randint(1000, 9999)}"
        return await self._write(self.rt.salesforce, "Account", Write({"Phone": phone}, id=r.id),
                                 f"Salesforce: {r.fields.get('Name')} phone changed to {phone}")

    async def _edit_netsuite_credit(self) -> str | None:
        r = await self._pick(self.rt.netsuite, "customer")
        if r is None:
            return None
        limit = float(self.rng.choice([5000, 10000, 25000, 50000, 100000]))
        return await self._write(self.rt.netsuite, "customer", Write({"creditLimit": limit}, id=r.id),
                                 f"NetSuite: {r.fields.get('companyName')} credit limit set to {limit:,.0f}")

    async def _create_account(self) -> str | None:
        name = (f"{self.rng.choice(_NEW_COMPANIES)} {self.rng.choice(_NEW_KINDS)} "
                f"{self.rng.randint(100, 999)} Inc.")
        domain = name.split()[0].lower() + str(self.rng.randint(10, 99)) + ".example"
        return await self._write(self.rt.salesforce, "Account",
                                 Write({"Name": name, "Website": f"https://www.{domain}",
                                        "Phone": f"+1 415 555 {self.rng.randint(1000, 9999)}"}),
                                 f"Salesforce: new account {name}")

    async def _edit_item(self) -> str | None:
        r = await self._pick(self.rt.netsuite, "inventoryItem")
        if r is None:
            return None
        text = f"{r.fields.get('itemId', 'Item')} — revised spec {self.rng.randint(2, 9)}"
        return await self._write(self.rt.netsuite, "inventoryItem",
                                 Write({"salesDescription": text}, id=r.id),
                                 f"NetSuite: item {r.fields.get('itemId')} description revised")

    async def _conflicting_phone(self) -> str | None:
        r = await self._pick(self.rt.salesforce, "Account", ["Id", "Name", "NetSuite_Id__c"])
        ns_id = r.fields.get("NetSuite_Id__c") if r is not None else None
        if r is None or not isinstance(ns_id, str) or not ns_id:
            return await self._edit_salesforce_phone()
        sf_phone = f"+1 212 555 {self.rng.randint(1000, 9999)}"
        ns_phone = f"+1 646 555 {self.rng.randint(1000, 9999)}"
        await self._write(self.rt.salesforce, "Account", Write({"Phone": sf_phone}, id=r.id), "")
        await self._write(self.rt.netsuite, "customer", Write({"phone": ns_phone}, id=ns_id), "")
        return (f"Both: {r.fields.get('Name')} phone set to {sf_phone} in Salesforce and {ns_phone} in "
                "NetSuite (a conflict; Salesforce owns phone)")

    async def run(self, stop: asyncio.Event) -> None:
        """Edit until ``stop`` is set."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=6.0 / self.speed)
                return
            except TimeoutError:
                pass
            try:
                message = await self.step()
            except LedgerBridgeError as exc:
                message = f"simulator edit failed: {exc}"
            if message:
                log.info("demo.simulator.edit", message=message)
                self.on_event(message)

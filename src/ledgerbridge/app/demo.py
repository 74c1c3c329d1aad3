"""The demo (layer ``app``): both sandboxes as child processes, a demo configuration, the engine
loop and a gentle simulator of people editing records on both sides.

The front end (``ledgerbridge demo``) adds the dashboard and prints the guide; everything else is
here so it can be tested without a terminal.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from ledgerbridge.app.sandboxes import SandboxProcess, start_sandbox
from ledgerbridge.app.templates import (
    SANDBOX_NETSUITE_URL,
    SANDBOX_SALESFORCE_URL,
    connections_yaml,
    get_template,
)
from ledgerbridge.app.wiring import Runtime
from ledgerbridge.core.errors import LedgerBridgeError
from ledgerbridge.core.records import Priority, Write

log = structlog.get_logger("ledgerbridge.demo")

DEMO_TEMPLATES = ("accounts-customers", "catalog-pricing")


def _links_of(body: str) -> str:
    """The entries under a template's ``links:`` key (comments before it dropped)."""
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip() == "links:")
    return "\n".join(lines[start + 1:]) + "\n"


def demo_config_text(sf: dict[str, object], ns: dict[str, object], state_url: str,
                     templates: tuple[str, ...] = DEMO_TEMPLATES) -> str:
    """The demo's ``ledgerbridge.yaml``: the shipped templates, pointed at the running sandboxes."""
    links = "".join(_links_of(get_template(name).body) for name in templates)
    return (
        f"# Written by `ledgerbridge demo`: templates {', '.join(templates)} on the local sandboxes.\n"
        "version: 1\n"
        + connections_yaml(sandbox=True, salesforce_url=str(sf.get("instance_url", SANDBOX_SALESFORCE_URL)),
                           netsuite_url=str(ns.get("base_url", SANDBOX_NETSUITE_URL)))
        + f"state:\n  url: \"{state_url}\"\n\nlinks:\n{links}")


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
    proc = start_sandbox("up", list(args), name="demo sandboxes", timeout_s=120)
    sf, ns = _section(proc.info, "salesforce"), _section(proc.info, "netsuite")
    url = state_url or f"sqlite:///{folder / 'state.db'}"
    config_file = folder / "ledgerbridge.yaml"
    config_file.write_text(demo_config_text(sf, ns, url), encoding="utf-8")
    return DemoSandboxes(proc, folder, config_file, sf, ns)


def _section(info: dict[str, object], key: str) -> dict[str, object]:
    value = info.get(key)
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


class Simulator:
    """People at work: edits on both sides at a gentle, realistic pace, through the systems' APIs.

    Args:
        runtime: the demo runtime (its connectors make the edits).
        speed: 1.0 is about one edit every 6 seconds; 2.0 twice as often.
        rng: random source (seeded for tests).
        on_event: called with a sentence for each edit made.
    """

    def __init__(self, runtime: Runtime, *, speed: float = 1.0, rng: random.Random | None = None,
                 on_event: Callable[[str], None] | None = None) -> None:
        self.rt = runtime
        self.speed = max(0.05, speed)
        self.rng = rng or random.Random(7)
        self.on_event = on_event or (lambda _m: None)
        self.n_edits = 0

    async def step(self) -> str | None:
        """Make one edit on one side; return what was done (None when nothing could be edited)."""
        if self.rng.random() < 0.6:
            return await self._edit_salesforce()
        return await self._edit_netsuite()

    async def _edit_salesforce(self) -> str | None:
        pages = self.rt.salesforce.read_changes("Account", None, fields=["Id", "Name", "Phone"],
                                                priority=Priority.BACKFILL)
        async for page in pages:
            if not page.records:
                return None
            r = self.rng.choice(list(page.records))
            phone = f"+1 512 555 {self.rng.randint(1000, 9999)}"
            res = await self.rt.salesforce.upsert("Account", [Write({"Phone": phone}, id=r.id)],
                                                  priority=Priority.BACKFILL)
            self.n_edits += 1
            ok = "" if res[0].ok else f" (failed: {res[0].error.message if res[0].error else ''})"
            return f"Salesforce: {r.fields.get('Name')} phone changed to {phone}{ok}"
        return None

    async def _edit_netsuite(self) -> str | None:
        pages = self.rt.netsuite.read_changes("customer", None, priority=Priority.BACKFILL)
        async for page in pages:
            if not page.records:
                return None
            r = self.rng.choice(list(page.records))
            limit = float(self.rng.choice([5000, 10000, 25000, 50000, 100000]))
            res = await self.rt.netsuite.upsert("customer", [Write({"creditLimit": limit}, id=r.id)],
                                                priority=Priority.BACKFILL)
            self.n_edits += 1
            ok = "" if res[0].ok else f" (failed: {res[0].error.message if res[0].error else ''})"
            return f"NetSuite: {r.fields.get('companyName')} credit limit set to {limit:,.0f}{ok}"
        return None

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

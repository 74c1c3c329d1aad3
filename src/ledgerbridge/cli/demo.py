"""``ledgerbridge demo``: both sandboxes, the engine, the simulator and the dashboard in one command
(layer ``cli``, the outermost shell: it may start the dashboard front end)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ledgerbridge.app import services
from ledgerbridge.app.config import LedgerBridgeConfig, load_config
from ledgerbridge.app.demo import Simulator, start_demo_sandboxes
from ledgerbridge.app.sandboxes import SandboxStartError
from ledgerbridge.app.wiring import Runtime
from ledgerbridge.core.errors import ConfigError, LedgerBridgeError
from ledgerbridge.dashboard.app import create_dashboard, dashboard_server
from ledgerbridge.dashboard.live import RuntimeBackend

err = Console(stderr=True, highlight=False)

GUIDE = """\
[bold green]LedgerBridge demo is running[/]

  Dashboard         {dashboard}
  Salesforce        {sf}   (sandbox; user {user})
  NetSuite          {ns}   (sandbox; account {account})
  Configuration     {config}

What to try:
  - Watch accounts and customers link up on the Overview page (matching by website, then by name).
  - Search a company name on Records and read its lineage: every decision with before/after values.
  - The simulator edits phones in Salesforce and credit limits in NetSuite; see them cross over.
  - Run `ledgerbridge status -c {config}` or `ledgerbridge plan -c {config}` in another terminal.

Press Ctrl-C to stop everything.
"""


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""

    @app.command("demo")
    def demo(port: Annotated[int, typer.Option("--port", help="dashboard port")] = 8765,
             no_simulator: Annotated[bool, typer.Option("--no-simulator", help="no simulated edits")] = False,
             speed: Annotated[float, typer.Option("--speed", help="simulated edits per 6 s")] = 1.0,
             state: Annotated[str | None, typer.Option("--state", help="state store URL")] = None,
             directory: Annotated[Path | None, typer.Option("--dir", help="where to keep demo files")] = None,
             ) -> None:
        """Start both sandboxes, the engine, a simulator and the dashboard; Ctrl-C stops all."""
        err.print("starting the Salesforce and NetSuite sandboxes (demo data)...")
        try:
            sandboxes = start_demo_sandboxes(directory, state_url=state)
        except SandboxStartError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
        try:
            try:
                cfg = load_config(sandboxes.config_file).config
            except ConfigError as exc:
                err.print(f"[red]error:[/] {exc}")
                raise typer.Exit(2) from None
            code = asyncio.run(_main(cfg, sandboxes.config_file, port, not no_simulator, speed,
                                     sandboxes.salesforce, sandboxes.netsuite))
        finally:
            sandboxes.stop()
            err.print("stopped.")
        raise typer.Exit(code)


async def _main(cfg: LedgerBridgeConfig, config_file: Path, port: int, simulate: bool,
                speed: float, sf: dict[str, object], ns: dict[str, object]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    servers = []
    holder: list[RuntimeBackend] = []

    def ready(rt: Runtime) -> None:
        backend = RuntimeBackend(rt, sf_url=str(sf.get("instance_url", "")) or None)
        holder.append(backend)
        server = dashboard_server(create_dashboard(backend), "127.0.0.1", port)
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        servers.append(server)
        tasks.append(asyncio.create_task(server.serve()))
        if simulate:
            sim = Simulator(rt, speed=speed, on_event=lambda m: err.print(f"[dim]{m}[/]"))
            tasks.append(asyncio.create_task(sim.run(stop)))
        err.print(GUIDE.format(dashboard=f"http://127.0.0.1:{port}/", sf=sf.get("instance_url"),
                               user=sf.get("username"), ns=ns.get("base_url"), account=ns.get("account_id"),
                               config=config_file))

    def summary(s: services.SyncSummary) -> None:
        if holder:
            holder[0].record_summary(s)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(s.counts.items()) if v) or "no changes"
        err.print(f"pass {s.run_id[:8]}: {counts}")

    try:
        await services.run_forever(cfg, stop, default_interval_s=5.0, on_summary=summary, on_ready=ready)
    except LedgerBridgeError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 1
    finally:
        stop.set()
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
    return 0

"""Long-running commands (layer ``cli``, the outermost shell: it may start the dashboard front end).

- ``ledgerbridge run``: every link on its triggers until stopped, optionally with the dashboard.
- ``ledgerbridge demo``: both sandboxes, the engine, a simulator and the dashboard in one command.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from ledgerbridge.app import services
from ledgerbridge.app.config import DEFAULT_CONFIG_FILE, LedgerBridgeConfig
from ledgerbridge.app.demo import (
    SandboxUiEditor,
    Simulator,
    create_notification_app,
    start_demo_sandboxes,
)
from ledgerbridge.app.sandboxes import SandboxStartError
from ledgerbridge.app.wiring import Runtime
from ledgerbridge.cli.loading import load_or_exit
from ledgerbridge.core.errors import LedgerBridgeError
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
  - Close a deal in Salesforce (StageName = Closed Won on an opportunity with lines): the NetSuite
    sales order appears within seconds (Change Data Capture push), and its number flows back.
  - Watch accounts and customers link up on the Overview page (matching by website, then by name).
  - Search a company name on Records and read its lineage: every decision with before/after values.
  - The simulator edits phones in Salesforce and credit limits in NetSuite; see them cross over.
  - Run `ledgerbridge status -c {config}` or `ledgerbridge plan -c {config}` in another terminal.

Press Ctrl-C to stop everything.
"""


def register(app: typer.Typer) -> None:
    """Add the ``run`` and ``demo`` commands."""

    @app.command("run")
    def run_cmd(config: Annotated[Path, typer.Option("-c", "--config", help="configuration file")] = Path(
                    DEFAULT_CONFIG_FILE),
                state: Annotated[str | None, typer.Option("--state", help="state store URL")] = None,
                interval: Annotated[float, typer.Option(
                    "--interval", help="seconds between passes for links without triggers")] = 60.0,
                dashboard: Annotated[bool, typer.Option("--dashboard", help="serve the dashboard")] = False,
                host: Annotated[str, typer.Option("--host", help="dashboard address")] = "127.0.0.1",
                port: Annotated[int, typer.Option("--port", help="dashboard port")] = 8765) -> None:
        """Run every link on its triggers until stopped (SIGINT/SIGTERM finish the pass first)."""
        loaded = load_or_exit(config)
        code = asyncio.run(_main(loaded.config, config, port if dashboard else None, False, 1.0, {}, {},
                                 state_url=state, interval=interval, host=host))
        raise typer.Exit(code)

    @app.command("demo")
    def demo(port: Annotated[int, typer.Option("--port", help="dashboard port")] = 8765,
             no_simulator: Annotated[bool, typer.Option("--no-simulator", help="no simulated edits")] = False,
             speed: Annotated[float, typer.Option("--speed", help="simulated edits per 6 s")] = 1.0,
             state: Annotated[str | None, typer.Option("--state", help="state store URL")] = None,
             directory: Annotated[Path | None, typer.Option("--dir", help="where to keep demo files")] = None,
             sf_port: Annotated[int, typer.Option("--sf-port", help="Salesforce sandbox port")] = 8701,
             ns_port: Annotated[int, typer.Option("--ns-port", help="NetSuite sandbox port")] = 8702,
             ) -> None:
        """Start both sandboxes, the engine, a simulator and the dashboard; Ctrl-C stops all."""
        err.print("starting the Salesforce and NetSuite sandboxes (demo data)...")
        try:
            sandboxes = start_demo_sandboxes(directory, state_url=state,
                                             args=("--sf-port", str(sf_port), "--ns-port", str(ns_port)))
        except SandboxStartError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
        try:
            cfg = load_or_exit(sandboxes.config_file).config
            code = asyncio.run(_main(cfg, sandboxes.config_file, port, True, speed,
                                     sandboxes.salesforce, sandboxes.netsuite, simulator=not no_simulator,
                                     notify_port=sandboxes.notify_port))
        finally:
            sandboxes.stop()
            err.print("stopped.")
        raise typer.Exit(code)


async def _main(cfg: LedgerBridgeConfig, config_file: Path, port: int | None, demo: bool,
                speed: float, sf: dict[str, object], ns: dict[str, object], *,
                state_url: str | None = None, interval: float = 5.0, host: str = "127.0.0.1",
                simulator: bool = True, notify_port: int | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    servers = []
    holder: list[RuntimeBackend] = []
    editors: list[SandboxUiEditor] = []

    def ready(rt: Runtime) -> None:
        backend = RuntimeBackend(rt, sf_url=str(sf.get("instance_url", "")) or None)
        holder.append(backend)
        if port is not None:
            server = dashboard_server(create_dashboard(backend), host, port)
            server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
            servers.append(server)
            tasks.append(asyncio.create_task(server.serve()))
            err.print(f"dashboard: http://{host}:{port}/")
        if not demo:
            if port is None:
                err.print("dashboard: none (add --dashboard to serve it)", soft_wrap=True)
            err.print(f"running the links of {config_file}; Ctrl-C or SIGTERM stops after the pass "
                      "in progress", soft_wrap=True)
            return
        if notify_port is not None:
            receiver = uvicorn.Server(uvicorn.Config(
                create_notification_app(lambda text: err.print(f"[bold magenta]notification:[/] {text}")),
                host="127.0.0.1", port=notify_port, log_level="warning", lifespan="off", access_log=False))
            receiver.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
            servers.append(receiver)
            tasks.append(asyncio.create_task(receiver.serve()))
        if simulator:
            editor = SandboxUiEditor(sf, ns)
            editors.append(editor)
            sim = Simulator(rt, editor=editor, speed=speed, on_event=lambda m: err.print(f"[dim]{m}[/]"))
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
        passes = await services.run_forever(cfg, stop, state_url=state_url, default_interval_s=interval,
                                            on_summary=summary, on_ready=ready)
        err.print(f"stopped after {passes} passes")
    except LedgerBridgeError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 1
    finally:
        stop.set()
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for editor in editors:
            await editor.aclose()
    return 0

"""The ``ledgerbridge`` command line.

Exit codes: 0 ok; 1 the operation ran but recorded failures (e.g. dead letters); 2 configuration
or usage error.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ledgerbridge.app.config import DEFAULT_CONFIG_FILE, config_schema_json
from ledgerbridge.app.logging import LogFormat, configure_logging
from ledgerbridge.app.services import check_online
from ledgerbridge.cli.demo import register as register_demo
from ledgerbridge.cli.forecast import register as register_forecast
from ledgerbridge.cli.init import register as register_init
from ledgerbridge.cli.loading import load_or_exit
from ledgerbridge.cli.ops import register as register_ops
from ledgerbridge.cli.sandbox import register as register_sandbox
from ledgerbridge.core.errors import LedgerBridgeError

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_CONFIG = 2

app = typer.Typer(
    name="ledgerbridge",
    help="Keep Salesforce and NetSuite in sync, both ways, in seconds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check and describe ledgerbridge.yaml.", no_args_is_help=True)
app.add_typer(config_app, name="config")
register_ops(app)
register_init(app)
register_demo(app)
register_sandbox(app)
register_forecast(app)

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

ConfigOption = Annotated[
    Path, typer.Option("-c", "--config", help="configuration file", show_default=True),
]


def _version() -> str:
    try:
        return version("ledgerbridge")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0+unknown"


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"ledgerbridge {_version()}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_callback(
    _version_flag: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                                help="show the version and exit")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="console or json")] = "console",
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR")] = "INFO",
) -> None:
    """Keep Salesforce and NetSuite in sync, both ways, in seconds."""
    if log_format not in ("console", "json"):
        err.print(f"[red]error:[/] --log-format must be 'console' or 'json', got {log_format!r}")
        raise typer.Exit(EXIT_CONFIG)
    fmt: LogFormat = "json" if log_format == "json" else "console"
    configure_logging(fmt, log_level)


@config_app.command("validate")
def config_validate(
    config: ConfigOption = Path(DEFAULT_CONFIG_FILE),
    online: Annotated[bool, typer.Option(
        "--online", help="also describe the linked objects in both systems and check every mapping")] = False,
) -> None:
    """Validate a configuration file; every problem is shown with its line and column."""
    loaded = load_or_exit(config)
    if online:
        try:
            problems = asyncio.run(check_online(loaded.config))
        except LedgerBridgeError as exc:
            err.print(f"[red]error:[/] cannot check online: {exc}", soft_wrap=True)
            raise typer.Exit(EXIT_FAILURES) from None
        for problem in problems:
            err.print(f"[red]error:[/] {problem.format(loaded.document.where(problem.path))}",
                      soft_wrap=True)
        if problems:
            raise typer.Exit(EXIT_CONFIG)
        out.print(f"[green]ok:[/] {config} is valid, and every mapping fits the systems' described fields",
                  soft_wrap=True)
        return
    out.print(f"[green]ok:[/] {config} is valid", soft_wrap=True)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of ledgerbridge.yaml (for editor completion)."""
    typer.echo(config_schema_json())


def main() -> None:
    """Console-script entry point."""
    app()

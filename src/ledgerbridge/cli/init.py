"""``ledgerbridge init``: write a ``ledgerbridge.yaml`` from a flow template (layer ``cli``).

Thin: the templates and their rendering live in ``ledgerbridge.app.templates``; this module parses
options, refuses to overwrite without ``--force``, validates what it wrote and prints the next step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ledgerbridge.app.config import DEFAULT_CONFIG_FILE
from ledgerbridge.app.templates import (
    SANDBOX_NETSUITE_PORT,
    SANDBOX_SALESFORCE_PORT,
    check_rendering,
    list_templates,
    render,
    sandbox_url,
)
from ledgerbridge.core.errors import ConfigError

EXIT_CONFIG = 2

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def init(
    template: Annotated[str | None, typer.Option("--template", "-t", help="template name")] = None,
    sandbox: Annotated[bool, typer.Option(
        "--sandbox", help=f"use the local sandboxes (ports {SANDBOX_SALESFORCE_PORT}/"
                          f"{SANDBOX_NETSUITE_PORT} unless moved, default credentials)")] = False,
    sf_port: Annotated[int | None, typer.Option(
        "--sf-port", show_default=False,
        help=f"with --sandbox: the Salesforce sandbox's port (default {SANDBOX_SALESFORCE_PORT})")] = None,
    ns_port: Annotated[int | None, typer.Option(
        "--ns-port", show_default=False,
        help=f"with --sandbox: the NetSuite sandbox's port (default {SANDBOX_NETSUITE_PORT})")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write")] = Path(DEFAULT_CONFIG_FILE),
    list_: Annotated[bool, typer.Option("--list", help="list the templates and exit")] = False,
) -> None:
    """Write a configuration file from a flow template."""
    if list_:
        for t in list_templates():
            _out.print(f"{t.name:<22} {t.description}", soft_wrap=True)
        return
    if template is None:
        names = ", ".join(t.name for t in list_templates())
        _err.print(f"[red]error:[/] give --template NAME (one of: {names}) or --list", soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG)
    ports = {"--sf-port": sf_port, "--ns-port": ns_port}
    given = [name for name, value in ports.items() if value is not None]
    if given and not sandbox:
        verb = "are" if len(given) > 1 else "is"
        _err.print(f"[red]error:[/] {' and '.join(given)} {verb} for the local sandboxes only; add --sandbox "
                   "(a real account's URLs come from the connections block's environment variables)",
                   soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG)
    for name, value in ports.items():
        if value is not None and not 1 <= value <= 65535:
            _err.print(f"[red]error:[/] {name} {value} is not a TCP port; give a number from 1 to 65535 "
                       "(the port `ledgerbridge sandbox up` reported)", soft_wrap=True)
            raise typer.Exit(EXIT_CONFIG)
    try:
        text = render(template, sandbox=sandbox,
                      salesforce_url=sandbox_url(sf_port or SANDBOX_SALESFORCE_PORT),
                      netsuite_url=sandbox_url(ns_port or SANDBOX_NETSUITE_PORT))
    except ConfigError as exc:
        _err.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    if output.exists() and not force:
        _err.print(f"[red]error:[/] {output} already exists; pass --force to overwrite it", soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG)
    if sandbox:  # placeholders need the user's environment, so only a sandbox file is checked here
        try:
            check_rendering(text)
        except ConfigError as exc:
            _err.print(f"[red]error:[/] template {template!r} does not validate: {exc}", soft_wrap=True)
            raise typer.Exit(EXIT_CONFIG) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    where = (f", local sandboxes on ports {sf_port or SANDBOX_SALESFORCE_PORT}/"
             f"{ns_port or SANDBOX_NETSUITE_PORT}" if sandbox else "")
    _out.print(f"[green]wrote[/] {output} (template {template}{where})", soft_wrap=True)
    if not sandbox:
        _out.print("set the environment variables named in its connections block, then run "
                   f"`ledgerbridge config validate -c {output}`", soft_wrap=True)
    else:
        _out.print(f"next: `ledgerbridge sync -c {output}` for one pass, or `ledgerbridge run -c {output}`",
                   soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``init`` to the ``ledgerbridge`` Typer app."""
    app.command("init")(init)

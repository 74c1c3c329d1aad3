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
from ledgerbridge.app.templates import check_rendering, list_templates, render
from ledgerbridge.core.errors import ConfigError

EXIT_CONFIG = 2

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def init(
    template: Annotated[str | None, typer.Option("--template", "-t", help="template name")] = None,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="use the local sandboxes (8701/8702)")] = False,
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
    try:
        text = render(template, sandbox=sandbox)
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
    _out.print(f"[green]wrote[/] {output} (template {template}"
               f"{', local sandboxes' if sandbox else ''})", soft_wrap=True)
    if not sandbox:
        _out.print("set the environment variables named in its connections block, then run "
                   f"`ledgerbridge config validate -c {output}`", soft_wrap=True)
    else:
        _out.print(f"next: `ledgerbridge sync -c {output}`", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``init`` to the ``ledgerbridge`` Typer app."""
    app.command("init")(init)

"""``ledgerbridge sandbox ...``: run the local sandboxes (a child ``python -m ledgerbridge_sandbox``).

The product never imports the sandboxes; this command only starts them as a child process and
passes its arguments and signals through.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``sandbox`` command."""

    @app.command("sandbox", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def sandbox(ctx: typer.Context,
                which: Annotated[str, typer.Argument(help="up | salesforce | netsuite")] = "up") -> None:
        """Run the Salesforce and/or NetSuite sandbox (e.g. `ledgerbridge sandbox up`); Ctrl-C stops.

        Options after the name go to the sandbox (see `ledgerbridge sandbox salesforce --help`).
        """
        if which not in {"up", "salesforce", "netsuite"}:
            typer.echo(f"error: unknown sandbox {which!r}; use up, salesforce or netsuite", err=True)
            raise typer.Exit(2)
        argv = [sys.executable, "-m", "ledgerbridge_sandbox", which, *ctx.args]
        proc = subprocess.Popen(argv)
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.wait()
            code = 0
        raise typer.Exit(code)

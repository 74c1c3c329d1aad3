"""The ``ledgerbridge`` console script: a Ctrl-C while the command is still loading exits quietly.

Importing the command line pulls in the whole application (Typer, rich, SQLAlchemy, the
connectors), which takes a moment; an interrupt in that moment would otherwise print Python's
traceback. It exits 130, as a shell expects of an interrupted command.
"""

from __future__ import annotations

INTERRUPTED = 130


def main() -> None:
    """Load the command line, then run it."""
    try:
        from ledgerbridge.cli.main import main as run
    except KeyboardInterrupt:
        raise SystemExit(INTERRUPTED) from None
    run()

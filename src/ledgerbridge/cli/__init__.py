"""Layer ``cli``: the ``ledgerbridge`` command (Typer + rich). Imports ``app`` and ``core`` only."""

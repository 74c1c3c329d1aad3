"""Loading ``ledgerbridge.yaml`` for a command (layer ``cli``): problems exit 2, warnings are shown."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ledgerbridge.app.config import LoadedConfig, load_config
from ledgerbridge.core.errors import ConfigError

EXIT_CONFIG = 2
_err = Console(stderr=True, highlight=False)


def load_or_exit(path: Path) -> LoadedConfig:
    """Load and validate ``path``; print every problem and exit 2 when it is invalid.

    Raises:
        typer.Exit: the configuration has problems (code 2).
    """
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        _err.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    for warning in loaded.warnings:
        _err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    return loaded

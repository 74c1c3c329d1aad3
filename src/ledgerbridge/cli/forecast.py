"""``ledgerbridge forecast``: weighted pipeline and expected collections per week or month, as a table,
CSV and a PNG chart (layer ``cli``; imports ``app`` and ``core`` only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledgerbridge.app.config import DEFAULT_CONFIG_FILE
from ledgerbridge.app.forecast import ForecastReport, Granularity, forecast, to_csv, to_png
from ledgerbridge.cli.ops import EXIT_CONFIG, ConfigOpt, JsonOpt, StateOpt, _json, _load, _run

__all__ = ["register"]

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _table(report: ForecastReport) -> Table:
    table = Table(title=f"Cash-flow forecast by {report.granularity} ({report.currency})")
    for col in ("period", "start", "weighted pipeline", "expected collections", "total"):
        table.add_column(col, justify="right" if col not in ("period", "start") else "left")
    for p in report.periods:
        table.add_row(p.label, p.start.isoformat(), f"{p.weighted_pipeline:,.2f}",
                      f"{p.expected_collections:,.2f}", f"{p.total:,.2f}")
    table.add_row("later", "", f"{report.beyond_pipeline:,.2f}", f"{report.beyond_collections:,.2f}",
                  f"{report.beyond_pipeline + report.beyond_collections:,.2f}")
    return table


def register(app: typer.Typer) -> None:
    """Add the ``forecast`` command to ``app``."""

    @app.command("forecast")
    def forecast_cmd(
            weeks: Annotated[int | None, typer.Option("--weeks", help="N weekly periods")] = None,
            months: Annotated[int | None, typer.Option("--months", help="N monthly periods (6)")] = None,
            csv_file: Annotated[Path | None, typer.Option("--csv", help="write the periods as CSV")] = None,
            png_file: Annotated[Path | None, typer.Option("--png", help="write a bar chart as PNG")] = None,
            config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None,
            as_json: JsonOpt = False) -> None:
        """Weighted pipeline (open opportunities by close date) and expected collections (open
        invoices by due date, shifted by each customer's days-to-pay) per week or month."""
        if weeks is not None and months is not None:
            err.print("[red]error:[/] give either --weeks or --months, not both")
            raise typer.Exit(EXIT_CONFIG)
        n = weeks if weeks is not None else months if months is not None else 6
        if n < 1 or n > 520:
            err.print("[red]error:[/] the number of periods must be between 1 and 520")
            raise typer.Exit(EXIT_CONFIG)
        granularity: Granularity = "week" if weeks is not None else "month"
        cfg = _load(config)
        with err.status("forecasting: reading open opportunities, invoices and payments"):
            report = _run(forecast(cfg, granularity=granularity, periods=n, state_url=state))
        if csv_file is not None:
            csv_file.write_text(to_csv(report), encoding="utf-8")
        if png_file is not None:
            png_file.write_bytes(to_png(report))
        if as_json:
            _json({"granularity": report.granularity, "currency": report.currency,
                   "generated_at": report.generated_at,
                   "periods": [{"start": p.start, "label": p.label,
                                "weighted_pipeline": str(p.weighted_pipeline),
                                "expected_collections": str(p.expected_collections),
                                "total": str(p.total)} for p in report.periods],
                   "beyond": {"weighted_pipeline": str(report.beyond_pipeline),
                              "expected_collections": str(report.beyond_collections)}})
            return
        out.print(_table(report))
        for path, what in ((csv_file, "CSV"), (png_file, "chart")):
            if path is not None:
                err.print(f"wrote {what} to {path}")

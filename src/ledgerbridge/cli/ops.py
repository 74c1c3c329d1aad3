"""Engine operations on the command line: sync, plan, status, dlq, reviews, conflicts, reconcile,
and mapping preview (layer ``cli``; imports ``app`` and ``core`` only).

Read commands accept ``--json``. Exit codes: 0 ok, 1 failures were recorded (dead letters, drift
left), 2 configuration or usage error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledgerbridge.app import services
from ledgerbridge.app.config import DEFAULT_CONFIG_FILE, LedgerBridgeConfig
from ledgerbridge.cli.loading import load_or_exit
from ledgerbridge.core.errors import ConfigError, LedgerBridgeError
from ledgerbridge.core.records import JsonValue, System

T = TypeVar("T")
EXIT_OK, EXIT_FAILURES, EXIT_CONFIG = 0, 1, 2

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

ConfigOpt = Annotated[Path, typer.Option("-c", "--config", help="configuration file")]
StateOpt = Annotated[str | None, typer.Option("--state", help="state store URL (overrides state.url)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _load(path: Path) -> LedgerBridgeConfig:
    return load_or_exit(path).config


def _run(work: Awaitable[T]) -> T:
    try:
        return asyncio.run(work)  # type: ignore[arg-type]
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except (LedgerBridgeError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        err.print(f"[red]error:[/] {message}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILURES) from None


def _working(message: str, quiet: bool) -> contextlib.AbstractContextManager[object]:
    """A spinner on standard error while a long operation runs (none with ``--json``)."""
    return contextlib.nullcontext() if quiet else err.status(message)


def _table(title: str, *columns: str) -> Table:
    """A rich table with these column headings."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    return table


def _plain(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _json(value: object) -> None:
    typer.echo(json.dumps(_plain(value), indent=2, default=str))


def _summary_table(summary: services.SyncSummary, title: str) -> Table:
    table = _table(title, "link", "synced", "skipped", "waiting", "dead-lettered", "actions", "API calls")
    for name, s in summary.links.items():
        actions = ", ".join(f"{k} {v}" for k, v in sorted(s.actions.items())) or "-"
        calls = ", ".join(f"{k} {v}" for k, v in sorted(s.api_calls.items())) or "-"
        table.add_row(name, str(s.counts["synced"]), str(s.counts["skipped"]), str(s.counts["waiting"]),
                      str(s.counts["dead_lettered"]), actions, calls)
        if s.error:
            table.add_row(f"[red]{name} failed[/]", s.error, "", "", "", "", "")
    return table


def register(app: typer.Typer) -> None:
    """Add the operations commands to the ``ledgerbridge`` Typer app."""

    @app.command("sync")
    def sync_cmd(links: Annotated[list[str] | None, typer.Argument(help="link names")] = None,
                 all_links: Annotated[bool, typer.Option("--all", help="every link, parents first")] = False,
                 full: Annotated[bool, typer.Option("--full", help="re-read all records")] = False,
                 config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None,
                 as_json: JsonOpt = False) -> None:
        """One pass of the named links (or --all); exit 1 when records were dead-lettered."""
        if not links and not all_links:
            err.print("[red]error:[/] name one or more links, or pass --all")
            raise typer.Exit(EXIT_CONFIG)
        cfg = _load(config)
        with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed} records"), TimeElapsedColumn(),
                      console=err, transient=as_json, disable=as_json) as progress:
            task = progress.add_task("syncing", total=None)

            def tick(outcome: services.RecordOutcome) -> None:
                progress.update(task, advance=1, description=f"syncing {outcome.link}")

            summary = _run(services.sync(cfg, None if all_links else links, full=full, state_url=state,
                                         on_progress=tick))
        if as_json:
            _json({"run_id": summary.run_id, "ok": summary.ok, "counts": dict(summary.counts),
                   "links": {k: {"counts": dict(v.counts), "actions": dict(v.actions),
                                 "api_calls": dict(v.api_calls), "error": v.error}
                             for k, v in summary.links.items()}})
        else:
            out.print(_summary_table(summary, f"sync {summary.run_id[:8]}"))
        raise typer.Exit(EXIT_OK if summary.ok else EXIT_FAILURES)

    @app.command("plan")
    def plan_cmd(links: Annotated[list[str] | None, typer.Argument(help="link names (default: all)")] = None,
                 config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None,
                 as_json: JsonOpt = False) -> None:
        """What a pass would create, update, link and deactivate, and the API calls it would cost."""
        cfg = _load(config)
        with _working("planning: reading both systems (nothing is written)", as_json):
            summary = _run(services.plan(cfg, links, state_url=state))
        if as_json:
            _json({k: {"actions": dict(v.actions), "api_calls": dict(v.api_calls),
                       "counts": dict(v.counts)} for k, v in summary.links.items()})
        else:
            out.print(_summary_table(summary, "plan (nothing was written)"))

    @app.command("status")
    def status_cmd(config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None,
                   as_json: JsonOpt = False) -> None:
        """Pairs, feed positions, queue sizes and the last run of every link."""
        cfg = _load(config)
        rows = _run(services.status(cfg, state_url=state))
        if as_json:
            _json(rows)
            return
        table = _table("links", "link", "pairs", "dead letters", "reviews", "conflicts", "last run")
        for r in rows:
            last = (f"{r.last_run.status.value} {r.last_run.started_at:%Y-%m-%d %H:%M:%S}"
                    if r.last_run else "never")
            table.add_row(r.link, str(r.n_pairs), str(r.n_dead_letters), str(r.n_reviews),
                          str(r.n_conflicts), last)
        out.print(table)

    dlq = typer.Typer(help="Dead letters: records that could not be synced.", no_args_is_help=True)
    app.add_typer(dlq, name="dlq")

    @dlq.command("list")
    def dlq_list(link: Annotated[str | None, typer.Option("--link")] = None,
                 config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None,
                 as_json: JsonOpt = False) -> None:
        """Open dead letters, newest first."""
        letters = _run(services.dlq_list(_load(config), link=link, state_url=state))
        if as_json:
            _json(letters)
            return
        table = _table(f"{len(letters)} open dead letters",
                       "id", "link", "from", "record", "step", "error", "attempts")
        for d in letters:
            table.add_row(d.id[:12], d.link, d.system.value, d.source_id, d.step.value,
                          f"{d.error_code}: {d.error_message}", str(d.attempts))
        out.print(table)

    @dlq.command("show")
    def dlq_show(letter_id: str, config: ConfigOpt = Path(DEFAULT_CONFIG_FILE),
                 state: StateOpt = None) -> None:
        """One dead letter with its payload (JSON)."""
        _json(_run(services.dlq_show(_load(config), letter_id, state_url=state)))

    @dlq.command("retry")
    def dlq_retry(letter_ids: Annotated[list[str] | None, typer.Argument()] = None,
                  all_open: Annotated[bool, typer.Option("--all", help="every open dead letter")] = False,
                  payload: Annotated[Path | None, typer.Option(
                      "--payload", help="JSON file with edited target values (one letter only)")] = None,
                  config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None) -> None:
        """Run dead letters through the pipeline again; exit 1 if any fails again."""
        if not letter_ids and not all_open:
            err.print("[red]error:[/] give dead-letter ids or --all")
            raise typer.Exit(EXIT_CONFIG)
        edited: dict[str, JsonValue] | None = None
        if payload is not None:
            try:
                edited = json.loads(payload.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                err.print(f"[red]error:[/] --payload {payload}: {exc}")
                raise typer.Exit(EXIT_CONFIG) from None
        with _working("retrying dead letters", False):
            result = _run(services.dlq_retry(_load(config), letter_ids or [], all_open=all_open,
                                             payload=edited, state_url=state))
        if isinstance(result, list):
            failed = [o for o in result if o is None or o.outcome.value == "dead_lettered"]
            for o in result:
                if o is not None:
                    out.print(f"{o.link} {o.system.value} {o.id}: {o.outcome.value} {o.reason}")
            raise typer.Exit(EXIT_FAILURES if failed else EXIT_OK)
        out.print(_summary_table(result, "retry"))
        raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILURES)

    @dlq.command("discard")
    def dlq_discard(letter_id: str, reason: Annotated[str, typer.Option("--reason", help="why")],
                    config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None) -> None:
        """Give up on a dead letter (kept for the record)."""
        d = _run(services.dlq_discard(_load(config), letter_id, reason=reason, state_url=state))
        out.print(f"discarded {d.id}")

    reviews = typer.Typer(help="Match reviews: records that may already exist on the other side.",
                          no_args_is_help=True)
    app.add_typer(reviews, name="reviews")

    @reviews.command("list")
    def reviews_list(link: Annotated[str | None, typer.Option("--link")] = None,
                     config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None,
                     as_json: JsonOpt = False) -> None:
        """Open match reviews with their candidates and scores."""
        items = _run(services.reviews_list(_load(config), link=link, state_url=state))
        if as_json:
            _json(items)
            return
        table = _table(f"{len(items)} open reviews", "id", "link", "record", "candidates (id score rule)")
        for r in items:
            cands = "; ".join(f"{c.id} {c.score:.0f} {c.rule} {c.label}" for c in r.candidates)
            table.add_row(r.id[:12], r.link, f"{r.system.value} {r.record_id} {r.label}", cands)
        out.print(table)

    @reviews.command("link")
    def reviews_link(review_id: str, candidate_id: str, config: ConfigOpt = Path(DEFAULT_CONFIG_FILE),
                     state: StateOpt = None) -> None:
        """Link the record to a candidate."""
        o = _run(services.review_link(_load(config), review_id, candidate_id, state_url=state))
        out.print(f"linked: {o.outcome.value if o else 'done'}")

    @reviews.command("create")
    def reviews_create(review_id: str, config: ConfigOpt = Path(DEFAULT_CONFIG_FILE),
                       state: StateOpt = None) -> None:
        """Create a new partner record instead of linking."""
        o = _run(services.review_create(_load(config), review_id, state_url=state))
        out.print(f"created: {o.outcome.value if o else 'done'}")

    conflicts = typer.Typer(help="Field conflicts waiting for a person.", no_args_is_help=True)
    app.add_typer(conflicts, name="conflicts")

    @conflicts.command("list")
    def conflicts_list(link: Annotated[str | None, typer.Option("--link")] = None,
                       config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None,
                       as_json: JsonOpt = False) -> None:
        """Open conflicts, side by side."""
        items = _run(services.conflicts_list(_load(config), link=link, state_url=state))
        if as_json:
            _json(items)
            return
        table = _table(f"{len(items)} open conflicts",
                       "id", "link", "pair", "field", "baseline", "salesforce", "netsuite")
        for c in items:
            table.add_row(c.id[:12], c.link, f"{c.sf_id} / {c.ns_id}", c.field, repr(c.base_sf),
                          repr(c.sf_value), repr(c.ns_value))
        out.print(table)

    @conflicts.command("resolve")
    def conflicts_resolve(conflict_id: str,
                          pick: Annotated[str | None, typer.Option("--pick", help="side")] = None,
                          value: Annotated[str | None, typer.Option("--value", help="a JSON value")] = None,
                          config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None) -> None:
        """Settle a conflict with --pick salesforce|netsuite or --value JSON."""
        parsed: JsonValue = None
        if value is not None:
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
        o = _run(services.conflict_resolve(_load(config), conflict_id, pick=pick, value=parsed,
                                           use_value=value is not None, state_url=state))
        out.print(f"resolved: {o.outcome.value if o else 'done'}")

    @app.command("reconcile")
    def reconcile_cmd(link: str, heal: Annotated[bool, typer.Option("--heal", help="repair")] = False,
                      config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None,
                      as_json: JsonOpt = False) -> None:
        """Compare both systems fully: missing, orphaned and drifted records (exit 1 if not clean)."""
        with _working(f"reconciling {link}: comparing both systems fully", as_json):
            report = _run(services.reconcile(_load(config), link, heal=heal, state_url=state))
        if as_json:
            _json({"link": report.link, "pairs": report.n_pairs, "clean": report.is_clean,
                   "missing": {k.value: v for k, v in report.missing.items()},
                   "unlinked": {k.value: v for k, v in report.unlinked.items()},
                   "orphaned": report.orphaned, "drifted": report.drifted})
        else:
            out.print(f"[bold]{report.link}[/]: {report.n_pairs} pairs")
            for s in System:
                out.print(f"  missing in {s.value}: {len(report.missing[s])}   "
                          f"unlinked in {s.value}: {len(report.unlinked[s])}")
            out.print(f"  orphaned xrefs: {len(report.orphaned)}   drifted pairs: {len(report.drifted)}")
            for d in report.drifted[:20]:
                out.print(f"    {d.sf_id} / {d.ns_id}: {', '.join(d.fields)}")
            if report.healed is not None:
                out.print(_summary_table(report.healed, "heal"))
        clean = report.is_clean or (report.healed is not None and report.healed.ok)
        raise typer.Exit(EXIT_OK if clean else EXIT_FAILURES)

    mapping = typer.Typer(help="Inspect field mappings.", no_args_is_help=True)
    app.add_typer(mapping, name="mapping")

    @mapping.command("preview")
    def mapping_preview(link: str, record_id: Annotated[str, typer.Option("--id", help="source record id")],
                        side: Annotated[str, typer.Option("--from", help="salesforce|netsuite")] = "",
                        config: ConfigOpt = Path(DEFAULT_CONFIG_FILE), state: StateOpt = None,
                        as_json: JsonOpt = False) -> None:
        """For a live record: the mapped values, the target's current values and the diff (no writes)."""
        system = System(side) if side else (System.NETSUITE if record_id.isdigit() else System.SALESFORCE)
        p = _run(services.preview(_load(config), link, system, record_id, state_url=state))
        if as_json:
            _json(p)
            return
        target = f"{p.target.value} {p.target_id or '(new)'}"
        table = _table(f"{link}: {p.source.value} {p.source_id} -> {target}",
                       "field", "mapped", "current", "")
        for f in p.fields:
            table.add_row(f.field, json.dumps(f.mapped), json.dumps(f.current),
                          "[yellow]differs[/]" if f.differs else "")
        out.print(table)

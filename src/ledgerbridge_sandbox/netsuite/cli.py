"""``python -m ledgerbridge_sandbox netsuite [options]``: run the NetSuite sandbox in the foreground.

Layer: front end of the sandbox; imports ``app``, ``config`` and the shared ``serve``/``tls`` helpers.

Options: ``--port 8702`` (0 picks a free port), ``--host``, ``--account-id``, ``--data FILE`` (SQLite;
kept between runs; default in memory), ``--seed demo|empty``, ``--scale N``, ``--reset``,
``--concurrency C``, ``--integration-concurrency N``, ``--latency-ms X`` (``250``, ``150-400`` or
``realistic``), ``--error-rate``, ``--record-changed-rate``, ``--invalid-login-rate``, ``--rng-seed``,
``--timezone``,
``--custom-fields FILE``, ``--tls``, ``--json``, ``--push-url URL --push-secret SECRET`` (post the
User Event script's signed calls for UI edits; see ``push.py``), and explicit credentials
(``--consumer-key``, ``--consumer-secret``, ``--token-id``, ``--token-secret``, ``--oauth2-client-id``,
``--oauth2-certificate-id``). With ``--json`` the first line on standard output, once the socket
accepts connections, is one JSON object: ``base_url`` (append ``/services/rest/...``), ``account_id``,
``consumer_key``, ``consumer_secret``, ``token_id``, ``token_secret``, ``oauth2_client_id``,
``oauth2_certificate_id``, ``oauth2_private_key_file`` and, with ``--tls``, ``ca_file``.

For a combined launcher (``python -m ledgerbridge_sandbox up``) that runs this sandbox next to the
Salesforce one in one process::

    from ledgerbridge_sandbox.netsuite.cli import add_arguments, build_server
    parser = argparse.ArgumentParser(); add_arguments(parser)     # or parse_args(argv)
    server = build_server(parser.parse_args(["--seed", "demo"]))
    run_foreground([(server.app, server.host, server.port, server.tls)],
                   lambda ports: {"netsuite": server.info(ports[0])})

``build_server`` returns a ``SandboxServer`` with ``app``, ``host``, ``port`` (0 = pick one), ``tls``
(``TLSFiles`` or None) and ``info(bound_port) -> dict`` (the JSON described above).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from ledgerbridge_sandbox.netsuite.app import create_app
from ledgerbridge_sandbox.netsuite.config import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_OAUTH2_CERTIFICATE_ID,
    DEFAULT_OAUTH2_CLIENT_ID,
    DEFAULT_TOKEN_ID,
    DEFAULT_TOKEN_SECRET,
    LATENCY_PRESETS,
    NetSuiteSandboxConfig,
    parse_range,
)
from ledgerbridge_sandbox.netsuite.push import configure_push
from ledgerbridge_sandbox.serve import run_foreground
from ledgerbridge_sandbox.tls import TLSFiles, ensure_tls_files

DEFAULT_PORT = 8702
"""Port the NetSuite sandbox listens on by default."""


@dataclass
class SandboxServer:
    """What a launcher needs to serve the sandbox.

    Attributes:
        app: the ASGI app.
        host: interface to bind.
        port: port (0 picks a free one).
        tls: certificate files, or None for plain HTTP.
        info: given the bound port, the connection details (``base_url``, credentials, ...).
    """

    app: Starlette
    host: str
    port: int
    tls: TLSFiles | None
    info: Callable[[int], dict[str, Any]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's options to a parser."""
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument(
        "--account-id", default=DEFAULT_ACCOUNT_ID, help="account id, e.g. 1234567 or 1234567_SB1"
    )
    parser.add_argument("--data", type=Path, default=None, help="SQLite file (default: in memory)")
    parser.add_argument("--seed", choices=["demo", "empty"], default="demo", help="data for a new account")
    parser.add_argument("--scale", type=int, default=None, help="demo size: companies drawn (default 200)")
    parser.add_argument(
        "--reset", action="store_true", help="reseed even when --data already holds an account"
    )
    parser.add_argument("--concurrency", type=int, default=5, help="account concurrency limit")
    parser.add_argument(
        "--integration-concurrency",
        type=int,
        default=None,
        help="per-integration concurrency limit (reported by governanceLimits)",
    )
    parser.add_argument(
        "--latency-ms",
        default="0",
        help=f"added latency: N, LOW-HIGH, or a preset ({', '.join(LATENCY_PRESETS)})",
    )
    parser.add_argument("--error-rate", type=float, default=0.0, help="probability of 500 UNEXPECTED_ERROR")
    parser.add_argument(
        "--record-changed-rate",
        type=float,
        default=0.0,
        help="probability of RCRD_HAS_BEEN_CHANGED on writes",
    )
    parser.add_argument(
        "--invalid-login-rate",
        type=float,
        default=0.0,
        help="probability of a spurious 401 INVALID_LOGIN (seen under load)",
    )
    parser.add_argument("--rng-seed", type=int, default=0, help="seed of the fault/latency random generator")
    parser.add_argument("--timezone", default="UTC", help="time zone SuiteQL shows datetimes in")
    parser.add_argument("--custom-fields", type=Path, default=None, help="custom field schema (JSON)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a local CA")
    parser.add_argument("--json", action="store_true", help="print the connection details as one JSON line")
    parser.add_argument("--consumer-key", default=DEFAULT_CONSUMER_KEY)
    parser.add_argument("--consumer-secret", default=DEFAULT_CONSUMER_SECRET)
    parser.add_argument("--token-id", default=DEFAULT_TOKEN_ID)
    parser.add_argument("--token-secret", default=DEFAULT_TOKEN_SECRET)
    parser.add_argument("--oauth2-client-id", default=DEFAULT_OAUTH2_CLIENT_ID)
    parser.add_argument("--oauth2-certificate-id", default=DEFAULT_OAUTH2_CERTIFICATE_ID)
    parser.add_argument("--push-url", default=None, help="webhook the User Event script posts UI edits to")
    parser.add_argument("--push-secret", default=None, help="HMAC-SHA256 key of those push calls")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the sandbox's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m ledgerbridge_sandbox netsuite", description="NetSuite SuiteTalk REST sandbox"
    )
    add_arguments(parser)
    return parser.parse_args(argv)


def build_server(args: argparse.Namespace) -> SandboxServer:
    """Build the app and connection details from parsed options.

    Args:
        args: options from ``add_arguments``.

    Returns:
        The server description.
    """
    data_dir = Path(str(args.data) + ".keys") if args.data else Path(".sandbox-data") / "netsuite"
    config = NetSuiteSandboxConfig(
        account_id=args.account_id,
        consumer_key=args.consumer_key,
        consumer_secret=args.consumer_secret,
        token_id=args.token_id,
        token_secret=args.token_secret,
        oauth2_client_id=args.oauth2_client_id,
        data_path=str(args.data) if args.data else ":memory:",
        custom_fields_file=args.custom_fields,
        concurrency_limit=args.concurrency,
        integration_concurrency_limit=args.integration_concurrency,
        error_rate=args.error_rate,
        record_changed_rate=args.record_changed_rate,
        invalid_login_rate=args.invalid_login_rate,
        rng_seed=args.rng_seed,
        suiteql_timezone=args.timezone,
        key_dir=data_dir,
        oauth2_certificate_id=args.oauth2_certificate_id,
    )
    if args.latency_ms in LATENCY_PRESETS:
        config.set_latency(args.latency_ms)
    else:
        config.set_latency(_latency(args.latency_ms))
    if args.data and args.data.parent:
        args.data.parent.mkdir(parents=True, exist_ok=True)
    tls = ensure_tls_files(data_dir / "tls") if args.tls else None
    holder: dict[str, Any] = {}

    def info(port: int) -> dict[str, Any]:
        host = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host
        scheme = "https" if tls else "http"
        base = f"{scheme}://{host}:{port}"
        out: dict[str, Any] = {
            "base_url": base,
            "rest_url": f"{base}/services/rest",
            "account_id": config.account_id,
            "realm": config.realm,
            "consumer_key": config.consumer_key,
            "consumer_secret": config.consumer_secret,
            "token_id": config.token_id,
            "token_secret": config.token_secret,
            "oauth2_client_id": config.oauth2_client_id,
            "oauth2_certificate_id": config.oauth2_certificate_id,
            "oauth2_token_url": f"{base}/services/rest/auth/oauth2/v1/token",
            "admin_url": f"{base}/__sandbox__",
        }
        sandbox = holder.get("sandbox")
        if sandbox is not None and sandbox.m2m_key is not None:
            out["oauth2_private_key_file"] = str(sandbox.m2m_key.private_key_file.resolve())
        if tls is not None:
            out["ca_file"] = str(tls.ca_file.resolve())
        return out

    state = {"port": args.port}
    app = create_app(
        config, seed=args.seed, scale=args.scale, info=lambda: info(int(state["port"])), reset=args.reset
    )
    holder["sandbox"] = app.state.sandbox
    configure_push(app, args.push_url, args.push_secret)

    def bound_info(port: int) -> dict[str, Any]:
        state["port"] = port
        return info(port)

    return SandboxServer(app, args.host, args.port, tls, bound_info)


def _latency(text: str) -> float | str:
    try:
        lo, hi = parse_range(text)
    except ValueError:
        raise SystemExit(f"invalid --latency-ms {text!r}") from None
    return f"{lo}-{hi}" if hi != lo else lo


def main(argv: list[str]) -> int:
    """Run the sandbox until interrupted.

    Args:
        argv: command-line arguments after ``netsuite``.

    Returns:
        Exit status.
    """
    args = parse_args(argv)
    server = build_server(args)

    def ready(ports: list[int]) -> dict[str, Any] | None:
        info = server.info(ports[0])
        if args.json:
            return info
        lines = [
            f"NetSuite sandbox (account {info['account_id']}) listening on {info['base_url']}",
            f"  REST base URL     {info['rest_url']}",
            f"  TBA realm         {info['realm']}",
            f"  consumer key      {info['consumer_key']}",
            f"  consumer secret   {info['consumer_secret']}",
            f"  token id          {info['token_id']}",
            f"  token secret      {info['token_secret']}",
            f"  OAuth 2.0 client  {info['oauth2_client_id']}",
            f"  certificate id    {info['oauth2_certificate_id']}",
            f"  M2M private key   {info.get('oauth2_private_key_file', '-')}",
            f"  admin API         {info['admin_url']}",
        ]
        if "ca_file" in info:
            lines.append(f"  CA bundle         {info['ca_file']}")
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        return None

    run_foreground([(server.app, server.host, server.port, server.tls)], ready)
    return 0

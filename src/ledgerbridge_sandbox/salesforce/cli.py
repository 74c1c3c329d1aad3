"""``python -m ledgerbridge_sandbox salesforce ...``: run the Salesforce sandbox.

Front-end layer; imports the app, the state, ``ledgerbridge_sandbox.serve`` and
``ledgerbridge_sandbox.tls``. Options::

    --port 8701 (0 = any free port)  --host 127.0.0.1  --data FILE (default: in memory)
    --seed demo|empty  --scale N  --seed-number 42  --api-version 62.0
    --latency-ms X  --latency-jitter-ms LO,HI  --error-rate R  --lock-row-rate R  --fault-seed N
    --api-allocation N  --token-lifetime SECONDS  --tls  --json
    --client-id  --client-secret  --username  --password  --security-token  --jwt-certificate FILE
    --schema FILE (repeatable)  --multi-currency  --no-duplicate-rules  --admin-token TOKEN
    --pubsub-port N (also serve the Pub/Sub API, 0 = any free port)  --pubsub-keepalive SECONDS

On start it prints the instance URL and the credentials of every auth mode; with ``--json``
the first line on standard output is one JSON object (``instance_url``, ``login_url``,
``api_version``, ``client_id``, ``client_secret``, ``username``, ``password``, ``security_token``,
``access_token``, ``refresh_token``, ``jwt_private_key_file``, ``ca_file`` with ``--tls``,
``pubsub_port`` with ``--pubsub-port``...),
printed once the server accepts connections; the human-readable text then goes to stderr.

To run the sandbox next to other servers in one process (the combined ``up`` command), use
``build_server(argv)``: it returns a ``ServerSpec`` ``(app, host, port, tls, info_fn)``; hand
``(app, host, port, tls)`` to ``serve.run_foreground`` and call ``info_fn(bound_port)`` from its
``ready`` callback to get the JSON-line dict.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from starlette.applications import Starlette

from ledgerbridge_sandbox.salesforce.app import create_app
from ledgerbridge_sandbox.salesforce.config import (
    DEFAULT_API_ALLOCATION,
    DEFAULT_API_VERSION,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_PORT,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_TOKEN_LIFETIME_S,
    DEFAULT_USERNAME,
    Faults,
    SalesforceSandboxConfig,
)
from ledgerbridge_sandbox.salesforce.pubsub_serve import attach_pubsub
from ledgerbridge_sandbox.salesforce.seed import SEEDS
from ledgerbridge_sandbox.salesforce.state import SandboxState
from ledgerbridge_sandbox.serve import run_foreground
from ledgerbridge_sandbox.tls import TLSFiles, ensure_tls_files


class ServerSpec(NamedTuple):
    """What a runner needs to serve the sandbox: the app, where, TLS, and the info function."""

    app: Starlette
    host: str
    port: int
    tls: TLSFiles | None
    info_fn: Callable[[int], dict[str, Any]]


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="python -m ledgerbridge_sandbox salesforce", description="Run the Salesforce REST API sandbox."
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 = any free port)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--data", default=":memory:", help="SQLite file keeping the org (default: in memory)")
    p.add_argument("--seed", choices=SEEDS, default="demo", help="data of a new org")
    p.add_argument("--scale", type=int, default=None, help="generate N accounts (demo seed)")
    p.add_argument("--seed-number", type=int, default=42, help="random seed of the generated data")
    p.add_argument("--api-version", default=DEFAULT_API_VERSION, help="newest API version served")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every API call")
    p.add_argument("--latency-jitter-ms", default=None, help="LO,HI: uniform random delay instead")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of API calls answered with 503")
    p.add_argument(
        "--lock-row-rate", type=float, default=0.0, help="share of writes failing UNABLE_TO_LOCK_ROW"
    )
    p.add_argument("--fault-seed", type=int, default=0, help="random seed of injected faults")
    p.add_argument("--api-allocation", type=int, default=DEFAULT_API_ALLOCATION, help="daily API calls")
    p.add_argument(
        "--token-lifetime",
        type=float,
        default=DEFAULT_TOKEN_LIFETIME_S,
        help="session timeout in seconds (inactivity)",
    )
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a local CA (reported as ca_file)")
    p.add_argument("--json", action="store_true", help="print one JSON line with URLs and credentials first")
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    p.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    p.add_argument("--username", default=DEFAULT_USERNAME)
    p.add_argument("--password", default=DEFAULT_PASSWORD)
    p.add_argument("--security-token", default=DEFAULT_SECURITY_TOKEN)
    p.add_argument(
        "--jwt-certificate",
        type=Path,
        default=None,
        help="PEM certificate or public key trusted for JWT bearer (default: generated)",
    )
    p.add_argument("--schema", type=Path, action="append", default=[], help="extra schema file (YAML/JSON)")
    p.add_argument("--multi-currency", action="store_true", help="add CurrencyIsoCode to objects")
    p.add_argument(
        "--no-duplicate-rules", action="store_true", help="switch the standard duplicate rules off"
    )
    p.add_argument("--admin-token", default=None, help="require this bearer token on /__sandbox__")
    p.add_argument("--pubsub-port", type=int, default=None, help="also serve the Pub/Sub API (0 = any port)")
    p.add_argument("--pubsub-keepalive", type=float, default=270.0, help="Pub/Sub keepalive, seconds")
    return p


def config_from_args(args: argparse.Namespace) -> SalesforceSandboxConfig:
    """Translate parsed options into a config."""
    jitter = None
    if args.latency_jitter_ms:
        lo, _, hi = str(args.latency_jitter_ms).partition(",")
        jitter = (float(lo), float(hi or lo))
    return SalesforceSandboxConfig(
        data=args.data,
        seed=args.seed,
        scale=args.scale,
        seed_number=args.seed_number,
        api_version=args.api_version,
        client_id=args.client_id,
        client_secret=args.client_secret,
        username=args.username,
        password=args.password,
        security_token=args.security_token,
        jwt_certificate_file=args.jwt_certificate,
        api_allocation=args.api_allocation,
        token_lifetime_s=args.token_lifetime,
        duplicate_rules=not args.no_duplicate_rules,
        multi_currency=args.multi_currency,
        schema_files=tuple(args.schema),
        admin_token=args.admin_token,
        faults=Faults(
            latency_ms=args.latency_ms,
            latency_jitter_ms=jitter,
            server_error_rate=args.error_rate,
            lock_row_rate=args.lock_row_rate,
            seed=args.fault_seed,
        ),
    )


def _tls_dir(state: SandboxState) -> Path:
    if state.config.data != ":memory:" or state.config.key_dir is not None:
        return state.key_dir / "tls"
    return Path(tempfile.mkdtemp(prefix="lb-sf-tls-"))


def build_server(argv: list[str] | argparse.Namespace) -> ServerSpec:
    """Build the sandbox from command-line options without serving it.

    Args:
        argv: the options (as for ``main``) or an already parsed namespace.

    Returns:
        ``(app, host, port, tls, info_fn)``; ``info_fn(bound_port)`` gives the JSON-line dict.
    """
    args = argv if isinstance(argv, argparse.Namespace) else parser().parse_args(argv)
    state = SandboxState(config_from_args(args))
    tls = ensure_tls_files(_tls_dir(state)) if args.tls else None
    app = create_app(state=state)
    host = str(args.host)
    pubsub = None
    if args.pubsub_port is not None:
        pubsub = attach_pubsub(app, state, host=host, port=args.pubsub_port, tls=tls,
                               keepalive_s=args.pubsub_keepalive)

    def info_fn(port: int) -> dict[str, Any]:
        shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
        scheme = "https" if tls else "http"
        info = state.info(f"{scheme}://{shown}:{port}", tls.ca_file if tls else None)
        if pubsub is not None:
            info["pubsub_port"] = pubsub.port
        return info

    return ServerSpec(app, host, int(args.port), tls, info_fn)


def human_text(info: dict[str, Any]) -> str:
    """The start-up banner: URL and credentials for every auth mode."""
    v = info["api_version"]
    lines = [
        f"Salesforce sandbox ready at {info['instance_url']}  (API v{v}, org {info['org_id']})",
        "",
        f"  REST base        {info['instance_url']}/services/data/v{v}/",
        f"  Access token     {info['access_token']}",
        f"  Token endpoint   POST {info['login_url']}/services/oauth2/token",
        f"  Client id        {info['client_id']}",
        f"  Client secret    {info['client_secret']}",
        f"  Username         {info['username']}",
        f"  Password         {info['password']}   security token {info['security_token']}",
        "    password grant: password = password + security token",
        f"  JWT bearer       sign with {info['jwt_private_key_file']} (iss = client id, sub = username,",
        f"                   aud = https://login.salesforce.com or {info['login_url']})",
        f"  SOAP login       POST {info['login_url']}/services/Soap/u/{v}",
        f"  Refresh token    {info['refresh_token']}",
        f"  Admin API        {info['admin_url']}  (reset, seed, requests, changes, config)",
    ]
    if info.get("ca_file"):
        lines.append(f"  CA bundle        {info['ca_file']}")
    return "\n".join(lines) + "\n"


@dataclass
class _Ready:
    spec: ServerSpec
    as_json: bool

    def __call__(self, ports: list[int]) -> dict[str, Any] | None:
        info = self.spec.info_fn(ports[0])
        if self.as_json:
            sys.stderr.write(human_text(info))
            sys.stderr.flush()
            return info
        sys.stdout.write(human_text(info))
        sys.stdout.flush()
        return None


def main(argv: list[str]) -> int:
    """Run the sandbox in the foreground until interrupted.

    Args:
        argv: command-line options (see the module docstring).

    Returns:
        The exit status.
    """
    args = parser().parse_args(argv)
    try:
        spec = build_server(args)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"salesforce sandbox: {exc}\n")
        return 2
    run_foreground([(spec.app, spec.host, spec.port, spec.tls)], _Ready(spec, bool(args.json)))
    return 0

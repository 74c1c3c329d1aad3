"""``python -m ledgerbridge_sandbox up``: both sandboxes, demo seeds, default ports, one process.

Salesforce on 8701 and NetSuite on 8702 with their default credentials (listed in the README).
With ``--json`` the first stdout line is ``{"salesforce": {...}, "netsuite": {...}}`` holding each
sandbox's own JSON line. ``--sf-port``/``--ns-port`` (0 = free ports), ``--seed``, ``--tls`` and
``--data-dir`` are passed on to both. Both start with no added latency (their admin APIs set one).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ledgerbridge_sandbox.serve import run_foreground


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(prog="python -m ledgerbridge_sandbox up",
                                description="Run both sandboxes with demo data.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--sf-port", type=int, default=8701, help="Salesforce port (0: any free port)")
    p.add_argument("--ns-port", type=int, default=8702, help="NetSuite port (0: any free port)")
    p.add_argument("--seed", default="demo", choices=["demo", "empty"])
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a local CA")
    p.add_argument("--data-dir", default=None, help="keep both sandboxes' data in this folder")
    p.add_argument("--json", action="store_true", help="first stdout line: both sandboxes' JSON")
    p.add_argument("--sf-pubsub-port", type=int, default=None,
                   help="also serve Salesforce's Pub/Sub API on this port (0: any free port)")
    p.add_argument("--ns-push-url", default=None, help="NetSuite UI edits are pushed to this webhook")
    p.add_argument("--ns-push-secret", default=None, help="HMAC-SHA256 key of those push calls")
    return p


def _argv(args: argparse.Namespace, port: int, data_name: str) -> list[str]:
    argv = ["--host", args.host, "--port", str(port), "--seed", args.seed]
    if args.tls:
        argv.append("--tls")
    if args.data_dir:
        argv += ["--data", f"{args.data_dir}/{data_name}"]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Run both sandboxes until interrupted."""
    from ledgerbridge_sandbox.netsuite.cli import add_arguments as ns_arguments
    from ledgerbridge_sandbox.netsuite.cli import build_server as build_ns
    from ledgerbridge_sandbox.salesforce.cli import build_server as build_sf

    args = parser().parse_args(argv)
    sf_argv = _argv(args, args.sf_port, "salesforce.db")
    if args.sf_pubsub_port is not None:
        sf_argv += ["--pubsub-port", str(args.sf_pubsub_port)]
    sf = build_sf(sf_argv)
    ns_argv = _argv(args, args.ns_port, "netsuite.db")
    if args.ns_push_url:
        ns_argv += ["--push-url", args.ns_push_url, "--push-secret", args.ns_push_secret or ""]
    ns_parser = argparse.ArgumentParser()
    ns_arguments(ns_parser)
    ns = build_ns(ns_parser.parse_args(ns_argv))

    def ready(ports: list[int]) -> dict[str, Any] | None:
        info = {"salesforce": sf.info_fn(ports[0]), "netsuite": ns.info(ports[1])}
        sys.stderr.write(f"Salesforce sandbox: {info['salesforce'].get('instance_url')}\n"
                         f"NetSuite sandbox:   {info['netsuite'].get('base_url')}\n"
                         "Press Ctrl-C to stop.\n")
        if args.json:
            return info
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return None

    run_foreground([(sf.app, sf.host, sf.port, sf.tls), (ns.app, ns.host, ns.port, ns.tls)], ready)
    return 0

"""``python -m ledgerbridge_sandbox {salesforce|netsuite|up} ...``: run the emulators.

Each emulator owns its command-line parser (``salesforce/cli.py``, ``netsuite/cli.py``);
``up`` runs both with their demo seeds on the default ports (8701 Salesforce, 8702 NetSuite).
"""

from __future__ import annotations

import sys

USAGE = """usage: python -m ledgerbridge_sandbox {salesforce,netsuite,up} [options]

  salesforce   run the Salesforce REST API emulator (default port 8701)
  netsuite     run the NetSuite SuiteTalk REST emulator (default port 8702)
  up           run both with the demo seeds on their default ports

Add --help after a command for its options.
"""


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the emulator named by the first argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        sys.stdout.write(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "salesforce":
        from ledgerbridge_sandbox.salesforce.cli import main as sf_main

        return sf_main(rest)
    if command == "netsuite":
        from ledgerbridge_sandbox.netsuite.cli import main as ns_main

        return ns_main(rest)
    if command == "up":
        from ledgerbridge_sandbox.up import main as up_main

        return up_main(rest)
    sys.stderr.write(f"unknown command {command!r}\n\n{USAGE}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

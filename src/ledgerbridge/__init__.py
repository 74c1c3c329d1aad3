"""LedgerBridge keeps Salesforce and NetSuite in sync, both ways, in seconds.

The package is layered (see the README and the import contracts in ``pyproject.toml``):
``core`` (domain values, ports, errors) < ``flows`` / ``transport`` < ``engine`` / ``state`` /
``connectors`` < ``app`` (composition root and use cases) < ``dashboard`` < ``cli``. The names below
are the stable entry points; everything else is importable from its subpackage.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ledgerbridge.core.errors import ErrorKind, LedgerBridgeError
from ledgerbridge.core.records import Change, Record, System, Watermark, Write, WriteResult

try:
    __version__ = version("ledgerbridge")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "Change",
    "ErrorKind",
    "LedgerBridgeError",
    "Record",
    "System",
    "Watermark",
    "Write",
    "WriteResult",
    "__version__",
]

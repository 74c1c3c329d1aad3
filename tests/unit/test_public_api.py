"""The top-level package exports exactly its short, sorted list of public names."""

from __future__ import annotations

import ledgerbridge


def test_exact_export_list() -> None:
    assert ledgerbridge.__all__ == ["Change", "ErrorKind", "LedgerBridgeError", "Record", "System",
                                    "Watermark", "Write", "WriteResult", "__version__"]
    for name in ledgerbridge.__all__:
        assert hasattr(ledgerbridge, name), name


def test_version_is_the_installed_distributions() -> None:
    assert ledgerbridge.__version__.split(".")[0].isdigit()

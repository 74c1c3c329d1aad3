"""Test kit shipped with the package: in-memory systems and clocks, and captured log events.

Imports ``ledgerbridge.core`` only (and structlog), so any test suite (engine, app, CLI) can use it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog.testing

__all__ = ["capture_events"]


@contextmanager
def capture_events() -> Iterator[list[MutableMapping[str, Any]]]:
    """Collect the structured log events emitted inside the block (``event`` holds the dotted name,
    such as ``sync.record.written``; the bound context is in the other keys)."""
    with structlog.testing.capture_logs() as events:
        yield events

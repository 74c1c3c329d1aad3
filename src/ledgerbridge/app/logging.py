"""Logging setup with structlog (layer ``app``): console for people, JSON for machines.

Every event passes through a redaction processor that masks tokens, passwords, secrets,
``Authorization`` headers and OAuth signatures before any renderer sees it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from ledgerbridge.core.redaction import redact

LogFormat = Literal["console", "json"]


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every value of the event (keys named like secrets are masked)."""
    return redact(dict(event_dict))


class _StderrProxy:
    """Writes to whatever ``sys.stderr`` is at the time of the write (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(fmt: LogFormat = "console", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library logging for the whole process.

    Args:
        fmt: ``console`` (coloured, for people) or ``json`` (one object per line).
        level: minimum level name.
        stream: where to write (default standard error).
    """
    out: TextIO = stream or _StderrProxy()  # type: ignore[assignment]
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=out.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=numeric, stream=out, format="%(levelname)s %(name)s: %(message)s",
                        force=True)
    # Per-request lines of the HTTP client and migration chatter are for debugging only.
    for noisy in ("httpx2", "httpx", "httpcore", "alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))

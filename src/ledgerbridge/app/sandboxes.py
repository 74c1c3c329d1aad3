"""Start the local sandboxes as child processes (layer ``app``).

``ledgerbridge`` never imports ``ledgerbridge_sandbox``: the demo and the ``sandbox`` command
start ``python -m ledgerbridge_sandbox ... --json`` as a child process and read the one JSON line
it prints once it is ready to serve (its URLs and credentials).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from ledgerbridge.core.errors import LedgerBridgeError


class SandboxStartError(LedgerBridgeError):
    """A sandbox child process did not come up."""


@dataclass
class SandboxProcess:
    """A running sandbox child process and the JSON it reported when ready."""

    name: str
    process: subprocess.Popen[str]
    info: dict[str, object]
    _drain: list[threading.Thread] = field(default_factory=list)

    def stop(self, timeout_s: float = 10.0) -> int:
        """Ask the child to stop (SIGINT, then SIGKILL after ``timeout_s``); return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        return int(self.process.returncode or 0)


def _drain(stream: IO[str] | None, sink: IO[str] | None) -> threading.Thread:
    def run() -> None:
        if stream is None:
            return
        for line in stream:
            if sink is not None:
                sink.write(line)
                sink.flush()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def start_sandbox(command: str, args: Sequence[str] = (), *, name: str | None = None,
                  timeout_s: float = 60.0, log: IO[str] | None = None) -> SandboxProcess:
    """Start ``python -m ledgerbridge_sandbox COMMAND ARGS --json`` and wait for its JSON line.

    Args:
        command: ``salesforce``, ``netsuite`` or ``up``.
        args: further command-line options (``--port``, ``--seed``, ...).
        name: a label for messages.
        timeout_s: how long to wait for the ready line.
        log: where the child's further output goes (default: discarded).

    Returns:
        The running process and the JSON object it printed.

    Raises:
        SandboxStartError: the process exited or printed no JSON line in time.
    """
    label = name or command
    argv = [sys.executable, "-m", "ledgerbridge_sandbox", command, *args, "--json"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    result: dict[str, object] = {}
    errors: list[str] = []

    def read_first_line() -> None:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            errors.append(line.strip())
            return
        if isinstance(parsed, dict):
            result.update(parsed)

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not result:
        proc.kill()
        _, stderr = proc.communicate(timeout=5)
        tail = "\n".join((stderr or "").strip().splitlines()[-8:])
        got = f"; it printed {errors[0]!r}" if errors and errors[0] else ""
        raise SandboxStartError(
            f"the {label} sandbox did not report ready within {timeout_s:.0f}s{got}"
            + (f"\n{tail}" if tail else ""))
    drains = [_drain(proc.stdout, log), _drain(proc.stderr, log)]
    return SandboxProcess(label, proc, result, drains)

"""Run an ASGI app under uvicorn, on a real socket, in a background thread or in the foreground.

Shared by both emulators: ``ServerThread`` is the in-process helper tests and benchmarks use;
``run_foreground`` backs ``python -m ledgerbridge_sandbox ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from ledgerbridge_sandbox.tls import TLSFiles


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(app: Any, host: str, port: int, tls: TLSFiles | None) -> uvicorn.Config:
    kwargs: dict[str, Any] = {}
    if tls is not None:
        kwargs = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
        timeout_keep_alive=30, **kwargs,
    )


class ServerThread:
    """A uvicorn server on a real loopback socket, running in a daemon thread.

    Usage::

        with ServerThread(app) as srv:
            httpx2.get(f"{srv.url}/...")
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 tls: TLSFiles | None = None) -> None:
        self.host = host
        self.port = port or free_port()
        self.tls = tls
        self._server = uvicorn.Server(_config(app, host, self.port, tls))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server (``http://`` or ``https://``)."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        """Start serving and block until the socket accepts connections."""
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"sandbox server failed to start on port {self.port}")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_foreground(servers: list[tuple[Any, str, int, TLSFiles | None]],
                   ready: Callable[[list[int]], dict[str, Any] | None]) -> None:
    """Serve one or more apps in this process until interrupted.

    Args:
        servers: ``(app, host, port, tls)`` per server; port 0 picks a free port.
        ready: called once every server accepts connections, with the bound ports; when it
            returns a dict, that dict is printed as one JSON line on standard output.
    """
    ports = [port or free_port() for (_, _, port, _) in servers]
    uvs = [uvicorn.Server(_config(app, host, port, tls))
           for (app, host, _, tls), port in zip(servers, ports, strict=True)]
    for s in uvs:
        # One SIGINT/SIGTERM handler (below) stops every server; uvicorn's own per-server capture
        # would leave all but the last server running.
        s.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]

    async def main() -> None:
        tasks = [asyncio.create_task(s.serve()) for s in uvs]
        while not all(s.started for s in uvs):
            if any(t.done() for t in tasks):
                for t in tasks:
                    t.cancel()
                raise SystemExit("sandbox failed to start (is the port in use?)")
            await asyncio.sleep(0.01)
        line = ready(ports)
        if line is not None:
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
        await asyncio.gather(*tasks)

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    try:
        import signal

        def _stop(*_: object) -> None:
            for s in uvs:
                s.should_exit = True
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stop)
        loop.run_until_complete(main())
    finally:
        loop.close()

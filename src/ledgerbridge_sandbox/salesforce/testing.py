"""In-process helper for tests and benchmarks: ``SalesforceSandbox``.

Test-support layer; imports the app, the state, ``ledgerbridge_sandbox.serve`` and
``ledgerbridge_sandbox.tls``. It starts the sandbox on a free loopback port in a background
thread (uvicorn via ``serve.ServerThread``) and exposes ``info`` (the same dict as the
``--json`` start-up line), ``url``, ``token``, ``app`` and ``state``::

    with SalesforceSandbox(SalesforceSandboxConfig(seed="empty"), tls=True) as sf:
        session = requests.Session(); session.verify = sf.info["ca_file"]; session.trust_env = False
        ...
        sf.call(lambda state: state.org.store.count("Account"))   # runs on the server's loop

``state`` is not thread-safe: change it through ``call`` (or the admin API) while serving.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette

from ledgerbridge_sandbox.salesforce.app import create_app
from ledgerbridge_sandbox.salesforce.config import SalesforceSandboxConfig
from ledgerbridge_sandbox.salesforce.state import SandboxState
from ledgerbridge_sandbox.serve import ServerThread
from ledgerbridge_sandbox.tls import TLSFiles, ensure_tls_files

T = TypeVar("T")


class SalesforceSandbox:
    """The Salesforce sandbox served on a real loopback socket for the duration of a ``with``.

    Args:
        config: the org settings (default: in-memory demo org).
        tls: serve HTTPS with a local CA (needed by simple-salesforce); ``info["ca_file"]``.
        host: interface to bind.
        port: port (0 = any free port).
    """

    def __init__(
        self,
        config: SalesforceSandboxConfig | None = None,
        *,
        tls: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.state = SandboxState(config)
        self.app: Starlette = create_app(state=self.state)
        self.tls: TLSFiles | None = None
        if tls:
            self.tls = ensure_tls_files(Path(tempfile.mkdtemp(prefix="lb-sf-tls-")))
        self.server = ServerThread(self.app, host=host, port=port, tls=self.tls)
        self.info: dict[str, Any] = {}

    @property
    def url(self) -> str:
        """The instance URL (``http://`` or ``https://127.0.0.1:PORT``)."""
        return self.server.url

    @property
    def token(self) -> str:
        """A valid access token for the integration user."""
        return str(self.info["access_token"])

    @property
    def api_url(self) -> str:
        """``{url}/services/data/v{version}``."""
        return f"{self.url}/services/data/v{self.state.config.api_version}"

    def start(self) -> SalesforceSandbox:
        """Start serving; fills ``info``."""
        self.server.start()
        self.info = self.state.info(self.url, self.tls.ca_file if self.tls else None)
        return self

    def stop(self) -> None:
        """Stop serving: gracefully, then forcefully if clients keep idle connections open.

        A TLS connection a client leaves open can hold uvicorn's graceful shutdown for the SSL
        shutdown timeout; after a short grace period the server is told to exit at once.
        """
        uvicorn_server = getattr(self.server, "_server", None)
        thread = getattr(self.server, "_thread", None)
        if uvicorn_server is None or thread is None:
            self.server.stop()
            return
        uvicorn_server.should_exit = True
        thread.join(timeout=2)
        if thread.is_alive():
            uvicorn_server.force_exit = True
            thread.join(timeout=10)

    def call(self, fn: Callable[[SandboxState], T], timeout: float = 30.0) -> T:
        """Run ``fn(state)`` on the server's event loop thread and return its result."""
        loop = self.state.loop
        if loop is None:
            return fn(self.state)

        async def run() -> T:
            return fn(self.state)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def __enter__(self) -> SalesforceSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

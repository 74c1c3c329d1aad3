"""Serve the Pub/Sub API (gRPC) next to the Salesforce sandbox's HTTP app, in the same event loop.

Composition layer of the sandbox; imports the state and :mod:`ledgerbridge_sandbox.pubsub.server`.
:func:`attach_pubsub` wraps the app's lifespan: when uvicorn starts the app, the gRPC server starts
on the same loop, serving the org's change log, checking tokens against the org's sessions and
``tenantid`` against the org id; it stops when the app shuts down. Used by ``--pubsub-port`` of
``python -m ledgerbridge_sandbox salesforce`` and by tests that serve the sandbox in a thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette

from ledgerbridge_sandbox.pubsub.server import KEEPALIVE_S, start_pubsub_server
from ledgerbridge_sandbox.salesforce.state import SandboxState
from ledgerbridge_sandbox.tls import TLSFiles

__all__ = ["PubSubEndpoint", "attach_pubsub"]


@dataclass
class PubSubEndpoint:
    """Where the attached Pub/Sub API listens; ``port`` is set once the app has started."""

    host: str
    port: int | None = None


def attach_pubsub(
    app: Starlette,
    state: SandboxState,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: TLSFiles | None = None,
    keepalive_s: float = KEEPALIVE_S,
) -> PubSubEndpoint:
    """Start the Pub/Sub API whenever ``app`` starts (and stop it when the app stops).

    Args:
        app: the sandbox app (from ``create_app``).
        state: the state ``app`` serves.
        host: interface to bind.
        port: TCP port; 0 picks a free one.
        tls: serve TLS with these files (as Salesforce does on 7443).
        keepalive_s: longest silence on a subscription before an empty keepalive response.

    Returns:
        The endpoint; its ``port`` is filled in when the server is up.
    """
    endpoint = PubSubEndpoint(host)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Starlette) -> AsyncIterator[None]:
        async with inner(a):
            server, bound = await start_pubsub_server(
                state.org.changes,
                lambda token: state.sessions.user_of(token) is not None,
                state.org.schema,
                host=host,
                port=port,
                org_id=state.org_id,
                keepalive_s=keepalive_s,
                tls=tls,
            )
            endpoint.port = bound
            try:
                yield
            finally:
                await server.stop(0.5)

    app.router.lifespan_context = lifespan
    return endpoint

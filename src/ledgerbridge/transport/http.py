"""Building the one ``httpx2.AsyncClient`` each connection uses (layer ``transport``; imports core only).

A client is created once per configured connection and reused for every call, so TCP and TLS
connections are pooled (a new client per request costs a TLS handshake and an SSL context each
time; see reference/python-stack.md §4). Tests inject a transport (``httpx2.MockTransport`` or
``httpx2.ASGITransport``) instead of a socket.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

import httpx2

from ledgerbridge.core.errors import ConfigError


def _version() -> str:
    try:
        return metadata.version("ledgerbridge")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0"


USER_AGENT = f"ledgerbridge/{_version()}"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Connection-pool, timeout and TLS options for one connection.

    Attributes:
        timeout_s: Read and write timeout of one request.
        connect_timeout_s: Time allowed to open a TCP/TLS connection.
        pool_timeout_s: Time a request may wait for a free pooled connection.
        max_connections: Upper bound of open connections to the system.
        max_keepalive_connections: Idle connections kept for reuse.
        keepalive_expiry_s: How long an idle connection is kept.
        verify: Verify server certificates (turn off only for throw-away local tests).
        ca_file: Path of a PEM CA bundle to trust instead of the system store (corporate
            TLS-inspecting proxies, the sandboxes' local CA).
        trust_env: Honour ``HTTPS_PROXY``/``SSL_CERT_FILE``... from the environment.
        http2: Negotiate HTTP/2 where the server offers it.
        user_agent: ``User-Agent`` sent on every request.
    """

    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    pool_timeout_s: float = 30.0
    max_connections: int = 20
    max_keepalive_connections: int = 10
    keepalive_expiry_s: float = 30.0
    verify: bool = True
    ca_file: str | None = None
    trust_env: bool = True
    http2: bool = False
    user_agent: str = USER_AGENT


def _verify(settings: HttpSettings) -> ssl.SSLContext | bool:
    if not settings.verify:
        return False
    if settings.ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CA bundle {settings.ca_file!r}: {exc}; "
                          "point ca_file at a readable PEM file") from exc


def build_client(settings: HttpSettings | None = None, *, base_url: str = "",
                 headers: Mapping[str, str] | None = None,
                 transport: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    """Create the pooled async client for one connection.

    Args:
        settings: Pool, timeout and TLS options; defaults when omitted.
        base_url: Prefix for relative request URLs (may be empty when callers send absolute URLs).
        headers: Extra default headers for every request.
        transport: A transport to use instead of the network (``MockTransport``,
            ``ASGITransport``); pool and TLS settings are then ignored.

    Returns:
        An ``httpx2.AsyncClient`` the caller owns and must ``aclose()``.

    Raises:
        ConfigError: The CA bundle cannot be loaded.
    """
    s = settings or HttpSettings()
    default_headers = {"User-Agent": s.user_agent, "Accept-Encoding": "gzip, deflate"}
    default_headers.update(headers or {})
    timeout = httpx2.Timeout(s.timeout_s, connect=s.connect_timeout_s, pool=s.pool_timeout_s)
    limits = httpx2.Limits(max_connections=s.max_connections,
                           max_keepalive_connections=s.max_keepalive_connections,
                           keepalive_expiry=s.keepalive_expiry_s)
    if transport is None:
        transport = httpx2.AsyncHTTPTransport(verify=_verify(s), http2=s.http2, limits=limits,
                                              trust_env=s.trust_env)
    return httpx2.AsyncClient(base_url=base_url, headers=default_headers, timeout=timeout,
                              limits=limits, transport=transport, trust_env=s.trust_env,
                              follow_redirects=False)

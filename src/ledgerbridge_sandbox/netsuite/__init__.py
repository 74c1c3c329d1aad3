"""NetSuite SuiteTalk REST sandbox: records, SuiteQL, async jobs, TBA/OAuth 2.0 and concurrency governance.

Written from Oracle's public documentation and shared/reference/netsuite-api.md; imports nothing from
``ledgerbridge``. Entry points:

- ``create_app(config)`` (``app``): the Starlette app, usable with ``httpx2.ASGITransport``;
- ``NetSuiteSandboxConfig`` and the ``DEFAULT_*`` credentials (``config``);
- ``NetSuiteSandbox`` and ``TBAAuth`` (``testing``): a sandbox on a loopback socket for tests;
- ``build_server`` / ``main`` (``cli``): ``python -m ledgerbridge_sandbox netsuite``.
"""

from ledgerbridge_sandbox.netsuite.app import create_app
from ledgerbridge_sandbox.netsuite.clock import ManualClock, SystemClock
from ledgerbridge_sandbox.netsuite.config import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_OAUTH2_CERTIFICATE_ID,
    DEFAULT_OAUTH2_CLIENT_ID,
    DEFAULT_TOKEN_ID,
    DEFAULT_TOKEN_SECRET,
    NetSuiteSandboxConfig,
)

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_CONSUMER_KEY",
    "DEFAULT_CONSUMER_SECRET",
    "DEFAULT_OAUTH2_CERTIFICATE_ID",
    "DEFAULT_OAUTH2_CLIENT_ID",
    "DEFAULT_TOKEN_ID",
    "DEFAULT_TOKEN_SECRET",
    "ManualClock",
    "NetSuiteSandboxConfig",
    "SystemClock",
    "create_app",
]

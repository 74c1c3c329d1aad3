"""Salesforce REST API sandbox: a local emulator of a Salesforce org.

Public surface:

- ``create_app(config)`` (``app.py``): the Starlette ASGI app, usable in-process with
  ``httpx2.ASGITransport`` or served by uvicorn.
- ``SalesforceSandboxConfig``, ``Faults``, ``ValidationRule`` (``config.py``) and the documented
  default credentials ``DEFAULT_CLIENT_ID``, ``DEFAULT_CLIENT_SECRET``, ``DEFAULT_USERNAME``,
  ``DEFAULT_PASSWORD``, ``DEFAULT_SECURITY_TOKEN``, ``DEFAULT_API_VERSION``, ``DEFAULT_PORT``.
- ``SalesforceSandbox`` (``testing.py``): start it on a free loopback port for tests and benchmarks.
- ``build_server`` (``cli.py``): ``(app, host, port, tls, info_fn)`` for running it next to other servers.
- ``ChangeLog`` (``changes.py``): the change-event feed a push server can read.

Nothing here imports ``ledgerbridge``.
"""

from ledgerbridge_sandbox.salesforce.app import create_app
from ledgerbridge_sandbox.salesforce.changes import ChangeEvent, ChangeLog
from ledgerbridge_sandbox.salesforce.clock import Clock, ManualClock
from ledgerbridge_sandbox.salesforce.config import (
    DEFAULT_API_VERSION,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_PORT,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
    Faults,
    SalesforceSandboxConfig,
    ValidationRule,
)
from ledgerbridge_sandbox.salesforce.state import SandboxState

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_PORT",
    "DEFAULT_SECURITY_TOKEN",
    "DEFAULT_USERNAME",
    "ChangeEvent",
    "ChangeLog",
    "Clock",
    "Faults",
    "ManualClock",
    "SalesforceSandboxConfig",
    "SandboxState",
    "ValidationRule",
    "create_app",
]

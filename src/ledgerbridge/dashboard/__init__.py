"""Layer ``dashboard``: the operations dashboard, a Starlette app over a :class:`DashboardBackend`.

A front end: imports ``ledgerbridge.app`` and ``ledgerbridge.core`` only. Everything it shows or
does goes through the backend object defined in :mod:`ledgerbridge.dashboard.backend`.

Usage::

    from ledgerbridge.dashboard import DashboardSettings, create_dashboard, serve_dashboard

    app = create_dashboard(backend, DashboardSettings(password=...))
    await serve_dashboard(app, "127.0.0.1", 8765)

The names below are loaded on first use, so importing :mod:`ledgerbridge.dashboard.backend`
(plain dataclasses and protocols over ``core``) does not pull in Starlette or uvicorn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledgerbridge.dashboard.app import create_dashboard, dashboard_server, serve_dashboard
    from ledgerbridge.dashboard.backend import DashboardBackend, RunControl
    from ledgerbridge.dashboard.settings import DashboardSettings, require_auth_for_host

__all__ = [
    "DashboardBackend",
    "DashboardSettings",
    "RunControl",
    "create_dashboard",
    "dashboard_server",
    "require_auth_for_host",
    "serve_dashboard",
]

_HOME = {
    "create_dashboard": "app", "dashboard_server": "app", "serve_dashboard": "app",
    "DashboardBackend": "backend", "RunControl": "backend",
    "DashboardSettings": "settings", "require_auth_for_host": "settings",
}


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)

"""The dashboard's public names, and that the backend protocol stays light to import."""

from __future__ import annotations

import subprocess
import sys

import ledgerbridge.dashboard as dashboard
from dashboard.fakes import FakeBackend
from ledgerbridge.dashboard.backend import DashboardBackend, RunControl


def test_public_names_resolve() -> None:
    for name in dashboard.__all__:
        assert getattr(dashboard, name) is not None
    assert dashboard.create_dashboard.__module__ == "ledgerbridge.dashboard.app"


def test_the_fake_implements_the_protocols() -> None:
    backend: DashboardBackend = FakeBackend()
    assert isinstance(backend, DashboardBackend) and isinstance(backend, RunControl)


def test_importing_the_protocol_does_not_load_the_web_stack() -> None:
    code = ("import sys, ledgerbridge.dashboard.backend; "
            "print(any(m.split('.')[0] in {'starlette', 'uvicorn'} for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

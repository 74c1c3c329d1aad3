"""The console script exits 130 without a traceback when Ctrl-C arrives while it is loading."""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from types import ModuleType

import pytest

from ledgerbridge.cli import entry


class _InterruptedImport(MetaPathFinder):
    def find_spec(self, fullname: str, path: object, target: ModuleType | None = None) -> None:
        if fullname == "ledgerbridge.cli.main":
            raise KeyboardInterrupt


def test_an_interrupt_while_loading_exits_130_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "ledgerbridge.cli.main", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_InterruptedImport(), *sys.meta_path])
    with pytest.raises(SystemExit) as exc:
        entry.main()
    assert exc.value.code == 130


def test_once_loaded_it_runs_the_command_line(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["ledgerbridge", "--version"])
    with pytest.raises(SystemExit) as exc:
        entry.main()
    assert exc.value.code in (0, None)
    assert "ledgerbridge" in capsys.readouterr().out

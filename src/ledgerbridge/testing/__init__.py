"""Test kit shipped with the package: in-memory systems and clocks for engine tests.

Imports ``ledgerbridge.core`` only, so any test suite (engine, app, CLI) can use it.
"""

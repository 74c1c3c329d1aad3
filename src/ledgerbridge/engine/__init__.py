"""Layer ``engine``: the sync semantics, written against the ports in ``ledgerbridge.core`` only.

Imports ``ledgerbridge.core`` and ``ledgerbridge.flows``; never connectors, transport, state or app.
"""

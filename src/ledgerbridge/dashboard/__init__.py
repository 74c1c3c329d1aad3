"""Layer ``dashboard``: the operations dashboard, a Starlette app over a :class:`DashboardBackend`.

A front end: imports ``ledgerbridge.app`` and ``ledgerbridge.core`` only. Everything it shows or
does goes through the backend object defined in :mod:`ledgerbridge.dashboard.backend`.
"""

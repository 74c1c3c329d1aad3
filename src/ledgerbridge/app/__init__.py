"""Layer ``app``: the one composition root and the use cases every front end shares.

Builds connectors and the state store from the configuration, hands them to the engine, and
offers the operations (validate, run, sync, plan, reconcile, status, ...). Front ends (``cli``,
``dashboard``, ``mcp``, ``workers``) import this package and ``core`` only.
"""

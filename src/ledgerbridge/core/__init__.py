"""Layer ``core``: pure domain values, the error tree and the ports the engine needs.

No I/O, and nothing else of ``ledgerbridge`` is imported here; every other layer imports this one.
"""

"""Layer ``flows``: ledgerbridge.yaml parsed into typed specs, and mapping expressions.

Imports only ``ledgerbridge.core``; no I/O beyond reading the configuration files.
"""

"""The NetSuite connector (layer ``connectors``; imports ``transport`` and ``core`` only).

SuiteTalk REST web services: record service, SuiteQL, batch/async jobs, TBA and OAuth 2.0 M2M.
Modules: ``settings`` (NetSuiteSettings), ``auth`` (httpx2 auth flows), ``errors`` (code table),
``wire`` (pure request builders and parsers), ``client`` (sending, retries, governor),
``async_jobs`` (batch writes and job polling), ``connector`` (NetSuiteConnector, the port).
"""

from __future__ import annotations

from ledgerbridge.connectors.netsuite.connector import NetSuiteConnector
from ledgerbridge.connectors.netsuite.settings import NetSuiteSettings

__all__ = ["NetSuiteConnector", "NetSuiteSettings"]

"""The Salesforce connector (layer ``connectors``; imports ``transport`` and ``core`` only).

Modules: ``settings`` (SalesforceSettings), ``auth`` (OAuth token flows), ``wire`` (pure
builders/parsers), ``errors`` (errorCode table), ``client`` (sending), ``bulk`` (Bulk API 2.0),
``connector`` (SalesforceConnector, the SystemPort implementation).
"""

from __future__ import annotations

from ledgerbridge.connectors.salesforce.connector import SalesforceConnector
from ledgerbridge.connectors.salesforce.settings import SalesforceSettings

__all__ = ["SalesforceConnector", "SalesforceSettings"]

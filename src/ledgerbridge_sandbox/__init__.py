"""Local emulators of the Salesforce REST API and NetSuite SuiteTalk REST.

A separate import root: nothing here imports ``ledgerbridge`` and ``ledgerbridge`` imports
nothing from here. The emulators are written from the vendors' documentation so that a
misreading in our connectors cannot be mirrored by the emulator.
"""

__all__: list[str] = []

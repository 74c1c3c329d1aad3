"""Layer ``state``: the SQL adapter of the :class:`~ledgerbridge.core.store.StateStore` port.

SQLAlchemy 2 (asyncio) with Alembic migrations shipped in the package; SQLite by default (a file
under ``./.ledgerbridge/``, WAL mode) and PostgreSQL at scale. Imports ``ledgerbridge.core`` only.

```python
store = await open_state_store("postgresql://lb@db/ledgerbridge")   # migrates to head
try:
    async with store.transaction():
        await store.put_xref(xref)
finally:
    await store.aclose()
```
"""

from __future__ import annotations

from ledgerbridge.state.db import DEFAULT_STATE_URL, parse_state_url
from ledgerbridge.state.store import SqlStateStore, open_state_store

__all__ = ["DEFAULT_STATE_URL", "SqlStateStore", "open_state_store", "parse_state_url"]

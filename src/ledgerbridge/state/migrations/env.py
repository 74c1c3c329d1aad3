"""Alembic environment of the state store (layer ``state``).

Run only through :mod:`ledgerbridge.state.migrate`, which builds the Alembic ``Config`` in code
and hands over an open connection in ``config.attributes["connection"]`` (the connection-sharing
recipe for asyncio: the caller runs Alembic inside ``AsyncConnection.run_sync``). SQLite cannot
ALTER most things, so autogenerate renders batch operations there (``render_as_batch``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from ledgerbridge.state.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported")
    connection = config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through ledgerbridge.state.migrate, which passes a connection")
    _run(connection)


_main()

"""Alembic environment: runs on the connection ``softswitch.storage.migrate`` hands over.

There is no ``alembic.ini`` and no URL here: ``migrate`` opens the (async) engine with the same
settings the switch uses (SQLite PRAGMAs included) and passes a synchronous connection in
``config.attributes["connection"]``, so migrations and the running switch see the same database
the same way.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from softswitch.storage.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through softswitch.storage.migrate, not the alembic CLI")
    _run(connection)


_main()

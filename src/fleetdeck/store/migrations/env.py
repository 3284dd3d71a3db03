"""Alembic environment: one set of migrations for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, event, pool

from fleetdeck.store.engine import sqlite_pragmas
from fleetdeck.store.tables import metadata

url = context.config.attributes["url"]
engine = create_engine(url, poolclass=pool.NullPool)
if engine.dialect.name == "sqlite":
    event.listen(engine, "connect", sqlite_pragmas)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()

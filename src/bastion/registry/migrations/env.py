"""Alembic environment: runs on the connection ``database.migrate`` hands over, inside its transaction."""

from __future__ import annotations

from alembic import context

from bastion.registry.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()

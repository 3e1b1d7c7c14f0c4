"""Alembic's environment for the store's migrations. The store runs them itself
(`store/schema.py`) on a connection it has opened and locked, handed over in the config's
attributes, so every migration runs in the store's own transaction, under its lock."""

from __future__ import annotations

from alembic import context

from routing_engine.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters a table by copying it; Alembic's batch mode does that
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()

"""Alembic's environment for the mirror's migrations.

:mod:`mirror.adapters.db.schema` runs it (``mirror db upgrade``, or start-up) on a connection it passes in
``config.attributes["connection"]``, already inside the transaction it commits (Alembic then leaves the
transaction alone), and holding the lock that keeps other processes out meanwhile.
"""

from __future__ import annotations

from alembic import context

from mirror.adapters.db.tables import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the mirror's migrations run through `mirror db upgrade`, not the alembic command")
# render_as_batch: on SQLite a column change recreates the table (copying its rows), on PostgreSQL it is an
# ALTER TABLE; the revisions use op.batch_alter_table for both.
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

"""Upstream's headers stored whole; the abandoned metadata table dropped; demand pruning indexed.

- ``pages.content_type`` and ``pages.etag`` become TEXT: they are upstream's Content-Type and ETag headers,
  which may be longer than the old VARCHAR(255)/VARCHAR(512) (PostgreSQL refused such a page, so it was
  never cached; SQLite never enforced the length).
- ``extracted_metadata`` (metadata keyed by a hash upstream advertised, never read since
  ``verified_wheel_metadata`` replaced it) is dropped where an old database still has it.
- ``ix_demand_count_last_at``: pruning the demand queue to ``max_rows`` reads it in that order.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("extracted_metadata"):
        op.drop_table("extracted_metadata")
    # SQLite cannot change a column's type: the batch copies the table (its rows kept) into the new shape.
    with op.batch_alter_table("pages") as batch:
        batch.alter_column("content_type", type_=sa.Text(), existing_type=sa.String(255), existing_nullable=False)
        batch.alter_column("etag", type_=sa.Text(), existing_type=sa.String(512), existing_nullable=True)
    op.create_index("ix_demand_count_last_at", "demand", ["count", "last_at"])


def downgrade() -> None:
    raise NotImplementedError("the mirror's migrations go forward only: restore the backup taken before upgrading")

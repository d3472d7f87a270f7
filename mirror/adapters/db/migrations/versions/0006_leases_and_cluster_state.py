"""Nodes that act as one: leases on cold fetches, and the small shared values every node reads.

- ``leases``: one row per key a process or node is fetching (``page:<name>``, ``file:<sha256>``...), held by
  ``owner`` until ``expires_at`` unless renewed, then released with the ``outcome`` the nodes that waited read.
- ``cluster_state``: e.g. ``policy``, the signal a reviewer command leaves after changing a policy file.

Only new tables: a node of the previous release keeps working on this schema (it just does not coordinate).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "cluster_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the mirror's migrations go forward only: restore the backup taken before upgrading")

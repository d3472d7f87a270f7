"""Evidence for the tier rules: advisories, the JSON API documents they come from, licences read from metadata.

- ``advisories``: OSV records imported offline (one per id, the latest ``modified``) and upstream's JSON API
  entries (one per id and release); ``advisory_projects``: the projects each names; ``advisory_changes``: the
  projects whose advisories changed, in order, for running servers to decide again.
- ``json_api_documents``: upstream's JSON API documents as sent (the same columns as ``pages``).
- ``metadata_licenses``: the licence each core metadata file (by sha256) declares.

Only new tables: a node still on the previous revision's code keeps working.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "advisories",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("aliases", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("modified", sa.Float, nullable=True),
        sa.Column("published", sa.Float, nullable=True),
        sa.Column("withdrawn", sa.Float, nullable=True),
        sa.Column("affected", sa.Text, nullable=False),
        sa.Column("refs", sa.Text, nullable=False),
        sa.Column("malware", sa.Boolean, nullable=False),
        sa.Column("stored_at", sa.Float, nullable=False),
    )
    op.create_index("ix_advisories_id", "advisories", ["id"])
    op.create_table(
        "advisory_projects",
        sa.Column("project", sa.String(255), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
    )
    op.create_index("ix_advisory_projects_key", "advisory_projects", ["key"])
    op.create_table(
        "advisory_changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_advisory_changes_at", "advisory_changes", ["at"])
    op.create_table(
        "json_api_documents",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("page_url", sa.Text, nullable=False),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("serial", sa.Integer, nullable=True),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("fetched_at", sa.Float, nullable=False),
    )
    op.create_table(
        "metadata_licenses",
        sa.Column("metadata_sha256", sa.String(64), primary_key=True),
        sa.Column("expression", sa.Text, nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("read_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the mirror's migrations go forward only: restore the backup taken before upgrading")

"""The schema as the mirror created it before it had migrations (``metadata.create_all`` at start-up).

A database from those versions (its tables, no version table) is adopted: the tables it has are kept with
their rows, the ones it lacks are created. On an empty database this creates every table.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "pages" not in existing:
        op.create_table(
            "pages",
            sa.Column("key", sa.String(255), primary_key=True),
            sa.Column("body", sa.LargeBinary, nullable=False),
            sa.Column("content_type", sa.String(255), nullable=False),
            sa.Column("page_url", sa.Text, nullable=False),
            sa.Column("etag", sa.String(512), nullable=True),
            sa.Column("serial", sa.Integer, nullable=True),
            sa.Column("revision", sa.String(64), nullable=False),
            sa.Column("fetched_at", sa.Float, nullable=False),
        )
    if "verified_wheel_metadata" not in existing:
        op.create_table(
            "verified_wheel_metadata",
            sa.Column("file_sha256", sa.String(64), primary_key=True),
            sa.Column("metadata_sha256", sa.String(64), nullable=False),
            sa.Column("extracted_at", sa.Float, nullable=False),
        )
    if "audit" not in existing:
        op.create_table(
            "audit",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", sa.Float, nullable=False),
            sa.Column("actor", sa.String(255), nullable=False),
            sa.Column("action", sa.String(32), nullable=False),
            sa.Column("target", sa.String(512), nullable=False),
            sa.Column("before", sa.Text, nullable=True),
            sa.Column("after", sa.Text, nullable=True),
            sa.Column("note", sa.Text, nullable=False),
        )
        op.create_index("ix_audit_target", "audit", ["target"])
    if "demand" not in existing:
        op.create_table(
            "demand",
            sa.Column("tier", sa.String(32), primary_key=True),
            sa.Column("project", sa.String(255), primary_key=True),
            sa.Column("version", sa.String(255), primary_key=True),
            sa.Column("count", sa.Integer, nullable=False),
            sa.Column("first_at", sa.Float, nullable=False),
            sa.Column("last_at", sa.Float, nullable=False),
        )


def downgrade() -> None:
    raise NotImplementedError("the mirror's migrations go forward only: restore the backup taken before upgrading")

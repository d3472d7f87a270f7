"""Provenance documents in a table of their own; first sightings of files.

- ``provenance_documents``: PEP 740 documents as upstream sent them, keyed by the sha256 of their URL (the same
  columns as ``pages``, Content-Type and ETag as TEXT). The documents a mirror before this revision kept in
  ``pages`` under ``provenance:<sha256 of the URL>`` move there (their age is kept: a last good copy still
  counts as proof for ``provenance_max_stale``).
- ``file_sightings``: when the mirror first saw each file of a project, and with which sha256.

A database whose tables were made by ``create_all`` after these tables existed, before migrations, already has
them: they are kept with their rows (the two header columns widened to TEXT).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

_LEGACY_PREFIX = "provenance:"


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "provenance_documents" in existing:
        with op.batch_alter_table("provenance_documents") as batch:
            batch.alter_column("content_type", type_=sa.Text(), existing_type=sa.String(255),
                               existing_nullable=False)
            batch.alter_column("etag", type_=sa.Text(), existing_type=sa.String(512), existing_nullable=True)
    else:
        op.create_table(
            "provenance_documents",
            sa.Column("key", sa.String(255), primary_key=True),
            sa.Column("body", sa.LargeBinary, nullable=False),
            sa.Column("content_type", sa.Text, nullable=False),
            sa.Column("page_url", sa.Text, nullable=False),
            sa.Column("etag", sa.Text, nullable=True),
            sa.Column("serial", sa.Integer, nullable=True),
            sa.Column("revision", sa.String(64), nullable=False),
            sa.Column("fetched_at", sa.Float, nullable=False),
        )
    if "file_sightings" not in existing:
        op.create_table(
            "file_sightings",
            sa.Column("project", sa.String(255), primary_key=True),
            sa.Column("filename", sa.String(512), primary_key=True),
            sa.Column("sha256", sa.String(64), nullable=True),
            sa.Column("first_seen", sa.Float, nullable=False),
            sa.Column("initial", sa.Boolean, nullable=False),
        )
    columns = "body, content_type, page_url, etag, serial, revision, fetched_at"
    start = len(_LEGACY_PREFIX) + 1  # SQL's substr counts from 1
    op.execute(sa.text(
        f"INSERT INTO provenance_documents (key, {columns}) "
        f"SELECT substr(p.key, {start}), {columns} FROM pages p WHERE p.key LIKE 'provenance:%' "
        f"AND NOT EXISTS (SELECT 1 FROM provenance_documents d WHERE d.key = substr(p.key, {start}))"))
    op.execute(sa.text("DELETE FROM pages WHERE key LIKE 'provenance:%'"))


def downgrade() -> None:
    raise NotImplementedError("the mirror's migrations go forward only: restore the backup taken before upgrading")

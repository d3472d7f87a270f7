"""Table definitions (SQLAlchemy Core): the schema as the newest migration leaves it.

The tables are created and changed only by the migrations in ``migrations/versions/`` (see
:mod:`mirror.adapters.db.schema`); a change here needs a new revision there, and the tests check that the two
agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: The table where Alembic records the schema's revision (a name of the mirror's own, so that another
#: application's ``alembic_version`` in a shared database is never mistaken for it).
VERSION_TABLE = "mirror_schema_version"

#: Upstream index pages exactly as upstream sent them, so a restart (or a newer parser) can use them.
#: ``key`` is the normalized project name, or ``INDEX_KEY`` for the project list.
pages = Table(
    "pages",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("body", LargeBinary, nullable=False),
    # Upstream's Content-Type and ETag headers, as long as upstream made them.
    Column("content_type", Text, nullable=False),
    Column("page_url", Text, nullable=False),
    Column("etag", Text, nullable=True),
    Column("serial", Integer, nullable=True),
    Column("revision", String(64), nullable=False),
    Column("fetched_at", Float, nullable=False),
)

#: PEP 740 provenance documents exactly as upstream sent them, keyed by the sha256 of their URL (the URL is
#: kept in ``page_url``); the same columns as ``pages``, so one record store serves both.
provenance_documents = Table(
    "provenance_documents",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("body", LargeBinary, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("page_url", Text, nullable=False),
    Column("etag", Text, nullable=True),
    Column("serial", Integer, nullable=True),
    Column("revision", String(64), nullable=False),
    Column("fetched_at", Float, nullable=False),
)

#: When the mirror first saw each file of a project, and with which sha256 (``initial``: listed when the mirror
#: first fetched the project). A release file never changes: another sha256 under a known name is refused, and
#: the cooldown of a file that appeared later counts from when the mirror saw it.
file_sightings = Table(
    "file_sightings",
    metadata,
    Column("project", String(255), primary_key=True),
    Column("filename", String(512), primary_key=True),
    Column("sha256", String(64), nullable=True),
    Column("first_seen", Float, nullable=False),
    Column("initial", Boolean, nullable=False, default=False),
)

#: PEP 658 metadata the mirror extracted itself from a wheel whose bytes passed every hash check, keyed
#: by the sha256 it computed from those bytes. (The earlier table, ``extracted_metadata``, could hold rows
#: keyed by an advertised hash of other bytes; revision 0002 drops it.)
extracted_metadata = Table(
    "verified_wheel_metadata",
    metadata,
    Column("file_sha256", String(64), primary_key=True),
    Column("metadata_sha256", String(64), nullable=False),
    Column("extracted_at", Float, nullable=False),
)

#: Who changed which policy, when and why: one row per reviewer command, never updated or deleted.
#: ``target`` is a normalized project name or ``project==version``; ``before``/``after`` hold the
#: affected policy text (or a summary of it), NULL when there was none.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(512), nullable=False, index=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("note", Text, nullable=False, default=""),
)

#: What clients asked a tier for and did not get, aggregated: ``version`` is "" for a whole project.
demand = Table(
    "demand",
    metadata,
    Column("tier", String(32), primary_key=True),
    Column("project", String(255), primary_key=True),
    Column("version", String(255), primary_key=True, default=""),
    Column("count", Integer, nullable=False),
    Column("first_at", Float, nullable=False),
    Column("last_at", Float, nullable=False),
    # Pruning to [demand] max_rows deletes the least requested, longest unrequested rows first.
    Index("ix_demand_count_last_at", "count", "last_at"),
)

#: Advisories about projects: OSV records imported offline (``key`` "osv:<id>", one per id: the latest ``modified``
#: wins) and the entries of upstream's JSON API (``key`` "json-api:<id>:<project>==<version>": an entry says only
#: that the release its document describes is affected, so each release is kept apart). ``aliases``, ``affected``
#: (entries with their ranges as stated, explicit versions, fixed versions) and ``refs`` are JSON; times are epoch
#: seconds. ``malware``: the id or an alias starts ``MAL-``.
advisories = Table(
    "advisories",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("id", String(128), nullable=False, index=True),
    Column("aliases", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("modified", Float, nullable=True),
    Column("published", Float, nullable=True),
    Column("withdrawn", Float, nullable=True),
    Column("affected", Text, nullable=False),
    Column("refs", Text, nullable=False),
    Column("malware", Boolean, nullable=False, default=False),
    Column("stored_at", Float, nullable=False),
)

#: Which projects each advisory names (normalized), to find a project's advisories.
advisory_projects = Table(
    "advisory_projects",
    metadata,
    Column("project", String(255), primary_key=True),
    Column("key", String(512), primary_key=True, index=True),
)

#: Projects whose advisories changed, in order: running servers read what is new since they last looked and
#: decide those projects again (rows older than a day are pruned).
advisory_changes = Table(
    "advisory_changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("project", String(255), nullable=False),
    Column("at", Float, nullable=False, index=True),
)

#: Upstream's JSON API documents exactly as upstream sent them: ``/pypi/<project>/json`` keyed by the normalized
#: project name (read for advisories and for the tiers' JSON API), ``/pypi/<project>/<version>/json`` keyed by
#: ``<project>/<version>``; the same columns as ``pages``, so the one revalidating cache serves them.
json_api_documents = Table(
    "json_api_documents",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("body", LargeBinary, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("page_url", Text, nullable=False),
    Column("etag", Text, nullable=True),
    Column("serial", Integer, nullable=True),
    Column("revision", String(64), nullable=False),
    Column("fetched_at", Float, nullable=False),
)

#: The licence each core metadata file (by its sha256) declares, as read by the mirror: ``expression`` is the
#: canonical SPDX expression (NULL: unknown), ``source`` the field it came from, ``detail`` the declaration.
metadata_licenses = Table(
    "metadata_licenses",
    metadata,
    Column("metadata_sha256", String(64), primary_key=True),
    Column("expression", Text, nullable=True),
    Column("source", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("read_at", Float, nullable=False),
)

#: API tokens of reviewers and admins. Only the sha256 of each token's secret is stored; ``key_id`` is the
#: token's public part (it names the row, so a secret is compared with one hash, in constant time). ``name``
#: is the actor the audit log records; ``revoked_at``/``expires_at`` NULL mean not revoked / no expiry.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("name", String(64), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
)

#: Browser sessions opened by logging in with a token: the cookie holds ``key_id`` and a secret whose sha256
#: is stored; a session lasts until ``expires_at`` and only while its token is valid. ``csrf`` is the token
#: every form of the session carries.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("token_key_id", String(32), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

#: Who is fetching what, across every process and node sharing the database: one row per key (``page:<name>``,
#: ``file:<sha256>``, ``policy-edit``...). ``owner`` holds it until ``expires_at`` (the database's clock, epoch
#: seconds) unless it renews; NULL once released, when ``outcome`` ("ok", "gone", "failed", "timeout" or NULL:
#: given up) and ``detail`` tell the nodes that waited how it ended. ``changed_at``: when it was last taken or
#: released. Released and long-expired rows are deleted after a minute.
leases = Table(
    "leases",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("owner", String(255), nullable=True),
    Column("expires_at", Float, nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("detail", Text, nullable=True),
    Column("changed_at", Float, nullable=False),
)

#: Small values every node reads: ``policy`` is the JSON signal a reviewer command leaves after changing a policy
#: file (the new version, who, when), which makes every node re-read its policy directory at once.
cluster_state = Table(
    "cluster_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
